// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/metrics.h"

#include <fmt/format.h>

#include "exigrey/error.h"

namespace exigrey::daemon {

Metrics::Family& Metrics::family(const std::string& name, const std::string& help,
                                 const char* type) {
  for (Family& f : families_) {
    if (f.name == name) {
      if (f.type != type) throw std::logic_error("metric " + name + " registered twice");
      return f;
    }
  }
  families_.push_back(Family{name, help, type, {}});
  return families_.back();
}

std::atomic<std::uint64_t>& Metrics::counter(const std::string& name, const std::string& help,
                                             const std::string& labels) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, "counter");
  for (Series& s : f.series) {
    if (s.labels == labels) return *s.counter;
  }
  auto& c = counters_.emplace_back(0);
  f.series.push_back(Series{labels, &c, nullptr});
  return c;
}

std::atomic<std::int64_t>& Metrics::gauge(const std::string& name, const std::string& help,
                                          const std::string& labels) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, "gauge");
  for (Series& s : f.series) {
    if (s.labels == labels) return *s.gauge;
  }
  auto& g = gauges_.emplace_back(0);
  f.series.push_back(Series{labels, nullptr, &g});
  return g;
}

std::string Metrics::exposition() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const Family& f : families_) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name,
                   f.type);
    for (const Series& s : f.series) {
      const std::string labels = s.labels.empty() ? "" : "{" + s.labels + "}";
      if (s.counter != nullptr) {
        fmt::format_to(std::back_inserter(out), "{}{} {}\n", f.name, labels, s.counter->load());
      } else {
        fmt::format_to(std::back_inserter(out), "{}{} {}\n", f.name, labels, s.gauge->load());
      }
    }
  }
  return out;
}

}  // namespace exigrey::daemon

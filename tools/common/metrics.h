// SPDX-License-Identifier: GPL-2.0-or-later
// common/metrics.h: counters and gauges in the Prometheus text format.
//
// Register a series once at start (name, help, optional label set such as
// `reason="bad-mac"`), keep the returned reference, and update it lock-free
// from any thread. exposition() renders every series, families in
// registration order. Names must follow Prometheus rules; they are ours, not
// a client's, so they are not escaped.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace exigrey::daemon {

class Metrics {
 public:
  std::atomic<std::uint64_t>& counter(const std::string& name, const std::string& help,
                                      const std::string& labels = "");
  std::atomic<std::int64_t>& gauge(const std::string& name, const std::string& help,
                                   const std::string& labels = "");
  std::string exposition() const;

 private:
  struct Series {
    std::string labels;
    std::atomic<std::uint64_t>* counter = nullptr;
    std::atomic<std::int64_t>* gauge = nullptr;
  };
  struct Family {
    std::string name, help, type;
    std::vector<Series> series;
  };
  Family& family(const std::string& name, const std::string& help, const char* type);

  mutable std::mutex mu_;
  std::deque<Family> families_;
  std::deque<std::atomic<std::uint64_t>> counters_;  // deques keep addresses stable
  std::deque<std::atomic<std::int64_t>> gauges_;
};

}  // namespace exigrey::daemon

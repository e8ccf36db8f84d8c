// SPDX-License-Identifier: GPL-2.0-or-later
// web_fixture: a WebListener on 127.0.0.1 over an in-memory fake of the
// collector, for test_web.py (a real browser and hostile clients).
//
// Usage: web_fixture PORT MAX_REQUESTS [TIMEOUT_SECONDS]
//   PORT 0 picks a free port. Prints "ready PORT" on stdout once listening.
//   Fake listings: 198.51.100.7 (reports: virus, trap; 3 reporters),
//   bad.example.net (an operator's ban), every 203.0.113.0/24 address
//   (spam, 2 reporters); any other valid subject (192.0.2.1, say) is not
//   listed. Removal requests are kept in memory, at most MAX_REQUESTS.
//   Each recorded one is written to stderr as a "recorded ..." line.
//   SIGUSR1 writes the metrics exposition to stderr, then "# end of metrics";
//   SIGTERM or SIGINT writes it too, and exits 0.
#include <fmt/format.h>

#include <asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "../../tools/exigrey-collect/web_listener.h"
#include "common/log.h"
#include "exigrey/error.h"
#include "exigrey/report.h"

using namespace exigrey;
using namespace exigrey::collect;

namespace {

constexpr std::int64_t kSince = 1735787045;  // 2025-01-02T03:04:05Z

std::optional<std::string> normalise(std::string_view text, std::string* error) {
  try {
    return parse_subject(text).text;
  } catch (const UsageError& e) {
    if (error != nullptr) *error = e.what();
    return std::nullopt;
  }
}

std::optional<PublicView> listing(const std::string& subject) {
  PublicView v;
  v.subject = subject;
  v.listed = true;
  v.listed_since = kSince;
  if (subject == "198.51.100.7") {
    v.categories = {"virus", "trap"};
    v.reporters = 3;
    v.last_report = kSince + 3600;
  } else if (subject == "bad.example.net") {
    v.manual = true;
    v.categories = {"spam"};
    v.listed_until = kSince + 86400 * 30;
  } else if (subject.starts_with("203.0.113.")) {
    v.categories = {"spam"};
    v.reporters = 2;
    v.last_report = kSince + 60;
  } else {
    return std::nullopt;
  }
  return v;
}

void print_metrics(const daemon::Metrics& metrics) {
  std::fputs(metrics.exposition().c_str(), stderr);
  std::fputs("# end of metrics\n", stderr);
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: web_fixture PORT MAX_REQUESTS [TIMEOUT_SECONDS]\n");
    return 2;
  }
  daemon::log_init("web_fixture", daemon::LogTarget::kStderr, daemon::LogLevel::kInfo);
  const auto port = static_cast<std::uint16_t>(std::strtoul(argv[1], nullptr, 10));
  const std::size_t max_requests = std::strtoul(argv[2], nullptr, 10);
  WebLimits limits;
  if (argc == 4) limits.timeout = std::chrono::seconds(std::strtol(argv[3], nullptr, 10));

  std::set<std::string> requests;
  const auto lookup = [&](std::string_view query) {
    PublicView v;
    const auto subject = normalise(query, &v.error);
    if (!subject) return v;
    if (auto listed = listing(*subject)) v = std::move(*listed);
    v.subject = *subject;
    v.request_pending = requests.contains(*subject);
    return v;
  };
  const auto request = [&](const std::string& subject, const std::string& contact,
                           const std::string& message, const std::string& client) {
    const auto s = normalise(subject, nullptr);
    if (!s) return RequestOutcome::kInvalid;
    if (!listing(*s)) return RequestOutcome::kNotListed;
    if (requests.contains(*s)) return RequestOutcome::kAlreadyPending;
    if (requests.size() >= max_requests) return RequestOutcome::kFull;
    requests.insert(*s);
    std::fprintf(stderr, "recorded subject=%s contact=%s client=%s message_bytes=%zu\n",
                 daemon::printable(*s).c_str(), daemon::printable(contact).c_str(), client.c_str(),
                 message.size());
    std::fflush(stderr);
    return RequestOutcome::kRecorded;
  };

  WebText text;
  text.list_name = "exigrey test list";
  text.removal_text = "Listings expire 7 days after the last report.\nFix the host first.";
  text.zone = "bl.exigrey.test";

  asio::io_context io;
  daemon::Metrics metrics;
  WebListener listener(io, Endpoint{"127.0.0.1", port}, text, limits, lookup, request, metrics);

  asio::signal_set usr1(io, SIGUSR1);
  std::function<void()> wait_usr1 = [&] {
    usr1.async_wait([&](std::error_code ec, int) {
      if (ec) return;
      print_metrics(metrics);
      wait_usr1();
    });
  };
  wait_usr1();
  asio::signal_set term(io, SIGTERM, SIGINT);
  term.async_wait([&](std::error_code, int) {
    listener.stop();
    usr1.cancel();
    print_metrics(metrics);
  });

  std::cout << "ready " << listener.port() << std::endl;
  io.run();
  return 0;
}

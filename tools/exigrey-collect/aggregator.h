// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/aggregator.h: the one way reports enter the collector.
//
// Listeners (the plain listener today, a signed-batch listener later) hand
// reports with a reporter id to submit() or submit_batch(). The aggregator
// canonicalises subjects (IPv4-mapped IPv6 becomes IPv4, an IPv6 address its
// /ipv6_prefix network), drops reports about
// subjects that can never be listed (reserved networks and names: counted),
// and commits what remains to the ReputationStore in batches: everything
// submitted during one turn of the event loop goes into one transaction,
// which keeps the store fast under load without delaying a lone report.
// After each commit it calls the change hook (the publisher's mark_changed)
// with the subjects committed.
//
// Durability: submit_batch's callback runs after the commit of its reports
// (true), or after a store failure (false), so a protocol with acks can ack
// only what is durable. Reports from submit() that hit a store failure are
// counted as lost and logged (at most one line per second): the plain
// protocol has no acks.
//
// Thread safety: use from the io_context's thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "collect_metrics.h"
#include "exigrey/clock.h"
#include "exigrey/reputation.h"

namespace exigrey::collect {

class Aggregator {
 public:
  // Reports queued beyond this are committed at once, in the caller's turn.
  static constexpr std::size_t kMaxQueued = 4096;

  Aggregator(asio::io_context& io, ReputationStore& store, CollectMetrics& metrics,
             const Clock& clock, std::int64_t ttl);
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  void set_ttl(std::int64_t ttl) { ttl_ = ttl; }
  // IPv6 subjects are recorded as their /prefix network (128: as they are).
  void set_ipv6_prefix(unsigned prefix) { ipv6_prefix_ = prefix; }
  void set_change_hook(std::function<void(std::vector<Subject>)> hook) {
    on_change_ = std::move(hook);
  }

  // Queues one report (report.time 0 means "now"). Returns false when it was
  // dropped because its subject is reserved.
  bool submit(Report report, std::string reporter);

  // Queues several reports; `done(ok)` runs once they are committed (or lost).
  void submit_batch(std::vector<IncomingReport> reports, std::function<void(bool)> done);

  // A signed batch: its reports and the reporter's new cursor (the last
  // report id) commit in one transaction, which is forced to disk before
  // `done(true)` runs, so an acknowledgement is never ahead of the disk.
  void submit_signed(std::vector<IncomingReport> reports, ReporterCursor cursor,
                     std::function<void(bool)> done);

  // Commits everything queued now (also used at shutdown).
  void flush();

 private:
  bool admit(IncomingReport& r);
  void schedule_flush();
  void crash_point_after_commit();

  asio::io_context& io_;
  ReputationStore& store_;
  CollectMetrics& metrics_;
  const Clock& clock_;
  std::int64_t ttl_;
  unsigned ipv6_prefix_ = 64;
  std::vector<IncomingReport> queue_;
  std::vector<ReporterCursor> cursors_;
  long signed_commits_ = 0;
  std::vector<std::function<void(bool)>> waiting_;
  bool flush_posted_ = false;
  std::chrono::steady_clock::time_point last_error_log_{};
  std::uint64_t errors_unlogged_ = 0;
  std::function<void(std::vector<Subject>)> on_change_;
};

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
#include "aggregator.h"

#include <unistd.h>

#include <cstdlib>

#include "common/log.h"
#include "exigrey/error.h"
#include "exigrey/reputation_policy.h"

namespace exigrey::collect {

Aggregator::Aggregator(asio::io_context& io, ReputationStore& store, CollectMetrics& metrics,
                       const Clock& clock, std::int64_t ttl)
    : io_(io), store_(store), metrics_(metrics), clock_(clock), ttl_(ttl) {
  queue_.reserve(256);
}

bool Aggregator::admit(IncomingReport& r) {
  r.report.subject =
      aggregate_subject(canonical_subject(std::move(r.report.subject)), ipv6_prefix_);
  if (is_reserved(r.report.subject)) {
    ++metrics_.reports_reserved;
    LOG_DEBUG("ignored {} {} from {}: reserved, never listed", to_string(r.report.verb),
              r.report.subject.text, r.reporter);
    return false;
  }
  return true;
}

bool Aggregator::submit(Report report, std::string reporter) {
  IncomingReport r{std::move(report), std::move(reporter)};
  if (!admit(r)) return false;
  queue_.push_back(std::move(r));
  if (queue_.size() >= kMaxQueued) {
    flush();
  } else {
    schedule_flush();
  }
  return true;
}

void Aggregator::submit_batch(std::vector<IncomingReport> reports, std::function<void(bool)> done) {
  for (IncomingReport& r : reports) {
    if (admit(r)) queue_.push_back(std::move(r));
  }
  if (done) waiting_.push_back(std::move(done));
  schedule_flush();
}

void Aggregator::submit_signed(std::vector<IncomingReport> reports, ReporterCursor cursor,
                               std::function<void(bool)> done) {
  cursors_.push_back(std::move(cursor));
  submit_batch(std::move(reports), std::move(done));
}

void Aggregator::crash_point_after_commit() {
  // Fault injection for the test suite (docs/collector.md): die like SIGKILL
  // after the Nth durable signed commit, before any ACK is written, to prove
  // that the retransmission is recognised and counted once.
  static const long crash_after = [] {
    const char* v = std::getenv("EXIGREY_TEST_CRASH_AFTER_SIGNED_COMMITS");
    return v != nullptr ? std::atol(v) : 0L;
  }();
  if (crash_after > 0 && ++signed_commits_ == crash_after) ::_exit(137);
}

void Aggregator::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  // Posted, not dispatched: reads that complete in this turn join the batch.
  asio::post(io_, [this] { flush(); });
}

void Aggregator::flush() {
  flush_posted_ = false;
  std::vector<std::function<void(bool)>> waiting;
  waiting.swap(waiting_);
  std::vector<ReporterCursor> cursors;
  cursors.swap(cursors_);
  if (queue_.empty() && cursors.empty()) {
    for (auto& done : waiting) done(true);
    return;
  }
  bool ok = true;
  std::vector<Subject> changed;
  try {
    store_.apply(queue_, clock_.now(), ttl_, cursors);
    // Signed batches are acknowledged: make the commit durable first, also
    // when the store runs with sync meta or none.
    if (!cursors.empty()) {
      store_.sync();
      crash_point_after_commit();
    }
    ++metrics_.store_commits;
    changed.reserve(queue_.size());
    for (IncomingReport& r : queue_) {
      ++metrics_.accepted(r.report.verb);
      changed.push_back(std::move(r.report.subject));
    }
  } catch (const Error& e) {
    ok = false;
    ++metrics_.store_errors;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_error_log_ >= std::chrono::seconds(1)) {
      LOG_ERROR("{} reports lost: {}{}", queue_.size(), e.what(),
                errors_unlogged_ > 0
                    ? fmt::format(" ({} more failures since the last message)", errors_unlogged_)
                    : std::string());
      last_error_log_ = now;
      errors_unlogged_ = 0;
    } else {
      ++errors_unlogged_;
    }
  }
  queue_.clear();
  if (queue_.capacity() > 4 * kMaxQueued) queue_.shrink_to_fit();
  for (auto& done : waiting) done(ok);
  if (ok && on_change_ && !changed.empty()) on_change_(std::move(changed));
}

}  // namespace exigrey::collect

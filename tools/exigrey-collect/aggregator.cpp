#include "aggregator.h"

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
  r.report.subject = canonical_subject(std::move(r.report.subject));
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
  if (queue_.empty()) {
    for (auto& done : waiting) done(true);
    return;
  }
  bool ok = true;
  try {
    store_.apply(queue_, clock_.now(), ttl_);
    ++metrics_.store_commits;
    for (const IncomingReport& r : queue_) ++metrics_.accepted(r.report.verb);
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
  if (ok && on_change_) on_change_();
}

}  // namespace exigrey::collect

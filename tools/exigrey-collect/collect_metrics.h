// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/collect_metrics.h: every series the collector exports on
// /metrics (docs/collector.md lists them), registered once at start.
//
// The references point into a daemon::Metrics registry that outlives every
// component. Updates are lock-free; the collector updates them from its one
// event-loop thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "common/metrics.h"
#include "exigrey/plain_line.h"
#include "exigrey/report.h"

namespace exigrey::collect {

// Why a plain connection was closed (the `reason` label).
enum class CloseReason : std::uint8_t {
  kEof,       // the client closed (the normal end)
  kIdle,      // no complete line within idle_timeout
  kAbusive,   // too many bad lines, or a line far beyond the limit
  kEvicted,   // the oldest idle connection, closed to admit a new one at max_connections
  kError,     // a socket error
  kShutdown,  // the collector is stopping
  kCount,
};
std::string_view to_string(CloseReason reason) noexcept;

// Rejected-line reasons: every LineError except kNone and kBlank, plus rate_limited.
inline constexpr std::size_t kRejectReasons = 11;
inline constexpr std::size_t kRateLimitedSlot = 10;

struct CollectMetrics {
  explicit CollectMetrics(daemon::Metrics& registry);

  using Counter = std::atomic<std::uint64_t>;
  using Gauge = std::atomic<std::int64_t>;

  Counter& connections_accepted;
  Counter& connections_denied;  // source outside the allow-list
  std::array<Counter*, static_cast<std::size_t>(CloseReason::kCount)> connections_closed{};
  Gauge& connections_open;
  Counter& bytes_received;
  std::array<Counter*, 2> reports_accepted{};             // [0] black, [1] white
  Counter& reports_reserved;                              // dropped at intake: never listable
  std::array<Counter*, kRejectReasons> lines_rejected{};  // indexed by LineError, + rate_limited
  Counter& store_commits;
  Counter& store_errors;
  Counter& publishes;
  Counter& publish_errors;
  Counter& files_written;
  Gauge& publish_duration_ms;
  Gauge& last_publish_time;
  std::array<Gauge*, 6> listed{};  // black ip4, ip6, names, white ip4, ip6, names
  Gauge& subjects;
  std::array<Gauge*, 4> listed_by_rule{};  // votes, held, banned, escalated
  Counter& listing_events_listed;          // transitions recorded in the subjects' history
  Counter& listing_events_unlisted;
  Counter& operator_changes;               // store changes by exigrey-collect ban/delist seen
  Gauge& requests_pending;                 // removal requests stored
  std::array<Gauge*, 2> stored_reports{};  // totals in the store, survive restarts
  Counter& pruned;
  // Publishing by DNS UPDATE (dns_sync.h); written by its own thread.
  Counter& dns_updates;    // UPDATE messages the name server accepted
  Counter& dns_changes;    // RRsets deleted or added by them
  Counter& dns_errors;     // failed rounds (refused, timed out, unreachable): retried
  Counter& dns_transfers;  // zones read back by AXFR (at start, after a failure or divergence)
  Counter& dns_notifies;   // NOTIFYs sent to the secondaries in dns_notify
  Counter& dns_backlog_overflows;  // pending changes dropped for a whole comparison
  Gauge& dns_behind;               // 1 while the latest listings are not all on the name server
  Gauge& dns_sync_duration_ms;
  Counter& reloads_ok;
  Counter& reloads_failed;
  Gauge& resident_bytes;
  Gauge& start_time;

  Counter& accepted(Verb verb) { return *reports_accepted[verb == Verb::kBlack ? 0 : 1]; }
  Counter& rejected(LineError error) { return *lines_rejected[static_cast<std::size_t>(error)]; }
  Counter& rate_limited() { return *lines_rejected[kRateLimitedSlot]; }
  Counter& closed(CloseReason reason) {
    return *connections_closed[static_cast<std::size_t>(reason)];
  }
};

// Resident set size of this process from /proc/self/statm (0 if unreadable).
std::int64_t resident_bytes();

}  // namespace exigrey::collect

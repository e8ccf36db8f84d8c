// SPDX-License-Identifier: GPL-2.0-or-later
#include "collect_metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace exigrey::collect {

std::string_view to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::kEof:
      return "eof";
    case CloseReason::kIdle:
      return "idle";
    case CloseReason::kAbusive:
      return "abusive";
    case CloseReason::kEvicted:
      return "evicted";
    case CloseReason::kError:
      return "error";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kCount:
      break;
  }
  return "?";
}

CollectMetrics::CollectMetrics(daemon::Metrics& m)
    : connections_accepted(m.counter("exigrey_collect_connections_accepted_total",
                                     "Plain connections accepted from allowed sources.")),
      connections_denied(m.counter("exigrey_collect_connections_denied_total",
                                   "Plain connections refused: source not in the allow-list.")),
      connections_open(m.gauge("exigrey_collect_connections_open", "Plain connections open.")),
      bytes_received(
          m.counter("exigrey_collect_bytes_received_total", "Bytes read from plain connections.")),
      reports_reserved(m.counter("exigrey_collect_reports_ignored_total",
                                 "Reports dropped at intake because the subject can never be "
                                 "listed (reserved address or name).",
                                 "reason=\"reserved\"")),
      store_commits(m.counter("exigrey_collect_store_commits_total",
                              "Transactions committed to the reputation store.")),
      store_errors(m.counter("exigrey_collect_store_errors_total",
                             "Reputation store failures (the batch was lost).")),
      publishes(m.counter("exigrey_collect_publishes_total",
                          "Times the listings were computed and the rbldnsd files checked.")),
      publish_errors(m.counter("exigrey_collect_publish_errors_total",
                               "Publishing attempts that failed (retried).")),
      files_written(
          m.counter("exigrey_collect_files_written_total", "rbldnsd data files replaced.")),
      publish_duration_ms(m.gauge("exigrey_collect_publish_duration_milliseconds",
                                  "Duration of the last publish.")),
      last_publish_time(
          m.gauge("exigrey_collect_last_publish_timestamp_seconds",
                  "When the listings last changed (rbldnsd files replaced, or zones offered to the "
                  "name server).")),
      subjects(m.gauge("exigrey_collect_subjects", "Subjects in the reputation store.")),
      listing_events_listed(m.counter("exigrey_collect_listing_events_total",
                                      "Black listings begun and ended (subjects' history).",
                                      "event=\"listed\"")),
      listing_events_unlisted(m.counter("exigrey_collect_listing_events_total",
                                        "Black listings begun and ended (subjects' history).",
                                        "event=\"unlisted\"")),
      operator_changes(m.counter("exigrey_collect_operator_changes_total",
                                 "Operator actions (ban, unban, delist) seen in the store.")),
      requests_pending(m.gauge("exigrey_collect_removal_requests_pending",
                               "Removal requests stored, waiting for the operator.")),
      pruned(m.counter("exigrey_collect_subjects_pruned_total",
                       "Subjects deleted after their retention.")),
      dns_updates(m.counter("exigrey_collect_dns_updates_total",
                            "DNS UPDATE messages the primary name server accepted.")),
      dns_changes(
          m.counter("exigrey_collect_dns_changes_total", "RRsets deleted or added by DNS UPDATE.")),
      dns_errors(m.counter("exigrey_collect_dns_errors_total",
                           "Failed rounds of DNS UPDATE (refused, timed out, unreachable); "
                           "each is retried.")),
      dns_transfers(m.counter("exigrey_collect_dns_transfers_total",
                              "Zones read back from the primary by AXFR (at start, after a "
                              "failure, or when the zone changed under the collector).")),
      dns_notifies(
          m.counter("exigrey_collect_dns_notifies_total",
                    "NOTIFYs sent to the secondaries in dns_notify after a zone changed.")),
      dns_backlog_overflows(
          m.counter("exigrey_collect_dns_backlog_overflows_total",
                    "Times more record changes were pending than dns_backlog: they were dropped "
                    "and the zones compared whole instead.")),
      dns_behind(m.gauge("exigrey_collect_dns_behind",
                         "1 while the latest listings are not all on the primary name server.")),
      dns_sync_duration_ms(m.gauge("exigrey_collect_dns_sync_duration_milliseconds",
                                   "Duration of the last successful round of DNS UPDATE.")),
      reloads_ok(m.counter("exigrey_collect_config_reloads_total", "Configuration reloads.",
                           "result=\"ok\"")),
      reloads_failed(m.counter("exigrey_collect_config_reloads_total", "Configuration reloads.",
                               "result=\"error\"")),
      resident_bytes(
          m.gauge("exigrey_collect_resident_memory_bytes", "Resident set size of the collector.")),
      start_time(m.gauge("exigrey_collect_start_time_seconds", "When the collector started.")) {
  for (std::size_t i = 0; i < connections_closed.size(); ++i) {
    connections_closed[i] = &m.counter(
        "exigrey_collect_connections_closed_total", "Plain connections closed, by reason.",
        fmt::format("reason=\"{}\"", to_string(static_cast<CloseReason>(i))));
  }
  reports_accepted[0] = &m.counter("exigrey_collect_reports_total",
                                   "Reports accepted into the store, by verb.", "verb=\"black\"");
  reports_accepted[1] = &m.counter("exigrey_collect_reports_total",
                                   "Reports accepted into the store, by verb.", "verb=\"white\"");
  for (std::size_t i = 0; i < kRejectReasons; ++i) {
    const auto error = static_cast<LineError>(i);
    if (error == LineError::kNone || error == LineError::kBlank) continue;
    const std::string_view reason =
        i == kRateLimitedSlot ? std::string_view("rate_limited") : to_string(error);
    lines_rejected[i] =
        &m.counter("exigrey_collect_lines_rejected_total", "Plain lines rejected, by reason.",
                   fmt::format("reason=\"{}\"", reason));
  }
  constexpr std::array<const char*, 3> kFamilies = {"ip4", "ip6", "names"};
  for (std::size_t i = 0; i < listed.size(); ++i) {
    listed[i] = &m.gauge(
        "exigrey_collect_listed", "Entries published, by list and file.",
        fmt::format("list=\"{}\",file=\"{}\"", i < 3 ? "black" : "white", kFamilies[i % 3]));
  }
  constexpr std::array<const char*, 4> kRules = {"votes", "held", "banned", "escalated"};
  for (std::size_t i = 0; i < listed_by_rule.size(); ++i) {
    listed_by_rule[i] = &m.gauge("exigrey_collect_black_listed_by_rule",
                                 "Black listings published, by the rule that lists them.",
                                 fmt::format("rule=\"{}\"", kRules[i]));
  }
  stored_reports[0] =
      &m.gauge("exigrey_collect_stored_reports",
               "Reports ever applied to the store (persistent), by verb.", "verb=\"black\"");
  stored_reports[1] =
      &m.gauge("exigrey_collect_stored_reports",
               "Reports ever applied to the store (persistent), by verb.", "verb=\"white\"");
}

std::int64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

}  // namespace exigrey::collect

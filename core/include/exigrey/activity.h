// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/activity.h: what greylisting did over a time window, for
// `exigrey report`: who was held back, for how long, who never came back.
//
// Two sources feed one GreyActivity:
//   - the store (scan_store): one chunked walk of the items and one of the
//     whitelist (listing.h), so it is safe while Exim runs and never pins a
//     snapshot. An item keeps only its first and last times, so the delay
//     of a first pass is known exactly only while the item has passed once
//     (count == 1: used - created); items that passed again are left out of
//     the delay figures and counted as such.
//   - Exim's main log (add_log_line, read_log): the plugin's decision lines
//     (exigrey.conf `log = decisions`) and Exim's own "temporarily
//     rejected" lines. "passed after D" lines give every delay exactly; when
//     there are any, delays() uses them instead of the store's.
//
// The window is [since, now]: a record counts when its time is in it, a
// log line when its timestamp is. Times come from the caller, never from
// the clock, so results are reproducible.
//
// Memory is bounded: top lists keep at most ActivityOptions::max_groups
// distinct names each (later new names are only counted as "other"), and
// delays are kept per second below one day and per minute above.
//
// Errors: scan_store throws StoreError (store.h); read_log throws
// Error(kStore) on a read error of the stream; log lines themselves never
// throw: a line that cannot be parsed is counted and skipped.
// Thread safety: none; one GreyActivity per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "exigrey/bulk.h"
#include "exigrey/clock.h"
#include "exigrey/ip_network.h"
#include "exigrey/store.h"

namespace exigrey {

// `since` for "everything ever recorded".
inline constexpr UnixTime kSinceEver = std::numeric_limits<UnixTime>::min();

struct ActivityOptions {
  UnixTime now = 0;
  UnixTime since = kSinceEver;             // window start (inclusive)
  std::int64_t retry_window = 3600;        // a never-passed item older than this "never retried"
  std::size_t top = 10;                    // 0: no top lists are collected at all
  std::size_t max_groups = 100000;         // distinct names kept per top list
  std::string reject_text = "greylisted";  // marks Exim's reject lines as greylisting's
};

// Fixed delay buckets: from <= delay < to (the last has no upper end).
struct DelayBucket {
  std::string_view label;
  std::int64_t from;
  std::optional<std::int64_t> to;
};
inline constexpr std::size_t kDelayBuckets = 10;
extern const std::array<DelayBucket, kDelayBuckets> kDelayBucketTable;

// A distribution of delays in seconds (negative ones count as 0).
class DelayStats {
 public:
  void add(std::int64_t seconds);
  std::uint64_t count() const noexcept { return count_; }
  std::int64_t max() const noexcept { return max_; }  // 0 when empty
  const std::array<std::uint64_t, kDelayBuckets>& buckets() const noexcept { return buckets_; }
  // Nearest rank: the smallest delay that at least `percent` % of the
  // delays do not exceed (to the minute above one day). nullopt when empty.
  std::optional<std::int64_t> percentile(unsigned percent) const;

 private:
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
  std::array<std::uint64_t, kDelayBuckets> buckets_{};
  std::map<std::int64_t, std::uint64_t> values_;
};

// Counts per name, for "top N" lists, with a bound on the names held.
class TopCounter {
 public:
  explicit TopCounter(std::size_t max_names = 100000) : max_names_(max_names) {}
  void add(std::string_view name, std::uint64_t n = 1);
  struct Entry {
    std::string name;
    std::uint64_t count = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  // The `n` largest counts, ties by name; raw bytes (escape for display).
  std::vector<Entry> top(std::size_t n) const;
  std::uint64_t total() const noexcept { return total_; }
  std::size_t distinct() const noexcept { return counts_.size(); }
  // Counted after max_names was reached, under names not held.
  std::uint64_t other() const noexcept { return other_; }

 private:
  std::size_t max_names_;
  std::uint64_t total_ = 0;
  std::uint64_t other_ = 0;
  std::unordered_map<std::string, std::uint64_t> counts_;
};

// What the plugin's decision lines say happened.
struct DecisionCounts {
  std::uint64_t greylisted_new = 0;
  std::uint64_t greylisted_too_early = 0;
  std::uint64_t passed_after_delay = 0;
  std::uint64_t passed_known = 0;
  std::uint64_t passed_whitelisted = 0;
  std::uint64_t total() const noexcept {
    return greylisted_new + greylisted_too_early + passed_after_delay + passed_known +
           passed_whitelisted;
  }
};

struct GreyActivity {
  explicit GreyActivity(const ActivityOptions& o);
  ActivityOptions options;

  // From the store.
  bool store_scanned = false;
  std::uint64_t items = 0;            // all items walked
  std::uint64_t first_seen = 0;       // created in the window
  std::uint64_t first_passes = 0;     // count == 1, used in the window
  std::uint64_t passed_again = 0;     // count > 1, used in the window
  std::uint64_t waiting = 0;          // count == 0, created in the window, within retry_window
  std::uint64_t never_retried = 0;    // count == 0, created in the window, older than that
  std::uint64_t delays_left_out = 0;  // count > 1, created in the window: first delay not kept
  std::uint64_t whitelist = 0;        // all entries walked
  std::uint64_t whitelist_new = 0;    // created in the window
  std::uint64_t whitelist_used = 0;   // last used in the window
  DelayStats store_delays;            // of first_passes
  TopCounter never_retried_networks;  // by network_group(first)
  TopCounter sender_domains;          // of items created in the window (sender_domain)

  // From the log(s).
  std::uint64_t log_files = 0;
  std::uint64_t log_lines = 0;          // every line read
  std::uint64_t log_lines_used = 0;     // decision and reject lines in the window
  std::uint64_t log_lines_outside = 0;  // such lines outside the window
  std::uint64_t log_lines_skipped = 0;  // lines of interest that could not be parsed
  DecisionCounts decisions;
  std::uint64_t log_rejects = 0;  // Exim's "temporarily rejected ...: <reject_text>" lines
  DelayStats log_delays;          // of "passed after" lines
  TopCounter log_networks;        // of reject lines' [ip]
  TopCounter log_sender_domains;  // of reject lines' F=<...>

  // The delays to show: the log's when it had "passed after" lines (every
  // first pass, exact), else the store's.
  bool delays_from_log() const noexcept { return log_delays.count() > 0; }
  const DelayStats& delays() const noexcept {
    return delays_from_log() ? log_delays : store_delays;
  }
};

// Called every so many entries (or lines) and at the end, with how many so far.
using ActivityProgress = std::function<void(std::uint64_t done)>;

// Walks the store's items and whitelist entries once each (see above).
void scan_store(GreyActivity& activity, const Store& store, const ActivityProgress& progress = {},
                const BulkLimits& limits = {});

// The network a client is grouped under: its /24 ("192.0.2.0/24") or, for
// IPv6, its /64 ("2001:db8:1:2::/64"); IPv4-mapped addresses count as IPv4.
std::string network_group(const IpAddress& addr);
// network_group() of text that is or starts with an address ("192.0.2.7",
// "192.0.2.0/24"); anything else unchanged.
std::string network_group(std::string_view text);
// The domain after the first '@', up to one of > : / ; , space " tab,
// lowercased; nullopt without '@' or when it is empty.
std::optional<std::string> sender_domain(std::string_view text);

// One log line, as far as the report cares.
struct LogLine {
  enum class Kind {
    kIrrelevant,   // neither a decision line nor a greylisting reject
    kUnparseable,  // looks like one, but its time or text is not understood
    kGreylistedNew,
    kGreylistedTooEarly,
    kPassedAfterDelay,
    kPassedKnown,
    kPassedWhitelisted,
    kRejected,  // Exim's "temporarily rejected" line with the reject text
  };
  Kind kind = Kind::kIrrelevant;
  UnixTime time = 0;
  std::int64_t delay = 0;              // kPassedAfterDelay
  std::optional<std::string> sender;   // kRejected: the domain of F=<...>, "<>" for the null sender
  std::optional<std::string> network;  // kRejected: network_group of H=...[ip]
};

// The time at the start of an Exim main log line: "YYYY-MM-DD HH:MM:SS",
// optionally ".fff", optionally " +ZZZZ" / " -ZZZZ"; local time (mktime)
// without an offset. `*rest` (if given) receives what follows, with a
// "[pid]" and an Exim message id skipped. nullopt if there is none.
std::optional<UnixTime> parse_log_time(std::string_view line, std::string_view* rest = nullptr);

// Classifies one line (without its '\n'). A line matters only if it
// contains "exigrey:" or "temporarily rejected".
LogLine parse_log_line(std::string_view line, std::string_view reject_text = "greylisted");

// Adds one line to `activity` (counts it in log_lines).
void add_log_line(GreyActivity& activity, std::string_view line);

// Reads lines until the end of `in`, adding each; counts one log file.
// Lines longer than kMaxLogLine are not held whole: one whose first
// kMaxLogLine bytes contain "exigrey:" or "temporarily rejected" is counted
// as skipped, any other ignored. `name` names the stream in errors.
inline constexpr std::size_t kMaxLogLine = 64 * 1024;
void read_log(GreyActivity& activity, std::istream& in, std::string_view name,
              const ActivityProgress& progress = {});

}  // namespace exigrey

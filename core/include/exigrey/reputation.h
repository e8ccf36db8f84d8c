// exigrey/reputation.h: what exigrey-collect knows about each reported
// subject, and the LMDB store that keeps it.
//
// A SubjectRecord aggregates every report about one subject (an IPv4 or IPv6
// address, or a domain name): report counts per verb, first and last report,
// and one Vote per reporter. A reporter is an opaque string id (at most
// kMaxReporterBytes): the plain listener uses "plain:<source address>", a
// signed-batch listener would use its authenticated reporter id. A reporter
// has one vote per subject whatever the number of its reports, which is what
// makes "distinct reporters" robust against one noisy or hostile reporter.
// The vote set is bounded (kMaxVotesPerSubject): when it is full, the vote
// with the oldest report makes room.
//
// Listing decisions are not made here (see reputation_policy.h); this layer
// only records. Record times come from the caller (Clock) so tests drive them.
//
// Errors: StoreError (store.h kinds: kStore, kMapFull, kCorrupt) and
// UsageError (bad arguments). Process safety: like every exigrey store, one
// LMDB environment per file per process, opened lazily, fork-safe; any number
// of processes may read while one writes (exigrey-collect --dump does).
// Thread safety: a ReputationStore may be used from several threads; each
// call is one LMDB transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/report.h"
#include "exigrey/store_options.h"

namespace exigrey {

inline constexpr std::size_t kMaxReporterBytes = 96;
inline constexpr std::size_t kMaxVotesPerSubject = 32;
inline constexpr std::string_view kReputationName = "reputation";
inline constexpr std::uint64_t kDefaultReputationMapSize = std::uint64_t{1} << 30;

// One reporter's opinion of one subject: when it last said black and white
// (0 = never). Its current opinion is the later of the two.
struct Vote {
  std::string reporter;
  UnixTime last_black = 0;
  UnixTime last_white = 0;
  friend bool operator==(const Vote&, const Vote&) = default;
};

struct SubjectRecord {
  std::uint64_t black_reports = 0;  // every report counts here (saturating)
  std::uint64_t white_reports = 0;
  UnixTime first_seen = 0;   // first report ever (kept until the record is pruned)
  UnixTime last_seen = 0;    // latest report time
  UnixTime black_since = 0;  // start of the current run of black votes (0: none yet)
  UnixTime white_since = 0;
  std::vector<Vote> votes;  // at most kMaxVotesPerSubject
  friend bool operator==(const SubjectRecord&, const SubjectRecord&) = default;
};

// A report as it reaches the aggregator: what, from whom.
struct IncomingReport {
  Report report;         // report.time: when the reporter saw it (0: "now")
  std::string reporter;  // 1..kMaxReporterBytes bytes
};

// Folds one report into `record`. `at` is the report's time; it is clamped to
// `now` (clock skew) and a report older than `ttl` still counts in the totals
// but casts no vote. Votes whose latest report is older than `ttl` are
// dropped. black_since/white_since restart when a vote of that verb arrives
// while none was live. Throws UsageError on an empty or over-long reporter.
void apply_report(SubjectRecord& record, Verb verb, std::string_view reporter, UnixTime at,
                  UnixTime now, std::int64_t ttl);

// The value bytes of a record, and back. decode throws StoreError(kCorrupt)
// on malformed bytes and never reads out of bounds.
std::string encode_subject_record(const SubjectRecord& record);
SubjectRecord decode_subject_record(std::string_view bytes);

// How far a signed reporter's reports have been committed: the highest report
// id (its outbox sequence number) applied. See docs/protocol.md.
struct ReporterCursor {
  std::string reporter;
  std::uint64_t last_id = 0;
};

struct ReputationTotals {
  std::uint64_t subjects = 0;       // records in the store now
  std::uint64_t black_reports = 0;  // reports ever applied (survive pruning)
  std::uint64_t white_reports = 0;
};

class ReputationStore {
 public:
  // The store path inside a state directory: <dir>/reputation (+ "-lock").
  static std::string path_in(std::string_view dir);

  // Names the store; it is created on first use. `options.read_only` opens
  // it for inspection only.
  explicit ReputationStore(std::string path, StoreOptions options = default_options());
  static StoreOptions default_options();

  const std::string& path() const noexcept { return path_; }

  // Applies every report in one transaction (all or nothing). Reports with
  // time 0 are taken as `now`. `cursors` are committed in the same
  // transaction, so a reporter's progress is exactly as durable as its reports.
  void apply(std::span<const IncomingReport> reports, UnixTime now, std::int64_t ttl,
             std::span<const ReporterCursor> cursors = {});

  // The last committed report id of a signed reporter (0: none yet).
  std::uint64_t reporter_cursor(std::string_view reporter) const;

  std::optional<SubjectRecord> get(const Subject& subject) const;

  // Calls `fn` for each subject in key order (IPv4, IPv6, then domains, each
  // sorted by text) inside one read transaction; `fn` returns false to stop.
  // A record that cannot be decoded is skipped and counted in *skipped.
  void for_each(const std::function<bool(const Subject&, const SubjectRecord&)>& fn,
                std::size_t* skipped = nullptr) const;

  // Deletes up to `max` records whose last report is before `before`;
  // returns how many it deleted.
  std::size_t prune(UnixTime before, std::size_t max);

  ReputationTotals totals() const;

  // Forces buffered commits to disk (for SyncMode kNone / kMeta).
  void sync();

 private:
  std::string path_;
  StoreOptions options_;
};

}  // namespace exigrey

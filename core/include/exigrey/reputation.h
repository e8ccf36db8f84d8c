// SPDX-License-Identifier: GPL-2.0-or-later
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

inline constexpr std::size_t kMaxCategories = 8;  // per subject
inline constexpr std::size_t kMaxCategoryBytes = 24;
inline constexpr std::size_t kMaxEvidenceTextBytes = 120;  // a kept note or reason
inline constexpr std::size_t kMaxHistory = 16;             // events per subject

// How often black reports gave one category (the first word of the note).
struct CategoryCount {
  std::string name;  // [a-z0-9_-], 1..kMaxCategoryBytes
  std::uint64_t reports = 0;
  UnixTime last = 0;
  friend bool operator==(const CategoryCount&, const CategoryCount&) = default;
};

enum class EventKind : std::uint8_t {
  kListed = 1,    // the policy listed it (published)
  kUnlisted = 2,  // the policy no longer lists it (evidence expired or outweighed)
  kBanned = 3,    // the operator listed it (exigrey-collect ban)
  kUnbanned = 4,  // the operator lifted a ban
  kDelisted = 5,  // the operator delisted it (exigrey-collect delist)
  kRequest = 6,   // someone asked for removal through the lookup page
};
std::string_view to_string(EventKind kind) noexcept;

struct HistoryEvent {
  UnixTime time = 0;
  EventKind kind = EventKind::kListed;
  std::string text;  // why (sanitised, at most kMaxEvidenceTextBytes)
  friend bool operator==(const HistoryEvent&, const HistoryEvent&) = default;
};

struct SubjectRecord {
  std::uint64_t black_reports = 0;  // every report counts here (saturating)
  std::uint64_t white_reports = 0;
  UnixTime first_seen = 0;   // first report ever (kept until the record is pruned)
  UnixTime last_seen = 0;    // latest report time
  UnixTime black_since = 0;  // start of the current run of black votes (0: none yet)
  UnixTime white_since = 0;
  std::vector<Vote> votes;  // at most kMaxVotesPerSubject

  // Evidence (docs/collector.md, "Evidence").
  std::vector<CategoryCount> categories;  // at most kMaxCategories; least recent makes room
  std::string last_note;                  // the latest black report's note, sanitised
  std::vector<HistoryEvent> history;      // oldest first, at most kMaxHistory

  // Published state, written by the publisher when it changes.
  UnixTime listed_since = 0;   // black-listed since (0: not listed now)
  UnixTime hold_until = 0;     // the current listing lasts at least until then
  std::uint32_t offenses = 0;  // listings within the policy's memory (growing hold)
  UnixTime last_offense = 0;   // start of the latest listing

  // Operator actions.
  UnixTime ban_until = 0;  // listed by the operator until then (0: no ban)
  std::string ban_reason;
  UnixTime delisted_at = 0;   // black votes cast up to then (that second included) no longer count
  UnixTime exempt_until = 0;  // not black-listed before then, whatever the votes
  std::string delist_reason;
  bool network = false;  // a network listed by escalation (policy), not a reported subject
  friend bool operator==(const SubjectRecord&, const SubjectRecord&) = default;
};

// The category of a note: its first word, lower-cased, without a trailing
// ':' or ','; "other" when that word has other bytes than [a-z0-9_-] or is
// longer than kMaxCategoryBytes; empty when the note is empty.
std::string category_of_note(std::string_view note);

// Free text made safe to keep and show: control bytes become '?', and it is
// cut to `max` bytes at a UTF-8 character boundary.
std::string sanitize_text(std::string_view text, std::size_t max = kMaxEvidenceTextBytes);

// Appends an event (sanitised), dropping the oldest beyond kMaxHistory.
void add_event(SubjectRecord& record, UnixTime time, EventKind kind, std::string_view text);

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
// A black report's note adds to the categories and becomes last_note.
void apply_report(SubjectRecord& record, Verb verb, std::string_view reporter, UnixTime at,
                  UnixTime now, std::int64_t ttl, std::string_view note = {});

// The value bytes of a record, and back. decode throws StoreError(kCorrupt)
// on malformed bytes and never reads out of bounds.
std::string encode_subject_record(const SubjectRecord& record);
// Without `evidence`, the last note and the history are checked but not
// kept (a publish reads every record and needs neither).
SubjectRecord decode_subject_record(std::string_view bytes, bool evidence = true);

// How far a signed reporter's reports have been committed: the highest report
// id (its outbox sequence number) applied. See docs/protocol.md.
struct ReporterCursor {
  std::string reporter;
  std::uint64_t last_id = 0;
};

// A removal request from the lookup page (bounded: RemovalRequestLimits).
struct RemovalRequest {
  Subject subject{SubjectKind::kIPv4, {}};
  UnixTime time = 0;
  std::string client;   // the requester's address
  std::string contact;  // sanitised, at most 254 bytes
  std::string message;  // sanitised, at most 1000 bytes
  friend bool operator==(const RemovalRequest&, const RemovalRequest&) = default;
};
inline constexpr std::size_t kMaxRequestContactBytes = 254;
inline constexpr std::size_t kMaxRequestMessageBytes = 1000;

enum class RequestResult : std::uint8_t { kRecorded, kAlreadyPending, kFull };

struct ReputationTotals {
  std::uint64_t subjects = 0;       // records in the store now
  std::uint64_t black_reports = 0;  // reports ever applied (survive pruning)
  std::uint64_t white_reports = 0;
  std::uint64_t requests = 0;  // removal requests stored
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
                std::size_t* skipped = nullptr, bool evidence = true) const;

  // Calls fn(subject, record) for each of `subjects` in one read
  // transaction; record is null for a subject without a readable record.
  void for_subjects(std::span<const Subject> subjects,
                    const std::function<void(const Subject&, const SubjectRecord*)>& fn,
                    bool evidence = true) const;

  // Deletes up to `max` records whose last report is before `before` and
  // that nothing keeps (listed, held, banned, exempt); returns how many it
  // deleted.
  std::size_t prune(UnixTime before, UnixTime now, std::size_t max);

  ReputationTotals totals() const;

  // Read-modify-write of one subject in one transaction; the record is
  // created (empty) when absent. Bumps generation() so that a running
  // collector republishes: operator actions use it.
  void update(const Subject& subject, const std::function<void(SubjectRecord&)>& fn);

  // Read-modify-write of records in one transaction: fn(i, record) for
  // subjects[i]. A subject without a record is skipped, or starts from an
  // empty record with `create`; an unreadable record is left alone. Does
  // not bump generation(): the publisher's own bookkeeping.
  void modify(std::span<const Subject> subjects,
              const std::function<void(std::size_t, SubjectRecord&)>& fn, bool create = false);

  // A counter bumped by update(): a running collector polls it.
  std::uint64_t generation() const;

  // The subjects changed by update() after generation `after` (oldest
  // first, repeats kept), up to `generation`. The store keeps the last
  // 4096; `complete` is false when the log no longer reaches back to
  // `after`, and the caller must then look at every subject.
  struct Touched {
    std::uint64_t generation = 0;
    bool complete = true;
    std::vector<Subject> subjects;
  };
  Touched touched_since(std::uint64_t after) const;

  // The running collector's settings (exigrey-collect --check-config text),
  // so that the operator's commands judge with the same policy.
  void put_settings_text(std::string_view text);
  std::optional<std::string> settings_text() const;

  // When each reporter was first seen (written by apply()).
  std::vector<std::pair<std::string, UnixTime>> reporters() const;

  // Removal requests: one pending per subject, at most `max` in all.
  RequestResult add_request(const RemovalRequest& request, std::size_t max);
  std::optional<RemovalRequest> request(const Subject& subject) const;
  std::vector<RemovalRequest> requests() const;  // oldest first
  bool drop_request(const Subject& subject);     // true when there was one

  // Forces buffered commits to disk (for SyncMode kNone / kMeta).
  void sync();

 private:
  std::string path_;
  StoreOptions options_;
};

}  // namespace exigrey

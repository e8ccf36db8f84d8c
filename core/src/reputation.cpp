// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/reputation.h"

#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "env.h"
#include "exigrey/error.h"
#include "exigrey/text.h"
#include "raw_store.h"

namespace exigrey {
namespace {

using namespace std::string_view_literals;  // "\0name"sv keeps the leading NUL

using detail::LeReader;
using detail::put_le;
using detail::val_of;
using detail::view_of;
using Txn = detail::RawTxn;
using Cursor = detail::RawCursor;

// Layout (docs/collector.md):
//   key 0x00 "format"         -> "exigrey-reputation 1" (env.cpp)
//   key 0x00 "black_reports"  -> u64 le, reports ever applied
//   key 0x00 "white_reports"  -> u64 le
//   key 0x20 kind text        -> record: u8 version=1 | u64 black | u64 white |
//                                i64 first | i64 last | i64 black_since |
//                                i64 white_since | u8 nvotes |
//                                nvotes x (u8 len | reporter | i64 black | i64 white)
//                                version 2 appends: u8 ncat | ncat x (u8 len | name |
//                                u64 reports | i64 last) | u16 len | last_note |
//                                u8 nhist | nhist x (i64 time | u8 kind | u8 len | text) |
//                                i64 listed_since | i64 hold_until | u32 offenses |
//                                i64 last_offense | i64 ban_until | u8 len | ban_reason |
//                                i64 delisted_at | i64 exempt_until | u8 len |
//                                delist_reason | u8 flags (1: network)
//                                (version 1 records read as version 2 with these empty)
//   key 0x30 reporter id      -> u64 le, the last report id committed (signed protocol)
//   key 0x40 kind text        -> removal request: i64 time | u8 len | client |
//                                u8 len | contact | u16 len | message
//   key 0x50 reporter id      -> i64 le, when the reporter was first seen
//   key 0x00 "generation"     -> u64 le, bumped by every operator action
//   key 0x60 u64 be gen       -> kind text: the subject that operator action
//                                changed (the last kTouchLogEntries kept)
//   key 0x00 "requests"       -> u64 le, removal requests stored
//   key 0x00 "settings"       -> the running collector's settings (key = value lines)
//   (all integers little-endian; kind is SubjectKind: 4, 6 or 'd')
constexpr std::string_view kReputationFormat = "exigrey-reputation 1";
constexpr char kSubjectNs = 0x20;
constexpr char kCursorNs = 0x30;
constexpr std::string_view kBlackKey = "\0black_reports"sv;
constexpr std::string_view kWhiteKey = "\0white_reports"sv;
constexpr char kRequestNs = 0x40;
constexpr char kReporterNs = 0x50;
constexpr char kTouchNs = 0x60;
constexpr std::uint64_t kTouchLogEntries = 4096;
constexpr std::string_view kGenerationKey = "\0generation"sv;
constexpr std::string_view kRequestsKey = "\0requests"sv;
constexpr std::string_view kSettingsKey = "\0settings"sv;
constexpr std::uint8_t kRecordVersion = 2;
constexpr std::size_t kFixedBytes = 1 + 8 + 8 + 8 * 4 + 1;

std::string touch_key(std::uint64_t generation) {
  std::string key(1, kTouchNs);
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((generation >> shift) & 0xff));  // big-endian: in order
  }
  return key;
}

std::string subject_key(const Subject& s, char ns = kSubjectNs) {
  std::string key;
  key.reserve(2 + s.text.size());
  key.push_back(ns);
  key.push_back(static_cast<char>(s.kind));
  key.append(s.text);
  return key;
}

std::optional<Subject> subject_of_key(std::string_view key, char ns = kSubjectNs) {
  if (key.size() < 3 || key[0] != ns) return std::nullopt;
  const auto kind = static_cast<unsigned char>(key[1]);
  if (kind != 4 && kind != 6 && kind != 'd') return std::nullopt;
  return Subject{static_cast<SubjectKind>(kind), std::string(key.substr(2))};
}

void add_saturating(std::uint64_t& counter, std::uint64_t n) {
  counter = counter > std::numeric_limits<std::uint64_t>::max() - n
                ? std::numeric_limits<std::uint64_t>::max()
                : counter + n;
}

detail::Env& env_for(const std::string& path, const StoreOptions& options) {
  return detail::Env::for_this_process(path, options, kReputationFormat);
}

bool live(UnixTime t, UnixTime now, std::int64_t ttl) { return t != 0 && t >= now - ttl; }

void put_text8(std::string& out, std::string_view text) {
  const std::size_t n = std::min<std::size_t>(text.size(), 255);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(n));
  out.append(text.substr(0, n));
}

void put_text16(std::string& out, std::string_view text) {
  const std::size_t n = std::min<std::size_t>(text.size(), 65535);
  put_le<std::uint16_t>(out, static_cast<std::uint16_t>(n));
  out.append(text.substr(0, n));
}

void note_category(SubjectRecord& record, std::string_view note, UnixTime at) {
  const std::string name = category_of_note(note);
  if (name.empty()) return;
  auto it = std::find_if(record.categories.begin(), record.categories.end(),
                         [&](const CategoryCount& c) { return c.name == name; });
  if (it == record.categories.end()) {
    if (record.categories.size() >= kMaxCategories) {
      record.categories.erase(std::min_element(
          record.categories.begin(), record.categories.end(),
          [](const CategoryCount& a, const CategoryCount& b) { return a.last < b.last; }));
    }
    record.categories.push_back(CategoryCount{name, 0, 0});
    it = record.categories.end() - 1;
  }
  add_saturating(it->reports, 1);
  it->last = std::max(it->last, at);
}

// Nothing may delete a record that still decides something.
bool kept(const SubjectRecord& r, UnixTime now) {
  return r.listed_since != 0 || r.hold_until > now || r.ban_until > now || r.exempt_until > now;
}

}  // namespace

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kListed:
      return "listed";
    case EventKind::kUnlisted:
      return "unlisted";
    case EventKind::kBanned:
      return "banned";
    case EventKind::kUnbanned:
      return "unbanned";
    case EventKind::kDelisted:
      return "delisted";
    case EventKind::kRequest:
      return "removal-request";
  }
  return "?";
}

std::string category_of_note(std::string_view note) {
  std::size_t i = 0;
  while (i < note.size() && (note[i] == ' ' || note[i] == '\t')) ++i;
  std::size_t j = i;
  while (j < note.size() && note[j] != ' ' && note[j] != '\t') ++j;
  std::string_view word = note.substr(i, j - i);
  while (!word.empty() && (word.back() == ':' || word.back() == ',')) word.remove_suffix(1);
  if (word.empty()) return {};
  if (word.size() > kMaxCategoryBytes) return "other";
  std::string out;
  for (char c : word) {
    const char lower = ascii_lower(c);
    const bool ok = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') ||
                    lower == '_' || lower == '-';
    if (!ok) return "other";
    out.push_back(lower);
  }
  return out;
}

std::string sanitize_text(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (out.size() > max) {
    std::size_t cut = max;
    // Back up over UTF-8 continuation bytes so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

void add_event(SubjectRecord& record, UnixTime time, EventKind kind, std::string_view text) {
  if (record.history.size() >= kMaxHistory) {
    record.history.erase(record.history.begin(),
                         record.history.begin() +
                             static_cast<std::ptrdiff_t>(record.history.size() - kMaxHistory + 1));
  }
  record.history.push_back(HistoryEvent{time, kind, sanitize_text(text)});
}

void apply_report(SubjectRecord& record, Verb verb, std::string_view reporter, UnixTime at,
                  UnixTime now, std::int64_t ttl, std::string_view note) {
  if (reporter.empty() || reporter.size() > kMaxReporterBytes) {
    throw UsageError(fmt::format("exigrey: reporter id must be 1..{} bytes", kMaxReporterBytes));
  }
  if (ttl < 0) ttl = 0;
  if (at <= 0 || at > now) at = now;
  // Times stored while the clock ran ahead are brought back to now, so that a
  // vote from the "future" expires `ttl` after now rather than `ttl` after a
  // time the clock may not reach for years (docs/reliability.md).
  record.last_seen = std::min(record.last_seen, now);
  record.black_since = std::min(record.black_since, now);
  record.white_since = std::min(record.white_since, now);
  for (Vote& v : record.votes) {
    v.last_black = std::min(v.last_black, now);
    v.last_white = std::min(v.last_white, now);
  }
  const bool black = verb == Verb::kBlack;
  add_saturating(black ? record.black_reports : record.white_reports, 1);
  if (record.first_seen == 0 || at < record.first_seen) record.first_seen = at;
  record.last_seen = std::max(record.last_seen, at);
  if (black && !note.empty()) {
    note_category(record, note, at);
    record.last_note = sanitize_text(note);
  }

  // Forget votes that no longer count, so the set holds live opinions only.
  std::erase_if(record.votes, [&](const Vote& v) {
    return !live(v.last_black, now, ttl) && !live(v.last_white, now, ttl);
  });
  if (!live(at, now, ttl)) return;  // too old to vote (a long-queued report)

  const bool any_live = std::any_of(record.votes.begin(), record.votes.end(), [&](const Vote& v) {
    return live(black ? v.last_black : v.last_white, now, ttl);
  });
  UnixTime& since = black ? record.black_since : record.white_since;
  if (!any_live || since == 0) since = at;

  auto it = std::find_if(record.votes.begin(), record.votes.end(),
                         [&](const Vote& v) { return v.reporter == reporter; });
  if (it == record.votes.end()) {
    if (record.votes.size() >= kMaxVotesPerSubject) {
      auto oldest = std::min_element(
          record.votes.begin(), record.votes.end(), [](const Vote& a, const Vote& b) {
            return std::max(a.last_black, a.last_white) < std::max(b.last_black, b.last_white);
          });
      record.votes.erase(oldest);
    }
    record.votes.push_back(Vote{std::string(reporter), 0, 0});
    it = record.votes.end() - 1;
  }
  UnixTime& last = black ? it->last_black : it->last_white;
  last = std::max(last, at);
}

std::string encode_subject_record(const SubjectRecord& r) {
  std::string out;
  out.reserve(kFixedBytes + r.votes.size() * 48);
  put_le<std::uint8_t>(out, kRecordVersion);
  put_le<std::uint64_t>(out, r.black_reports);
  put_le<std::uint64_t>(out, r.white_reports);
  put_le<std::int64_t>(out, r.first_seen);
  put_le<std::int64_t>(out, r.last_seen);
  put_le<std::int64_t>(out, r.black_since);
  put_le<std::int64_t>(out, r.white_since);
  const std::size_t n = std::min(r.votes.size(), kMaxVotesPerSubject);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const Vote& v = r.votes[i];
    const std::size_t len = std::min(v.reporter.size(), kMaxReporterBytes);
    put_le<std::uint8_t>(out, static_cast<std::uint8_t>(len));
    out.append(v.reporter, 0, len);
    put_le<std::int64_t>(out, v.last_black);
    put_le<std::int64_t>(out, v.last_white);
  }
  const std::size_t ncat = std::min(r.categories.size(), kMaxCategories);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(ncat));
  for (std::size_t i = 0; i < ncat; ++i) {
    put_text8(out, r.categories[i].name);
    put_le<std::uint64_t>(out, r.categories[i].reports);
    put_le<std::int64_t>(out, r.categories[i].last);
  }
  put_text16(out, r.last_note);
  const std::size_t first = r.history.size() > kMaxHistory ? r.history.size() - kMaxHistory : 0;
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.history.size() - first));
  for (std::size_t i = first; i < r.history.size(); ++i) {
    put_le<std::int64_t>(out, r.history[i].time);
    put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.history[i].kind));
    put_text8(out, r.history[i].text);
  }
  put_le<std::int64_t>(out, r.listed_since);
  put_le<std::int64_t>(out, r.hold_until);
  put_le<std::uint32_t>(out, r.offenses);
  put_le<std::int64_t>(out, r.last_offense);
  put_le<std::int64_t>(out, r.ban_until);
  put_text8(out, r.ban_reason);
  put_le<std::int64_t>(out, r.delisted_at);
  put_le<std::int64_t>(out, r.exempt_until);
  put_text8(out, r.delist_reason);
  put_le<std::uint8_t>(out, r.network ? 1 : 0);
  return out;
}

SubjectRecord decode_subject_record(std::string_view bytes, bool evidence) {
  LeReader in(bytes, "exigrey: corrupt record in the reputation store");
  const auto version = in.get<std::uint8_t>();
  if (version != 1 && version != kRecordVersion) in.corrupt();
  SubjectRecord r;
  r.black_reports = in.get<std::uint64_t>();
  r.white_reports = in.get<std::uint64_t>();
  r.first_seen = in.get<std::int64_t>();
  r.last_seen = in.get<std::int64_t>();
  r.black_since = in.get<std::int64_t>();
  r.white_since = in.get<std::int64_t>();
  const std::size_t n = in.get<std::uint8_t>();
  if (n > kMaxVotesPerSubject) in.corrupt();
  r.votes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Vote v;
    const std::size_t len = in.get<std::uint8_t>();
    if (len == 0 || len > kMaxReporterBytes) in.corrupt();
    v.reporter = std::string(in.bytes(len));
    v.last_black = in.get<std::int64_t>();
    v.last_white = in.get<std::int64_t>();
    r.votes.push_back(std::move(v));
  }
  if (version >= 2) {
    const std::size_t ncat = in.get<std::uint8_t>();
    if (ncat > kMaxCategories) in.corrupt();
    for (std::size_t i = 0; i < ncat; ++i) {
      CategoryCount c;
      c.name = std::string(in.bytes(in.get<std::uint8_t>()));
      if (c.name.empty() || c.name.size() > kMaxCategoryBytes) in.corrupt();
      c.reports = in.get<std::uint64_t>();
      c.last = in.get<std::int64_t>();
      r.categories.push_back(std::move(c));
    }
    const std::string_view note = in.bytes(in.get<std::uint16_t>());
    if (evidence) r.last_note = std::string(note);
    const std::size_t nhist = in.get<std::uint8_t>();
    if (nhist > kMaxHistory) in.corrupt();
    for (std::size_t i = 0; i < nhist; ++i) {
      HistoryEvent e;
      e.time = in.get<std::int64_t>();
      const auto kind = in.get<std::uint8_t>();
      if (kind < 1 || kind > 6) in.corrupt();
      e.kind = static_cast<EventKind>(kind);
      const std::string_view text = in.bytes(in.get<std::uint8_t>());
      if (!evidence) continue;  // checked, not kept
      e.text = std::string(text);
      r.history.push_back(std::move(e));
    }
    r.listed_since = in.get<std::int64_t>();
    r.hold_until = in.get<std::int64_t>();
    r.offenses = in.get<std::uint32_t>();
    r.last_offense = in.get<std::int64_t>();
    r.ban_until = in.get<std::int64_t>();
    r.ban_reason = std::string(in.bytes(in.get<std::uint8_t>()));
    r.delisted_at = in.get<std::int64_t>();
    r.exempt_until = in.get<std::int64_t>();
    r.delist_reason = std::string(in.bytes(in.get<std::uint8_t>()));
    const auto flags = in.get<std::uint8_t>();
    if (flags > 1) in.corrupt();
    r.network = flags == 1;
  }
  if (!in.done()) in.corrupt();
  return r;
}

std::string ReputationStore::path_in(std::string_view dir) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p += '/';
  p += kReputationName;
  return p;
}

StoreOptions ReputationStore::default_options() {
  return StoreOptions{
      .sync = SyncMode::kMeta, .map_size = kDefaultReputationMapSize, .read_only = false};
}

ReputationStore::ReputationStore(std::string path, StoreOptions options)
    : path_(std::move(path)), options_(options) {}

void ReputationStore::apply(std::span<const IncomingReport> reports, UnixTime now, std::int64_t ttl,
                            std::span<const ReporterCursor> cursors) {
  if (reports.empty() && cursors.empty()) return;
  for (const IncomingReport& r : reports) {
    if (r.reporter.empty() || r.reporter.size() > kMaxReporterBytes) {
      throw UsageError(fmt::format("exigrey: reporter id must be 1..{} bytes", kMaxReporterBytes));
    }
  }
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  std::uint64_t black = 0, white = 0;
  std::string key, value;
  for (const IncomingReport& r : reports) {
    key = subject_key(r.report.subject);
    SubjectRecord record;
    if (const auto found = txn.find(key)) {
      try {
        record = decode_subject_record(*found);
      } catch (const StoreError&) {
        record = SubjectRecord{};  // start afresh rather than block every report on it
      }
    }
    apply_report(record, r.report.verb, r.reporter, r.report.time, now, ttl, r.report.note);
    value = encode_subject_record(record);
    txn.put(key, value);
    ++(r.report.verb == Verb::kBlack ? black : white);
  }
  if (black > 0) {
    std::uint64_t total = txn.counter(kBlackKey);
    add_saturating(total, black);
    txn.put_counter(kBlackKey, total);
  }
  if (white > 0) {
    std::uint64_t total = txn.counter(kWhiteKey);
    add_saturating(total, white);
    txn.put_counter(kWhiteKey, total);
  }
  // First sight of each reporter (probation, reputation_policy.h). A batch
  // has few reporters and many reports: look each one up once.
  std::vector<std::string_view> seen;
  for (const IncomingReport& r : reports) {
    if (std::find(seen.begin(), seen.end(), r.reporter) != seen.end()) continue;
    if (seen.size() < 64) seen.push_back(r.reporter);
    key.assign(1, kReporterNs);
    key += r.reporter;
    if (!txn.find(key)) txn.put_counter(key, static_cast<std::uint64_t>(now));
  }
  for (const ReporterCursor& c : cursors) {
    if (c.reporter.empty() || c.reporter.size() > kMaxReporterBytes) {
      throw UsageError(fmt::format("exigrey: reporter id must be 1..{} bytes", kMaxReporterBytes));
    }
    key.assign(1, kCursorNs);
    key += c.reporter;
    // Never move a cursor backwards (two batches of one reporter in one commit).
    if (txn.counter(key) < c.last_id) txn.put_counter(key, c.last_id);
  }
  txn.commit();
}

std::uint64_t ReputationStore::reporter_cursor(std::string_view reporter) const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  std::string key(1, kCursorNs);
  key += reporter;
  return txn.counter(key);
}

std::optional<SubjectRecord> ReputationStore::get(const Subject& subject) const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  const auto found = txn.find(subject_key(subject));
  if (!found) return std::nullopt;
  return decode_subject_record(*found);
}

void ReputationStore::for_each(const std::function<bool(const Subject&, const SubjectRecord&)>& fn,
                               std::size_t* skipped, bool evidence) const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  Cursor cur(env, txn.get());
  const char start_byte = kSubjectNs;
  MDB_val k{1, const_cast<char*>(&start_byte)}, v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok; ok = cur.get(k, v, MDB_NEXT)) {
    const std::string_view key = view_of(k);
    if (key.empty() || key[0] != kSubjectNs) break;
    const auto subject = subject_of_key(key);
    std::optional<SubjectRecord> record;
    if (subject) {
      try {
        record = decode_subject_record(view_of(v), evidence);
      } catch (const StoreError&) {
      }
    }
    if (!subject || !record) {
      if (skipped != nullptr) ++*skipped;
      continue;
    }
    if (!fn(*subject, *record)) break;
  }
}

std::size_t ReputationStore::prune(UnixTime before, UnixTime now, std::size_t max) {
  if (max == 0) return 0;
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  std::size_t deleted = 0;
  {
    Cursor cur(env, txn.get());
    const char start_byte = kSubjectNs;
    MDB_val k{1, const_cast<char*>(&start_byte)}, v{};
    bool ok = cur.get(k, v, MDB_SET_RANGE);
    while (ok && deleted < max) {
      const std::string_view key = view_of(k);
      if (key.empty() || key[0] != kSubjectNs) break;
      bool drop = false;
      try {
        const SubjectRecord r = decode_subject_record(view_of(v));
        drop = r.last_seen < before && !kept(r, now) &&
               (r.history.empty() || r.history.back().time < before);
      } catch (const StoreError&) {
        drop = true;  // unreadable: nothing can use it
      }
      if (drop) {
        cur.del();
        ++deleted;
      }
      // After a delete, MDB_NEXT yields the record that took the deleted one's place.
      ok = cur.get(k, v, MDB_NEXT);
    }
  }
  txn.commit();
  return deleted;
}

ReputationTotals ReputationStore::totals() const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  ReputationTotals t;
  t.black_reports = txn.counter(kBlackKey);
  t.white_reports = txn.counter(kWhiteKey);
  MDB_stat st{};
  const int rc = mdb_stat(txn.get(), env.dbi(), &st);
  if (rc != 0) env.fail("mdb_stat", rc);
  // Everything but subjects: fixed keys, per-reporter keys (few) and the
  // requests, whose count is kept exactly.
  std::uint64_t meta = 1;  // the format key
  for (std::string_view k : {kBlackKey, kWhiteKey, kGenerationKey, kRequestsKey, kSettingsKey}) {
    if (txn.find(k)) ++meta;
  }
  t.requests = txn.counter(kRequestsKey);
  meta += t.requests;
  for (const char ns : {kCursorNs, kReporterNs, kTouchNs}) {
    Cursor cur(env, txn.get());
    MDB_val k{1, const_cast<char*>(&ns)}, v{};
    for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && view_of(k)[0] == ns;
         ok = cur.get(k, v, MDB_NEXT)) {
      ++meta;
    }
  }
  t.subjects = st.ms_entries >= meta ? st.ms_entries - meta : 0;
  return t;
}

void ReputationStore::update(const Subject& subject,
                             const std::function<void(SubjectRecord&)>& fn) {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  const std::string key = subject_key(subject);
  SubjectRecord record;
  if (const auto found = txn.find(key)) record = decode_subject_record(*found);
  fn(record);
  txn.put(key, encode_subject_record(record));
  const std::uint64_t generation = txn.counter(kGenerationKey) + 1;
  txn.put_counter(kGenerationKey, generation);
  // The touch log tells a running collector which subject changed, so that
  // it evaluates that one instead of the whole store.
  txn.put(touch_key(generation), key.substr(1));
  if (generation > kTouchLogEntries) txn.erase(touch_key(generation - kTouchLogEntries));
  txn.commit();
}

ReputationStore::Touched ReputationStore::touched_since(std::uint64_t after) const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  Touched out;
  out.generation = txn.counter(kGenerationKey);
  if (out.generation <= after) return out;
  Cursor cur(env, txn.get());
  std::string first = touch_key(after + 1);
  MDB_val k{first.size(), first.data()}, v{};
  bool ok = cur.get(k, v, MDB_SET_RANGE);
  // The log must reach back to after + 1, or what came before is unknown.
  out.complete = ok && view_of(k) == first;
  for (; ok && out.complete; ok = cur.get(k, v, MDB_NEXT)) {
    const std::string_view key = view_of(k);
    if (key.empty() || key[0] != kTouchNs) break;
    std::string skey;
    skey.reserve(1 + v.mv_size);
    skey.push_back(kSubjectNs);
    skey.append(view_of(v));
    if (auto subject = subject_of_key(skey)) out.subjects.push_back(std::move(*subject));
  }
  return out;
}

void ReputationStore::for_subjects(
    std::span<const Subject> subjects,
    const std::function<void(const Subject&, const SubjectRecord*)>& fn, bool evidence) const {
  if (subjects.empty()) return;
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  for (const Subject& subject : subjects) {
    std::optional<SubjectRecord> record;
    if (const auto found = txn.find(subject_key(subject))) {
      try {
        record = decode_subject_record(*found, evidence);
      } catch (const StoreError&) {
        // Unreadable: as if absent (never listed), as for_each skips it.
      }
    }
    fn(subject, record ? &*record : nullptr);
  }
}

void ReputationStore::modify(std::span<const Subject> subjects,
                             const std::function<void(std::size_t, SubjectRecord&)>& fn,
                             bool create) {
  if (subjects.empty()) return;
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  std::string key;
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    key = subject_key(subjects[i]);
    SubjectRecord record;
    if (const auto found = txn.find(key)) {
      try {
        record = decode_subject_record(*found);
      } catch (const StoreError&) {
        continue;  // left for prune: never write over what cannot be read
      }
    } else if (!create) {
      continue;
    }
    fn(i, record);
    txn.put(key, encode_subject_record(record));
  }
  txn.commit();
}

std::uint64_t ReputationStore::generation() const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  return txn.counter(kGenerationKey);
}

void ReputationStore::put_settings_text(std::string_view text) {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  if (const auto old = txn.find(kSettingsKey); old && *old == text) return;
  txn.put(kSettingsKey, text);
  txn.commit();
}

std::optional<std::string> ReputationStore::settings_text() const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  const auto found = txn.find(kSettingsKey);
  if (!found) return std::nullopt;
  return std::string(*found);
}

std::vector<std::pair<std::string, UnixTime>> ReputationStore::reporters() const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  Cursor cur(env, txn.get());
  std::vector<std::pair<std::string, UnixTime>> out;
  const char start_byte = kReporterNs;
  MDB_val k{1, const_cast<char*>(&start_byte)}, v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok; ok = cur.get(k, v, MDB_NEXT)) {
    const std::string_view key = view_of(k);
    if (key.empty() || key[0] != kReporterNs) break;
    LeReader in(view_of(v), "exigrey: corrupt reporter entry in the reputation store");
    out.emplace_back(std::string(key.substr(1)), static_cast<UnixTime>(in.get<std::uint64_t>()));
  }
  return out;
}

namespace {

std::string encode_request(const RemovalRequest& r) {
  std::string out;
  put_le<std::int64_t>(out, r.time);
  put_text8(out, r.client);
  put_text8(out, r.contact);
  put_text16(out, r.message);
  return out;
}

RemovalRequest decode_request(const Subject& subject, std::string_view bytes) {
  LeReader in(bytes, "exigrey: corrupt removal request in the reputation store");
  RemovalRequest r;
  r.subject = subject;
  r.time = in.get<std::int64_t>();
  r.client = std::string(in.bytes(in.get<std::uint8_t>()));
  r.contact = std::string(in.bytes(in.get<std::uint8_t>()));
  r.message = std::string(in.bytes(in.get<std::uint16_t>()));
  if (!in.done()) in.corrupt();
  return r;
}

}  // namespace

RequestResult ReputationStore::add_request(const RemovalRequest& request, std::size_t max) {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  const std::string key = subject_key(request.subject, kRequestNs);
  if (txn.find(key)) return RequestResult::kAlreadyPending;
  const std::uint64_t stored = txn.counter(kRequestsKey);
  if (stored >= max) return RequestResult::kFull;
  RemovalRequest clean = request;
  clean.client = sanitize_text(clean.client, 64);
  clean.contact = sanitize_text(clean.contact, kMaxRequestContactBytes);
  clean.message = sanitize_text(clean.message, kMaxRequestMessageBytes);
  txn.put(key, encode_request(clean));
  txn.put_counter(kRequestsKey, stored + 1);
  // The subject's history says that someone asked (never who).
  const std::string skey = subject_key(request.subject);
  if (const auto found = txn.find(skey)) {
    try {
      SubjectRecord record = decode_subject_record(*found);
      add_event(record, request.time, EventKind::kRequest, "removal requested");
      txn.put(skey, encode_subject_record(record));
    } catch (const StoreError&) {
    }
  }
  txn.commit();
  return RequestResult::kRecorded;
}

std::optional<RemovalRequest> ReputationStore::request(const Subject& subject) const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  const auto found = txn.find(subject_key(subject, kRequestNs));
  if (!found) return std::nullopt;
  return decode_request(subject, *found);
}

std::vector<RemovalRequest> ReputationStore::requests() const {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kRead);
  Cursor cur(env, txn.get());
  std::vector<RemovalRequest> out;
  const char start_byte = kRequestNs;
  MDB_val k{1, const_cast<char*>(&start_byte)}, v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok; ok = cur.get(k, v, MDB_NEXT)) {
    const std::string_view key = view_of(k);
    if (key.empty() || key[0] != kRequestNs) break;
    const auto subject = subject_of_key(key, kRequestNs);
    if (!subject) continue;
    try {
      out.push_back(decode_request(*subject, view_of(v)));
    } catch (const StoreError&) {
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const RemovalRequest& a, const RemovalRequest& b) {
    return a.time < b.time;
  });
  return out;
}

bool ReputationStore::drop_request(const Subject& subject) {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  const std::string key = subject_key(subject, kRequestNs);
  if (!txn.find(key)) return false;
  txn.erase(key);
  const std::uint64_t stored = txn.counter(kRequestsKey);
  txn.put_counter(kRequestsKey, stored > 0 ? stored - 1 : 0);
  txn.commit();
  return true;
}

void ReputationStore::sync() {
  detail::Env& env = env_for(path_, options_);
  if (options_.read_only) return;
  const int rc = mdb_env_sync(env.get(), 1);
  if (rc != 0) env.fail("mdb_env_sync", rc);
}

}  // namespace exigrey

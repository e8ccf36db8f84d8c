#include "exigrey/reputation.h"

#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "env.h"
#include "raw_store.h"
#include "exigrey/error.h"

namespace exigrey {
namespace {

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
//   key 0x30 reporter id      -> u64 le, the last report id committed (signed protocol)
//   (all integers little-endian; kind is SubjectKind: 4, 6 or 'd')
constexpr std::string_view kReputationFormat = "exigrey-reputation 1";
constexpr char kSubjectNs = 0x20;
constexpr char kCursorNs = 0x30;
constexpr std::string_view kBlackKey = std::string_view(
    "\x00"
    "black_reports",
    14);
constexpr std::string_view kWhiteKey = std::string_view(
    "\x00"
    "white_reports",
    14);
constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kFixedBytes = 1 + 8 + 8 + 8 * 4 + 1;

std::string subject_key(const Subject& s) {
  std::string key;
  key.reserve(2 + s.text.size());
  key.push_back(kSubjectNs);
  key.push_back(static_cast<char>(s.kind));
  key.append(s.text);
  return key;
}

std::optional<Subject> subject_of_key(std::string_view key) {
  if (key.size() < 3 || key[0] != kSubjectNs) return std::nullopt;
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

}  // namespace

void apply_report(SubjectRecord& record, Verb verb, std::string_view reporter, UnixTime at,
                  UnixTime now, std::int64_t ttl) {
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
  return out;
}

SubjectRecord decode_subject_record(std::string_view bytes) {
  LeReader in(bytes, "exigrey: corrupt record in the reputation store");
  if (in.get<std::uint8_t>() != kRecordVersion) in.corrupt();
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

void ReputationStore::apply(std::span<const IncomingReport> reports, UnixTime now,
                            std::int64_t ttl, std::span<const ReporterCursor> cursors) {
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
    apply_report(record, r.report.verb, r.reporter, r.report.time, now, ttl);
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
                               std::size_t* skipped) const {
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
        record = decode_subject_record(view_of(v));
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

std::size_t ReputationStore::prune(UnixTime before, std::size_t max) {
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
        drop = decode_subject_record(view_of(v)).last_seen < before;
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
  std::uint64_t meta = 1;  // the format key
  if (t.black_reports > 0) ++meta;
  if (t.white_reports > 0) ++meta;
  {
    // Reporter cursors are not subjects (one per signed reporter: few).
    Cursor cur(env, txn.get());
    const char start_byte = kCursorNs;
    MDB_val k{1, const_cast<char*>(&start_byte)}, v{};
    for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && view_of(k)[0] == kCursorNs;
         ok = cur.get(k, v, MDB_NEXT)) {
      ++meta;
    }
  }
  t.subjects = st.ms_entries >= meta ? st.ms_entries - meta : 0;
  return t;
}

void ReputationStore::sync() {
  detail::Env& env = env_for(path_, options_);
  if (options_.read_only) return;
  const int rc = mdb_env_sync(env.get(), 1);
  if (rc != 0) env.fail("mdb_env_sync", rc);
}

}  // namespace exigrey

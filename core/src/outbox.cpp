// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/outbox.h"

#include <fmt/format.h>
#include <lmdb.h>

#include <cstring>
#include <utility>

#include "env.h"
#include "exigrey/error.h"
#include "raw_store.h"

namespace exigrey {
namespace {

using detail::LeReader;
using detail::put_le;
using Txn = detail::RawTxn;
using Cursor = detail::RawCursor;

// Layout (docs/internals.md):
//   key 0x00 "next"    -> u64 next sequence number
//   key 0x00 "dropped" -> u64 reports dropped at the bound
//   key 0x10 + u64be seq -> u8 version=1 | i64 time | u8 verb | u8 kind |
//                          u16 subject_len | subject | note
constexpr std::string_view kOutboxFormat = "exigrey-outbox 1";
constexpr char kReportNs = 0x10;
constexpr std::string_view kNextKey = std::string_view(
    "\x00"
    "next",
    5);
constexpr std::string_view kDroppedKey = std::string_view(
    "\x00"
    "dropped",
    8);
constexpr std::uint8_t kReportVersion = 1;

struct SeqKey {
  explicit SeqKey(std::uint64_t seq) {
    bytes[0] = kReportNs;
    for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<char>((seq >> (56 - 8 * i)) & 0xff);
  }
  MDB_val val() { return MDB_val{sizeof bytes, bytes}; }
  char bytes[9];
};

std::uint64_t seq_of(const MDB_val& k) {
  std::uint64_t seq = 0;
  const auto* p = static_cast<const unsigned char*>(k.mv_data);
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | p[1 + i];
  return seq;
}

bool is_report_key(const MDB_val& k) {
  return k.mv_size == 9 && static_cast<const char*>(k.mv_data)[0] == kReportNs;
}

std::string encode(const Report& r) {
  std::string out;
  out.reserve(21 + r.subject.text.size() + r.note.size());
  put_le<std::uint8_t>(out, kReportVersion);
  put_le<std::int64_t>(out, r.time);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.verb));
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.subject.kind));
  put_le<std::uint16_t>(out, static_cast<std::uint16_t>(r.subject.text.size()));
  out.append(r.subject.text);
  out.append(r.note);
  return out;
}

Report decode(const MDB_val& v) {
  LeReader in(detail::view_of(v), "exigrey: corrupt report in the outbox");
  if (in.get<std::uint8_t>() != kReportVersion) in.corrupt();
  Report r;
  r.time = in.get<std::int64_t>();
  const auto verb = in.get<std::uint8_t>();
  const auto kind = in.get<std::uint8_t>();
  if ((verb != 1 && verb != 2) || (kind != 4 && kind != 6 && kind != 'd')) in.corrupt();
  r.verb = static_cast<Verb>(verb);
  r.subject.kind = static_cast<SubjectKind>(kind);
  r.subject.text = std::string(in.bytes(in.get<std::uint16_t>()));
  r.note = std::string(in.rest());
  return r;
}

StoreOptions store_options(const OutboxOptions& o) {
  // Durability is the outbox's purpose: always full sync, whatever the greylist uses.
  return StoreOptions{.sync = SyncMode::kFull, .map_size = o.map_size, .read_only = o.read_only};
}

detail::Env& env_for(const std::string& path, const OutboxOptions& o) {
  return detail::Env::for_this_process(path, store_options(o), kOutboxFormat);
}

}  // namespace

std::string Outbox::path_in(std::string_view dir) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p += '/';
  p += kOutboxName;
  return p;
}

Outbox::Outbox(std::string path, OutboxOptions options)
    : path_(std::move(path)), options_(options) {
  if (options_.max_pending == 0) throw UsageError("exigrey: outbox max_pending must be above 0");
}

std::uint64_t Outbox::append(const Report& report) {
  detail::Env& env = env_for(path_, options_);
  const std::string value = encode(report);
  Txn txn(env, Txn::kWrite);
  const std::uint64_t seq = txn.counter(kNextKey, 1);
  SeqKey key(seq);
  txn.put(detail::view_of(key.val()), value);
  txn.put_counter(kNextKey, seq + 1);
  // Enforce the bound by dropping the oldest: pending = last - first + holes,
  // so count only when the span could exceed it.
  {
    Cursor cur(env, txn.get());
    MDB_val k{}, v{};
    SeqKey first_key(0);
    k = first_key.val();
    if (cur.get(k, v, MDB_SET_RANGE) && is_report_key(k) &&
        seq - seq_of(k) + 1 > options_.max_pending) {
      MDB_stat st{};
      mdb_stat(txn.get(), env.dbi(), &st);
      // Entries are the reports plus the meta keys: format, next and maybe dropped.
      const std::uint64_t dropped_before = txn.counter(kDroppedKey, 0);
      const std::uint64_t meta = 2 + (dropped_before > 0 ? 1 : 0);
      std::uint64_t pending = st.ms_entries >= meta ? st.ms_entries - meta : 0;
      std::uint64_t dropped = 0;
      while (pending > options_.max_pending && is_report_key(k)) {
        cur.del();
        --pending;
        ++dropped;
        if (!cur.get(k, v, MDB_GET_CURRENT) && !cur.get(k, v, MDB_NEXT)) break;
      }
      if (dropped > 0) txn.put_counter(kDroppedKey, dropped_before + dropped);
    }
  }
  txn.commit();
  return seq;
}

std::vector<OutboxEntry> Outbox::peek(std::size_t max, std::uint64_t after) const {
  detail::Env& env = env_for(path_, options_);
  std::vector<OutboxEntry> out;
  Txn txn(env, Txn::kRead);
  Cursor cur(env, txn.get());
  SeqKey start(after + 1);
  MDB_val k = start.val(), v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && is_report_key(k) && out.size() < max;
       ok = cur.get(k, v, MDB_NEXT)) {
    out.push_back(OutboxEntry{seq_of(k), decode(v)});
  }
  return out;
}

std::size_t Outbox::remove(std::span<const std::uint64_t> seqs) {
  if (seqs.empty()) return 0;
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  std::size_t removed = 0;
  for (const std::uint64_t seq : seqs) {
    SeqKey key(seq);
    MDB_val k = key.val();
    const int rc = mdb_del(txn.get(), env.dbi(), &k, nullptr);
    if (rc == 0) {
      ++removed;
    } else if (rc != MDB_NOTFOUND) {
      env.fail("mdb_del", rc);
    }
  }
  txn.commit();
  return removed;
}

std::size_t Outbox::remove_upto(std::uint64_t last) {
  detail::Env& env = env_for(path_, options_);
  Txn txn(env, Txn::kWrite);
  std::size_t removed = 0;
  {
    Cursor cur(env, txn.get());
    SeqKey start(0);
    MDB_val k = start.val(), v{};
    bool ok = cur.get(k, v, MDB_SET_RANGE);
    while (ok && is_report_key(k) && seq_of(k) <= last) {
      cur.del();  // the cursor now stands on the next entry, if any
      ++removed;
      ok = cur.get(k, v, MDB_GET_CURRENT);
    }
  }
  if (removed == 0) return 0;  // nothing to commit; the destructor aborts
  txn.commit();
  return removed;
}

OutboxStats Outbox::stats() const {
  detail::Env& env = env_for(path_, options_);
  OutboxStats s;
  Txn txn(env, Txn::kRead);
  s.next_seq = txn.counter(kNextKey, 1);
  s.dropped = txn.counter(kDroppedKey, 0);
  Cursor cur(env, txn.get());
  SeqKey start(0);
  MDB_val k = start.val(), v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && is_report_key(k);
       ok = cur.get(k, v, MDB_NEXT)) {
    const Report r = decode(v);
    ++s.pending;
    (r.verb == Verb::kBlack ? s.black : s.white)++;
    if (!s.oldest || r.time < *s.oldest) s.oldest = r.time;
  }
  return s;
}

OutboxStats Outbox::summary() const {
  detail::Env& env = env_for(path_, options_);
  OutboxStats s;
  Txn txn(env, Txn::kRead);
  s.next_seq = txn.counter(kNextKey, 1);
  s.dropped = txn.counter(kDroppedKey, 0);
  MDB_stat st{};
  if (const int rc = mdb_stat(txn.get(), env.dbi(), &st); rc != 0) env.fail("mdb_stat", rc);
  Cursor cur(env, txn.get());
  // Everything before the first report key is a meta record (format, next, dropped).
  std::uint64_t meta = 0;
  MDB_val k{}, v{};
  for (bool ok = cur.get(k, v, MDB_FIRST); ok && !is_report_key(k); ok = cur.get(k, v, MDB_NEXT)) {
    ++meta;
  }
  s.pending = st.ms_entries - meta;
  if (s.pending > 0 && is_report_key(k)) s.oldest = decode(v).time;
  return s;
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/peers.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "env.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/records.h"
#include "peer_log.h"
#include "raw_store.h"
#include "store_access.h"

namespace exigrey {
namespace {

using detail::Env;
using detail::LeReader;
using detail::RawCursor;
using detail::RawTxn;
using detail::val_of;
using detail::view_of;

constexpr std::string_view kPeerDroppedKey = std::string_view(
    "\x00"
    "peerdropped",
    12);
static_assert(kPeerDroppedKey.starts_with(detail::kPeerMetaPrefix));

std::string cursor_key(std::string_view peer) {
  std::string k(
      "\x00"
      "peer:",
      6);
  k.append(peer);
  return k;
}

bool is_peer_log_key(std::string_view key) {
  return key.size() == 9 && key[0] == detail::kPeerLogNs;
}

std::uint64_t seq_of(std::string_view key) {
  std::uint64_t seq = 0;
  for (std::size_t i = 1; i < 9; ++i) seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  return seq;
}

// The record a logged LMDB key names, as it is now; nullopt when it is gone
// or does not decode (a damaged record is not shipped).
std::optional<LoadedRecord> current(RawTxn& txn, std::string_view key) {
  const auto value = txn.find(key);
  if (!value || key.empty()) return std::nullopt;
  const auto ns = static_cast<Namespace>(key[0]);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(value->data()),
                                         value->size());
  LoadedRecord out;
  try {
    switch (ns) {
      case Namespace::kItem:
      case Namespace::kItemHashed: {
        const bool hashed = ns == Namespace::kItemHashed;
        std::string full;
        out.kind = LoadedRecord::Kind::kItem;
        out.item = decode_item(bytes, hashed, hashed ? &full : nullptr);
        out.name = hashed ? std::move(full) : std::string(key.substr(1));
        return out;
      }
      case Namespace::kWhitelist:
      case Namespace::kWhitelistHashed: {
        const bool hashed = ns == Namespace::kWhitelistHashed;
        std::string full;
        out.kind = LoadedRecord::Kind::kWhitelist;
        out.entry = decode_whitelist(bytes, hashed, hashed ? &full : nullptr);
        out.name = hashed ? std::move(full) : std::string(key.substr(1));
        return out;
      }
      default:
        return std::nullopt;
    }
  } catch (const StoreError&) {
    return std::nullopt;
  }
}

UnixTime clamp_future(UnixTime t, UnixTime now) { return t - now > kFutureTolerance ? now : t; }

}  // namespace

ItemRecord merge_item(const ItemRecord& local, const ItemRecord& remote) {
  ItemRecord out;
  out.created = std::min(local.created, remote.created);
  out.used = std::max(local.used, remote.used);
  out.count = std::max(local.count, remote.count);
  if (out.count == 0) {
    // Until a pass, one of the suffixes the item was first seen with: the
    // smaller, whatever the order the states arrive in (the earlier one
    // cannot be told: a record keeps one creation time, the earliest).
    if (local.first && remote.first) {
      out.first = std::min(*local.first, *remote.first);
    } else {
      out.first = local.first ? local.first : remote.first;
    }
  }
  return out;
}

WhitelistEntry merge_whitelist(const WhitelistEntry& local, const WhitelistEntry& remote) {
  return WhitelistEntry{std::min(local.created, remote.created),
                        std::max(local.last_used, remote.last_used)};
}

std::vector<PeerRecord> read_peer_log(const Store& store, std::uint64_t after, std::size_t max,
                                      std::uint64_t* last_id) {
  Env& env = detail::StoreAccess::env(store);
  std::vector<PeerRecord> out;
  RawTxn txn(env, RawTxn::kRead);
  RawCursor cur(env, txn.get());
  const std::string start = detail::peer_log_key(after + 1);
  MDB_val k = val_of(start), v{};
  std::size_t seen = 0;
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && is_peer_log_key(view_of(k)) && seen < max;
       ok = cur.get(k, v, MDB_NEXT), ++seen) {
    const std::uint64_t id = seq_of(view_of(k));
    if (last_id != nullptr) *last_id = id;
    const std::string_view entry = view_of(v);  // i64 time | the record's key
    if (entry.size() <= 8) continue;
    if (auto rec = current(txn, entry.substr(8))) out.push_back(PeerRecord{id, std::move(*rec)});
  }
  return out;
}

std::uint64_t peer_log_last(const Store& store) {
  Env& env = detail::StoreAccess::env(store);
  RawTxn txn(env, RawTxn::kRead);
  RawCursor cur(env, txn.get());
  // The counter key, 0x06 0xff, sorts after every entry: the one before it
  // is the newest, if it is an entry at all.
  MDB_val k = val_of(detail::kPeerSeqKey), v{};
  bool ok = cur.get(k, v, MDB_SET_RANGE) ? cur.get(k, v, MDB_PREV) : cur.get(k, v, MDB_LAST);
  while (ok && !is_peer_log_key(view_of(k)) && !view_of(k).empty() &&
         view_of(k)[0] == detail::kPeerLogNs) {
    ok = cur.get(k, v, MDB_PREV);  // the counter itself, when nothing follows it
  }
  return ok && is_peer_log_key(view_of(k)) ? seq_of(view_of(k)) : 0;
}

std::size_t drop_peer_log(const Store& store, std::uint64_t upto) {
  Env& env = detail::StoreAccess::env(store);
  std::size_t dropped = 0;
  for (;;) {
    RawTxn w(env, RawTxn::kWrite);
    std::size_t n = 0;
    {
      RawCursor cur(env, w.get());
      const std::string start = detail::peer_log_key(0);
      MDB_val k = val_of(start), v{};
      bool ok = cur.get(k, v, MDB_SET_RANGE);
      while (ok && is_peer_log_key(view_of(k)) && seq_of(view_of(k)) <= upto && n < 4096) {
        cur.del();
        ++n;
        ok = cur.get(k, v, MDB_GET_CURRENT);
      }
    }
    if (n == 0) return dropped;
    w.commit();
    dropped += n;
    if (n < 4096) return dropped;
  }
}

PeerLogStats peer_log_stats(const Store& store) {
  Env& env = detail::StoreAccess::env(store);
  PeerLogStats s;
  RawTxn txn(env, RawTxn::kRead);
  s.dropped = txn.counter(kPeerDroppedKey, 0);
  RawCursor cur(env, txn.get());
  const std::string start = detail::peer_log_key(0);
  MDB_val k = val_of(start), v{};
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && is_peer_log_key(view_of(k));
       ok = cur.get(k, v, MDB_NEXT)) {
    if (s.entries++ == 0 && v.mv_size >= 8) {
      s.oldest = LeReader(view_of(v), "").get<std::int64_t>();
    }
  }
  return s;
}

std::uint64_t bound_peer_log(const Store& store, std::uint64_t max_entries) {
  const PeerLogStats s = peer_log_stats(store);
  if (s.entries <= max_entries) return 0;
  Env& env = detail::StoreAccess::env(store);
  const std::uint64_t excess = s.entries - max_entries;
  std::uint64_t upto = 0;
  {
    RawTxn txn(env, RawTxn::kRead);
    RawCursor cur(env, txn.get());
    const std::string start = detail::peer_log_key(0);
    MDB_val k = val_of(start), v{};
    std::uint64_t n = 0;
    for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && is_peer_log_key(view_of(k)) && n < excess;
         ok = cur.get(k, v, MDB_NEXT), ++n) {
      upto = seq_of(view_of(k));
    }
  }
  const std::size_t dropped = drop_peer_log(store, upto);
  RawTxn w(env, RawTxn::kWrite);
  w.put_counter(kPeerDroppedKey, w.counter(kPeerDroppedKey, 0) + dropped);
  w.commit();
  return dropped;
}

std::uint64_t peer_cursor(const Store& store, std::string_view peer) {
  Env& env = detail::StoreAccess::env(store);
  RawTxn txn(env, RawTxn::kRead);
  return txn.counter(cursor_key(peer), 0);
}

MergeResult merge_from_peer(const Store& store, std::string_view peer, std::uint64_t seq,
                            std::span<const PeerRecord> records, UnixTime now) {
  for (const PeerRecord& r : records) {
    if (r.record.name.empty() || r.record.name.size() > kMaxNameBytes) {
      throw UsageError(fmt::format("exigrey: a record from peer {} has a name of {} bytes", peer,
                                   r.record.name.size()));
    }
  }
  MergeResult out;
  WriteTxn txn = store.write();
  txn.from_peer();  // merged records are not logged for peers again
  const std::string cursor = cursor_key(peer);
  const std::uint64_t last = txn.meta_u64(cursor).value_or(0);
  if (seq <= last) {
    out.duplicate = true;
    return out;  // aborted: nothing to write
  }
  for (const PeerRecord& r : records) {
    if (r.id <= last) continue;
    if (r.record.kind == LoadedRecord::Kind::kItem) {
      ItemRecord remote = r.record.item;
      remote.created = clamp_future(remote.created, now);
      remote.used = clamp_future(remote.used, now);
      const auto local = txn.item(r.record.name);
      const ItemRecord merged = local ? merge_item(*local, remote) : remote;
      if (local && merged == *local) {
        ++out.unchanged;
        continue;
      }
      txn.put_item(r.record.name, merged);
    } else {
      WhitelistEntry remote = r.record.entry;
      remote.created = clamp_future(remote.created, now);
      remote.last_used = clamp_future(remote.last_used, now);
      const auto local = txn.whitelisted(r.record.name);
      const WhitelistEntry merged = local ? merge_whitelist(*local, remote) : remote;
      if (local && merged == *local) {
        ++out.unchanged;
        continue;
      }
      txn.put_whitelist(r.record.name, merged);
    }
    ++out.applied;
  }
  txn.put_meta(cursor, static_cast<std::int64_t>(seq));
  txn.commit();
  return out;
}

}  // namespace exigrey

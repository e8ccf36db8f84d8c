// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/store.h"

#include <fmt/format.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

#include "env.h"
#include "exigrey/error.h"
#include "keep.h"
#include "peer_log.h"
#include "raw_store.h"

namespace exigrey {
namespace {

// Record decoders do not know the file; a damaged record's error names it,
// so that the admin knows which store to move aside (docs/reliability.md).
template <typename F>
auto decoded(const detail::Env* env, F&& decode) -> decltype(decode()) {
  try {
    return decode();
  } catch (const StoreError& e) {
    if (e.kind() != ErrorKind::kCorrupt) throw;
    std::string_view what = e.what();
    if (what.starts_with("exigrey: ")) what.remove_prefix(9);
    throw StoreError(ErrorKind::kCorrupt,
                     fmt::format("exigrey: store {} has a damaged record: {}; delete it, or "
                                 "move the store aside and restore from an 'exigrey dump' backup",
                                 env->path(), what),
                     e.lmdb_code());
  }
}

// Keys are built on the stack: the decision path allocates nothing for them.
class KeyBuf {
 public:
  KeyBuf(Namespace plain_ns, std::string_view name) {
    if (name.size() <= kMaxPlainName) {
      buf_[0] = static_cast<char>(plain_ns);
      std::memcpy(buf_.data() + 1, name.data(), name.size());
      len_ = 1 + name.size();
      hashed_ = false;
    } else {
      const std::string k = encode_key(plain_ns, name);  // throws over kMaxNameBytes
      std::memcpy(buf_.data(), k.data(), k.size());
      len_ = k.size();
      hashed_ = true;
    }
  }
  MDB_val val() { return MDB_val{len_, buf_.data()}; }
  bool hashed() const { return hashed_; }

 private:
  std::array<char, kMaxKeyBytes> buf_;
  std::size_t len_;
  bool hashed_;
};

std::span<const std::byte> bytes(const MDB_val& v) {
  return {static_cast<const std::byte*>(v.mv_data), v.mv_size};
}
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// Visits every entry whose key starts with one of the two namespace bytes
// (plain, hashed), after `after`.
template <typename F>
std::size_t scan(detail::Env* env, MDB_txn* txn, Namespace plain, std::string_view after, F&& fn) {
  const auto lo = static_cast<char>(plain);
  const auto hi = static_cast<char>(static_cast<std::uint8_t>(plain) + 1);
  detail::RawCursor cur(*env, txn);
  MDB_val k{}, v{};
  const std::string start(1, lo);
  bool ok = after.empty() ? cur.seek(start, k, v) : cur.seek(after, k, v);
  if (ok && !after.empty() && view(k) == after) ok = cur.next(k, v);
  std::size_t visited = 0;
  for (; ok; ok = cur.next(k, v)) {
    const std::string_view key = view(k);
    if (key.empty() || (key[0] != lo && key[0] != hi)) break;
    ++visited;
    if (!fn(key, key[0] == hi, v)) break;
  }
  return visited;
}

}  // namespace

// ---- TxnView ----

std::optional<ItemRecord> TxnView::item(std::string_view name) const {
  KeyBuf key(Namespace::kItem, name);
  MDB_val k = key.val(), v{};
  const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) env_->fail("mdb_get", rc);
  if (!key.hashed()) return decoded(env_, [&] { return decode_item(bytes(v), false, nullptr); });
  std::string stored;
  ItemRecord rec = decoded(env_, [&] { return decode_item(bytes(v), true, &stored); });
  if (stored != name) return std::nullopt;  // a SHA-256 collision: treat as absent
  return rec;
}

std::optional<WhitelistEntry> TxnView::whitelisted(std::string_view suffix) const {
  KeyBuf key(Namespace::kWhitelist, suffix);
  MDB_val k = key.val(), v{};
  const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) env_->fail("mdb_get", rc);
  if (!key.hashed()) {
    return decoded(env_, [&] { return decode_whitelist(bytes(v), false, nullptr); });
  }
  std::string stored;
  WhitelistEntry w = decoded(env_, [&] { return decode_whitelist(bytes(v), true, &stored); });
  if (stored != suffix) return std::nullopt;
  return w;
}

std::size_t TxnView::scan_items(std::string_view after, const ItemVisitor& fn) const {
  return scan(env_, txn_, Namespace::kItem, after,
              [&](std::string_view key, bool hashed, const MDB_val& v) {
                std::string full;
                const ItemRecord rec = decoded(
                    env_, [&] { return decode_item(bytes(v), hashed, hashed ? &full : nullptr); });
                const std::string_view name = hashed ? std::string_view(full) : key.substr(1);
                return fn(ItemView{key, name, rec});
              });
}

std::size_t TxnView::scan_whitelist(std::string_view after, const WhitelistVisitor& fn) const {
  return scan(env_, txn_, Namespace::kWhitelist, after,
              [&](std::string_view key, bool hashed, const MDB_val& v) {
                std::string full;
                const WhitelistEntry w = decoded(env_, [&] {
                  return decode_whitelist(bytes(v), hashed, hashed ? &full : nullptr);
                });
                const std::string_view name = hashed ? std::string_view(full) : key.substr(1);
                return fn(WhitelistView{key, name, w});
              });
}

std::size_t TxnView::scan_raw(
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  detail::RawCursor cur(*env_, txn_);
  MDB_val k{}, v{};
  std::size_t visited = 0;
  for (bool ok = cur.first(k, v); ok; ok = cur.next(k, v)) {
    ++visited;
    if (!fn(view(k), view(v))) break;
  }
  return visited;
}

std::optional<std::uint64_t> TxnView::meta_u64(std::string_view key) const {
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v{};
  const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) env_->fail("mdb_get", rc);
  return decoded(env_, [&] {
    if (v.mv_size != 8) throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt meta record");
    return detail::LeReader(view(v), "").get<std::uint64_t>();
  });
}

std::uint64_t TxnView::entry_count() const {
  MDB_stat st{};
  if (const int rc = mdb_stat(txn_, env_->dbi(), &st); rc != 0) env_->fail("mdb_stat", rc);
  return st.ms_entries;
}

// ---- ReadTxn ----

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : TxnView(other.env_, std::exchange(other.txn_, nullptr)) {}

ReadTxn::~ReadTxn() {
  if (txn_ != nullptr) env_->end_read(txn_);
}

// ---- WriteTxn ----

WriteTxn::WriteTxn(WriteTxn&& other) noexcept
    : TxnView(other.env_, std::exchange(other.txn_, nullptr)),
      next_log_(std::exchange(other.next_log_, std::nullopt)),
      next_peer_(std::exchange(other.next_peer_, std::nullopt)),
      from_peer_(other.from_peer_) {}

WriteTxn::~WriteTxn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

void WriteTxn::put_raw(std::string_view key, std::string_view value) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  const int rc = mdb_put(txn_, env_->dbi(), &k, &v, 0);
  if (rc != 0) env_->fail("mdb_put", rc);
}

void WriteTxn::log_precious(std::string_view key) {
  if (!env_->keep_active()) return;
  if (!next_log_) {
    MDB_val k{detail::kKeepSeqKey.size(), const_cast<char*>(detail::kKeepSeqKey.data())}, v{};
    const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND) env_->fail("mdb_get", rc);
    next_log_ = 1;
    if (rc == 0) {
      next_log_ = decoded(env_, [&] {
        return detail::LeReader(view(v), "exigrey: corrupt keep log counter").get<std::uint64_t>();
      });
    }
  }
  std::string entry;
  detail::put_le<std::int64_t>(entry, static_cast<std::int64_t>(::time(nullptr)));
  entry.append(key);
  put_raw(detail::keep_log_key((*next_log_)++), entry);
}

void WriteTxn::log_peer(std::string_view key) {
  if (from_peer_ || !env_->options().peer_log) return;
  if (!next_peer_) {
    // A store that lost its log (restored after a crash) must not give an
    // id twice: the peers would take the new records for replays.
    next_peer_ = meta_u64(detail::kPeerSeqKey)
                     .value_or(static_cast<std::uint64_t>(::time(nullptr)) * 1'000'000);
  }
  std::string entry;
  detail::put_le<std::int64_t>(entry, static_cast<std::int64_t>(::time(nullptr)));
  entry.append(key);
  put_raw(detail::peer_log_key((*next_peer_)++), entry);
}

void WriteTxn::put_item(std::string_view name, const ItemRecord& record) {
  KeyBuf key(Namespace::kItem, name);
  const MDB_val k = key.val();
  put_raw(view(k), encode_item(record, key.hashed(), name));
  if (record.count > 0) log_precious(view(k));  // pending items are disposable
  log_peer(view(k));
}

void WriteTxn::put_whitelist(std::string_view suffix, const WhitelistEntry& entry) {
  KeyBuf key(Namespace::kWhitelist, suffix);
  const MDB_val k = key.val();
  put_raw(view(k), encode_whitelist(entry, key.hashed(), suffix));
  log_precious(view(k));
  log_peer(view(k));
}

bool WriteTxn::erase_at(std::string_view position) {
  MDB_val k{position.size(), const_cast<char*>(position.data())}, v{};
  bool precious = false;
  if (env_->keep_active()) {
    const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) env_->fail("mdb_get", rc);
    precious = detail::is_precious(position, view(v));
  }
  const int rc = mdb_del(txn_, env_->dbi(), &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) env_->fail("mdb_del", rc);
  if (precious) log_precious(position);
  return true;
}

void WriteTxn::put_meta(std::string_view key, std::int64_t value) {
  std::string bytes;
  detail::put_le<std::int64_t>(bytes, value);
  put_raw(key, bytes);
}

bool WriteTxn::erase_item(std::string_view name) {
  if (!item(name)) return false;  // also guards against erasing a digest twin
  KeyBuf key(Namespace::kItem, name);
  const MDB_val k = key.val();
  return erase_at(view(k));
}

bool WriteTxn::erase_whitelist(std::string_view suffix) {
  if (!whitelisted(suffix)) return false;
  KeyBuf key(Namespace::kWhitelist, suffix);
  const MDB_val k = key.val();
  return erase_at(view(k));
}

bool WriteTxn::flush_overdue() const {
  if (!env_->keep_active() || env_->options().read_only) return false;
  const std::string first = detail::keep_log_key(0);
  detail::RawCursor cur(*env_, txn_);
  MDB_val k{}, v{};
  if (!cur.seek(first, k, v) || k.mv_size != 9 ||
      static_cast<const char*>(k.mv_data)[0] != detail::kKeepLogNs || v.mv_size < 8) {
    return false;
  }
  const auto logged_at = detail::LeReader(view(v), "").get<std::int64_t>();
  return static_cast<std::int64_t>(::time(nullptr)) - logged_at > detail::kFlushOverdue;
}

void WriteTxn::commit() {
  const bool logged = next_log_.has_value();
  if (logged) {
    std::string counter;
    detail::put_le<std::uint64_t>(counter, *next_log_);
    put_raw(detail::kKeepSeqKey, counter);
  }
  if (next_peer_) {
    std::string counter;
    detail::put_le<std::uint64_t>(counter, *next_peer_);
    put_raw(detail::kPeerSeqKey, counter);
  }
  // Nothing flushed the keep log for a while (no timer, no exigrey-forward):
  // this writer does, so that the window stays bounded (docs/internals.md).
  const bool overdue = flush_overdue();
  // LMDB frees the handle even when the commit fails: release it first.
  const int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  if (rc != 0) env_->fail("mdb_txn_commit", rc);
  if (logged) env_->note_precious_write();
  if (overdue) {
    try {
      detail::flush_keep(*env_, ::time(nullptr));
    } catch (const Error&) {
      // The commit stands; the log waits for the next flush (stats show its age).
    }
  }
}

// ---- Store ----

std::vector<std::string> store_files(const std::string& path) {
  return {path,
          path + "-lock",
          detail::state_path(path),
          detail::keep_path(path),
          detail::keep_path(path) + "-lock",
          detail::suspect_path(path)};
}

Store::Store(std::string path, StoreOptions options) : path_(std::move(path)), options_(options) {}

detail::Env& Store::env() const {
  const auto generation = detail::Env::fork_generation();
  if (env_ == nullptr || fork_generation_ != generation) {
    env_ = &detail::Env::for_this_process(path_, options_);
    fork_generation_ = generation;
  }
  return *env_;
}

void Store::open() const { env(); }

ReadTxn Store::read() const {
  detail::Env& e = env();
  return ReadTxn(&e, e.begin_read());
}

WriteTxn Store::write() const {
  detail::Env& e = env();
  return WriteTxn(&e, e.begin_write());
}

int Store::clear_stale_readers() const {
  int dead = 0;
  const int rc = mdb_reader_check(env().get(), &dead);
  if (rc != 0) env().fail("mdb_reader_check", rc);
  return dead;
}

void Store::sync() const {
  const int rc = mdb_env_sync(env().get(), 1);
  if (rc != 0) env().fail("mdb_env_sync", rc);
}

StoreStats Store::stats() const {
  detail::Env& e = env();
  StoreStats s;
  MDB_envinfo info{};
  if (const int rc = mdb_env_info(e.get(), &info); rc != 0) e.fail("mdb_env_info", rc);
  MDB_stat st{};
  {
    ReadTxn r = read();
    if (const int rc = mdb_stat(r.txn_, e.dbi(), &st); rc != 0) e.fail("mdb_stat", rc);
  }
  s.map_size = info.me_mapsize;
  s.page_size = st.ms_psize;
  s.map_used = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
  s.entries = st.ms_entries;
  s.max_readers = info.me_maxreaders;
  struct stat fst {};
  if (::stat(e.path().c_str(), &fst) == 0) s.file_size = static_cast<std::uint64_t>(fst.st_size);
  // mdb_reader_list prints one line per taken slot after a header line.
  int lines = 0;
  mdb_reader_list(
      e.get(),
      [](const char* msg, void* ctx) -> int {
        if (std::strstr(msg, "pid") == nullptr && std::strstr(msg, "no active") == nullptr) {
          ++*static_cast<int*>(ctx);
        }
        return 0;
      },
      &lines);
  s.readers_used = static_cast<std::uint32_t>(lines);
  return s;
}

std::vector<ReaderSlot> Store::readers() const {
  detail::Env& e = env();
  // mdb_reader_list prints a header, then "%10d %zx %zu" per slot (txnid "-"
  // when the slot is idle), or "(no active readers)".
  std::vector<ReaderSlot> slots;
  const int rc = mdb_reader_list(
      e.get(),
      [](const char* msg, void* ctx) -> int {
        long long pid = 0;
        unsigned long long thread = 0;
        char txn[32] = {};
        if (std::sscanf(msg, "%lld %llx %31s", &pid, &thread, txn) == 3) {
          ReaderSlot slot{pid, thread, std::nullopt};
          if (std::strcmp(txn, "-") != 0) slot.txnid = std::strtoull(txn, nullptr, 10);
          static_cast<std::vector<ReaderSlot>*>(ctx)->push_back(slot);
        }
        return 0;
      },
      &slots);
  if (rc < 0) e.fail("mdb_reader_list", rc);
  return slots;
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "keep.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/records.h"
#include "raw_store.h"
#include "state_file.h"

namespace exigrey::detail {
namespace {

// Log entries per keep commit: bounds memory and how long a flush holds the
// store's writer lock when it deletes what it copied.
constexpr std::size_t kFlushBatch = 4096;

std::uint64_t seq_of(std::string_view key) {
  std::uint64_t seq = 0;
  for (std::size_t i = 1; i < 9; ++i) seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  return seq;
}

bool is_log_key(std::string_view key) { return key.size() == 9 && key[0] == kKeepLogNs; }

void put_flushed(RawTxn& keep, UnixTime now) {
  std::string v;
  put_le<std::int64_t>(v, now);
  keep.put(kFlushedKey, v);
}

// Deletes log entries with numbers <= `upto` in batches (the store's writer
// lock is held for one batch at a time).
void drop_log_upto(Env& store, std::uint64_t upto) {
  for (;;) {
    RawTxn w(store, RawTxn::kWrite);
    std::size_t n = 0;
    {
      RawCursor cur(store, w.get());
      const std::string start = keep_log_key(0);
      MDB_val k = val_of(start), v{};
      bool ok = cur.get(k, v, MDB_SET_RANGE);
      while (ok && is_log_key(view_of(k)) && seq_of(view_of(k)) <= upto && n < kFlushBatch) {
        cur.del();
        ++n;
        ok = cur.get(k, v, MDB_GET_CURRENT);
      }
    }
    if (n == 0) return;
    w.commit();
    if (n < kFlushBatch) return;
  }
}

}  // namespace

bool is_precious(std::string_view key, std::string_view value) {
  if (key.empty()) return false;
  switch (static_cast<Namespace>(key[0])) {
    case Namespace::kWhitelist:
    case Namespace::kWhitelistHashed:
      return true;
    case Namespace::kItem:
    case Namespace::kItemHashed:
      try {
        const auto* p = reinterpret_cast<const std::byte*>(value.data());
        return decode_item({p, value.size()}, key[0] == static_cast<char>(Namespace::kItemHashed),
                           nullptr)
                   .count > 0;
      } catch (const StoreError&) {
        return false;
      }
    default:
      return false;
  }
}

std::string keep_log_key(std::uint64_t seq) {
  std::string key(1, kKeepLogNs);
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
  return key;
}

StoreOptions keep_options(const StoreOptions& store) {
  StoreOptions o;
  o.sync = SyncMode::kFull;  // the keep file is what survives a power cut
  o.map_size = store.map_size;
  o.read_only = false;
  o.boot_id_file = store.boot_id_file;
  return o;
}

namespace {

// Serialises the making of a keep file between the processes that have the
// store open: a record lock on byte 1 of its crash marker (byte 0 is
// take_unlogged_recovery's).
class CreationLock {
 public:
  explicit CreationLock(Env& store) : fd_(store.state() ? store.state()->fd() : -1) {
    if (fd_ >= 0) set(F_WRLCK, F_SETLKW);
  }
  ~CreationLock() {
    if (fd_ >= 0) set(F_UNLCK, F_SETLK);
  }
  CreationLock(const CreationLock&) = delete;
  CreationLock& operator=(const CreationLock&) = delete;

 private:
  void set(short type, int cmd) {
    struct flock l {};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    l.l_start = 1;
    l.l_len = 1;
    while (::fcntl(fd_, cmd, &l) != 0 && errno == EINTR) {
    }
  }
  int fd_;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The highest keep log number in a snapshot (0: none).
std::uint64_t last_log(Env& store, RawTxn& r) {
  RawCursor cur(store, r.get());
  // The counter sorts right after the newest entry.
  MDB_val k = val_of(kKeepSeqKey), v{};
  bool ok = cur.get(k, v, MDB_SET_RANGE);
  ok = ok ? cur.get(k, v, MDB_PREV) : cur.get(k, v, MDB_LAST);
  if (ok && view_of(k) == kKeepSeqKey) ok = cur.get(k, v, MDB_PREV);
  return ok && is_log_key(view_of(k)) ? seq_of(view_of(k)) : 0;
}

// Makes <db>.keep whole under a temporary name (every precious record of a
// snapshot of the store, in fully synced commits) and renames it into place,
// so that a keep file that exists is always a complete LMDB file: a crash
// while it is made leaves only the temporary one, which the next try
// overwrites. Returns the records copied, or nothing when another process
// made it meanwhile.
std::optional<std::uint64_t> create_keep(Env& store, UnixTime now) {
  const std::string keep = keep_path(store.path());
  const std::string tmp = keep + ".recover";
  CreationLock guard(store);
  if (exists(keep)) return std::nullopt;
  auto check = [&](int rc, const char* what) {
    if (rc != 0) {
      throw StoreError(ErrorKind::kStore,
                       fmt::format("exigrey: cannot make the keep file {}: {} failed: {}", tmp,
                                   what, mdb_strerror(rc)),
                       rc);
    }
  };
  for (const std::string& f : {tmp, tmp + "-lock"}) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) check(errno, "unlink");
  }
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "mdb_env_create");
  std::unique_ptr<MDB_env, decltype(&mdb_env_close)> env(raw, &mdb_env_close);
  check(mdb_env_set_maxreaders(raw, kMaxReaders), "mdb_env_set_maxreaders");
  check(mdb_env_set_mapsize(raw, static_cast<std::size_t>(store.options().map_size)),
        "mdb_env_set_mapsize");
  check(mdb_env_open(raw, tmp.c_str(), MDB_NOSUBDIR, kStoreFileMode), "mdb_env_open");
  std::uint64_t copied = 0, upto = 0;
  {
    RawTxn r(store, RawTxn::kRead);
    upto = last_log(store, r);
    RawCursor cur(store, r.get());
    const std::string first(1, static_cast<char>(Namespace::kItem));
    MDB_val k = val_of(first), v{};
    bool ok = cur.get(k, v, MDB_SET_RANGE);
    bool first_txn = true;
    for (bool done = false; !done;) {
      MDB_txn* t = nullptr;
      check(mdb_txn_begin(raw, nullptr, 0, &t), "mdb_txn_begin");
      std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> txn(t, &mdb_txn_abort);
      MDB_dbi dbi = 0;
      check(mdb_dbi_open(t, nullptr, 0, &dbi), "mdb_dbi_open");
      auto put = [&](std::string_view key, std::string_view value) {
        MDB_val kk = val_of(key), vv = val_of(value);
        check(mdb_put(t, dbi, &kk, &vv, 0), "mdb_put");
      };
      if (first_txn) put(kFormatKey, kFormatValue);
      first_txn = false;
      std::size_t n = 0;
      for (; ok && n < kFlushBatch; ok = cur.get(k, v, MDB_NEXT), ++n) {
        const std::string_view key = view_of(k);
        if (key[0] > static_cast<char>(Namespace::kWhitelistHashed)) {
          ok = false;
          break;
        }
        if (is_precious(key, view_of(v))) {
          put(key, view_of(v));
          ++copied;
        }
      }
      if (!ok) {
        std::string flushed;
        put_le<std::int64_t>(flushed, now);
        put(kFlushedKey, flushed);
        done = true;
      }
      check(mdb_txn_commit(txn.release()), "mdb_txn_commit");
    }
  }
  env.reset();  // closed before the rename: no process may keep it under the old name
  if (::unlink((tmp + "-lock").c_str()) != 0 && errno != ENOENT) check(errno, "unlink");
  if (::rename(tmp.c_str(), keep.c_str()) != 0) check(errno, "rename");
  sync_dir(keep);
  drop_log_upto(store, upto);
  return copied;
}

}  // namespace

KeepFlush flush_keep(Env& store, UnixTime now) {
  KeepFlush out;
  if (!exists(keep_path(store.path()))) {
    if (const auto copied = create_keep(store, now)) {
      out.copied = *copied;
      out.rebuilt = true;
      return out;
    }
  }
  Env& keep = Env::for_this_process(keep_path(store.path()), keep_options(store.options()));
  for (;;) {
    // The keep file's writer lock is held while the store is read, so a
    // later flush never writes an older value than an earlier one.
    RawTxn w(keep, RawTxn::kWrite);
    std::vector<std::uint64_t> seqs;
    std::vector<std::pair<std::string, std::optional<std::string>>> records;
    {
      RawTxn r(store, RawTxn::kRead);
      RawCursor cur(store, r.get());
      const std::string start = keep_log_key(0);
      MDB_val k = val_of(start), v{};
      for (bool ok = cur.get(k, v, MDB_SET_RANGE);
           ok && is_log_key(view_of(k)) && seqs.size() < kFlushBatch;
           ok = cur.get(k, v, MDB_NEXT)) {
        seqs.push_back(seq_of(view_of(k)));
        const std::string_view entry = view_of(v);  // i64 time | the record's key
        if (entry.size() <= 8) continue;            // damaged: consumed, nothing to copy
        std::string key(entry.substr(8));
        std::optional<std::string> value;
        if (const auto found = r.find(key)) value.emplace(*found);  // copied inside the txn
        records.emplace_back(std::move(key), std::move(value));
      }
    }
    if (seqs.empty()) return out;
    for (const auto& [key, value] : records) {
      if (value && is_precious(key, *value)) {
        w.put(key, *value);
        ++out.copied;
      } else if (w.erase(key)) {
        ++out.removed;
      }
    }
    put_flushed(w, now);
    w.commit();
    {
      RawTxn d(store, RawTxn::kWrite);
      for (const std::uint64_t seq : seqs) d.erase(keep_log_key(seq));
      d.commit();
    }
    out.logged += seqs.size();
    if (seqs.size() < kFlushBatch) return out;
  }
}

}  // namespace exigrey::detail

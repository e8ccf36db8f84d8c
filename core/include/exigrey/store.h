// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/store.h: one exigrey LMDB store (a greylist "DB" such as `seen`).
//
// A Store is a cheap handle naming a file and the options to open it with.
// The LMDB environment behind it is opened lazily on first use and is shared
// by every handle for the same file in this process (LMDB forbids opening a
// file twice in one process). After fork() the child opens its own
// environment on its next use and abandons the inherited one without any
// LMDB call, so a handle made before fork keeps working in parent and child.
//
// The file is an LMDB environment opened with MDB_NOSUBDIR: the data at
// `path`, the lock at `path` + "-lock". A file that is not LMDB is refused and
// never overwritten.
//
// Errors: every operation may throw StoreError (kStore: cannot open, read or
// write, with the path and LMDB's reason; kMapFull: the map is full, with the
// fix; kCorrupt: the file or a record is not exigrey's) or UsageError (bad
// options, a name over kMaxNameBytes).
//
// Process and thread safety: many processes may use one store at once; one
// write transaction runs at a time across all of them, readers never block.
// Within a process, handles and transactions may be used from several threads
// (MDB_NOTLS), but a single transaction object only from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/records.h"
#include "exigrey/store_options.h"

struct MDB_txn;

namespace exigrey {

namespace detail {
class Env;
struct StoreAccess;  // core's own files reach a Store's environment through it
}  // namespace detail

// One entry seen by a scan. The views are valid only during the callback.
struct ItemView {
  std::string_view position;  // opaque; pass to scan_items() to resume after it
  std::string_view name;      // the item
  const ItemRecord& record;
};
struct WhitelistView {
  std::string_view position;
  std::string_view suffix;
  const WhitelistEntry& entry;
};

// A scan callback returns true to go on, false to stop.
using ItemVisitor = std::function<bool(const ItemView&)>;
using WhitelistVisitor = std::function<bool(const WhitelistView&)>;

// Read access common to read and write transactions.
class TxnView {
 public:
  std::optional<ItemRecord> item(std::string_view name) const;
  std::optional<WhitelistEntry> whitelisted(std::string_view suffix) const;

  // Visits items (or whitelist entries) in storage order, starting strictly
  // after `after` (a position from an earlier visit; empty: from the start).
  // Returns the number visited.
  std::size_t scan_items(std::string_view after, const ItemVisitor& fn) const;
  std::size_t scan_whitelist(std::string_view after, const WhitelistVisitor& fn) const;

  // Every entry of the store in key order, undecoded (for verify.h): the
  // callback gets the raw key and value and returns true to go on.
  std::size_t scan_raw(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // The number of entries LMDB's database header counts in this snapshot.
  std::uint64_t entry_count() const;

  // A meta record holding a little-endian u64 (a peer's cursor, ...);
  // nullopt when absent. Throws StoreError(kCorrupt) on another size.
  std::optional<std::uint64_t> meta_u64(std::string_view key) const;

  TxnView(const TxnView&) = delete;
  TxnView& operator=(const TxnView&) = delete;

 protected:
  TxnView(detail::Env* env, MDB_txn* txn) noexcept : env_(env), txn_(txn) {}
  ~TxnView() = default;
  detail::Env* env_;
  MDB_txn* txn_;
};

// A read-only snapshot. Cheap: the LMDB read transaction is reused from a
// per-environment cache (reset on destruction, renewed on the next use).
// Keep it short: an open snapshot stops LMDB reusing freed pages.
class ReadTxn final : public TxnView {
 public:
  ReadTxn(ReadTxn&& other) noexcept;
  ReadTxn& operator=(ReadTxn&&) = delete;
  ~ReadTxn();

 private:
  friend class Store;
  ReadTxn(detail::Env* env, MDB_txn* txn) noexcept : TxnView(env, txn) {}
};

// The single writer. Changes are visible to others only after commit(); the
// destructor aborts an uncommitted transaction. After a throw from put/erase
// (for example kMapFull) the transaction is dead: let it go out of scope.
class WriteTxn final : public TxnView {
 public:
  WriteTxn(WriteTxn&& other) noexcept;
  WriteTxn& operator=(WriteTxn&&) = delete;
  ~WriteTxn();

  void put_item(std::string_view name, const ItemRecord& record);
  void put_whitelist(std::string_view suffix, const WhitelistEntry& entry);
  // Return true if something was removed.
  bool erase_item(std::string_view name);
  bool erase_whitelist(std::string_view suffix);
  // Removes the entry at a scan position (from scan_items/scan_whitelist).
  bool erase_at(std::string_view position);
  // Sets a meta record (records.h: kPurgedKey) to a little-endian i64.
  void put_meta(std::string_view key, std::int64_t value);
  // The changes of this transaction came from another MX host (peers.h):
  // they are not logged for the peers again.
  void from_peer() noexcept { from_peer_ = true; }

  // Makes the changes durable (per the store's SyncMode). Throws on failure,
  // and the transaction is gone either way. With sync = precious, the
  // precious records this transaction wrote or removed (whitelist entries,
  // passed items) reach the keep file at the next flush (durability.h).
  void commit();

 private:
  friend class Store;
  WriteTxn(detail::Env* env, MDB_txn* txn) noexcept : TxnView(env, txn) {}
  void put_raw(std::string_view key, std::string_view value);
  // Appends `key` to the keep log when the store's keep file is in use.
  void log_precious(std::string_view key);
  // Whether the keep log's oldest entry waited longer than it should.
  bool flush_overdue() const;
  // Appends `key` to the peer log when the store shares with other MX hosts.
  void log_peer(std::string_view key);
  std::optional<std::uint64_t> next_log_;   // the keep log's next number, once read
  std::optional<std::uint64_t> next_peer_;  // the peer log's next id, once read
  bool from_peer_ = false;
};

struct StoreStats {
  std::uint64_t map_size = 0;   // bytes of address space reserved
  std::uint64_t map_used = 0;   // bytes of the map in use (pages * page size)
  std::uint64_t file_size = 0;  // bytes on disk
  std::uint64_t entries = 0;    // items + whitelist entries + meta
  std::uint32_t page_size = 0;
  std::uint32_t max_readers = 0;
  std::uint32_t readers_used = 0;  // reader slots taken (live or stale)
};

// One slot of the reader table in the lock file (as `mdb_stat -r` lists it).
struct ReaderSlot {
  std::int64_t pid = 0;
  std::uint64_t thread = 0;
  std::optional<std::uint64_t> txnid;  // the snapshot it holds; nullopt when idle (reset)
};

// The files one store may consist of, for tools that copy, chown or remove
// it: the data, LMDB's lock file, and with sync = precious or none the
// crash marker, the keep file and its lock, and the copy the last recovery
// set aside. Some may not exist.
std::vector<std::string> store_files(const std::string& path);

class Store {
 public:
  // Names the store; nothing is opened yet.
  explicit Store(std::string path, StoreOptions options = {});

  const std::string& path() const noexcept { return path_; }
  const StoreOptions& options() const noexcept { return options_; }

  // Opens the environment now (otherwise the first transaction does), so
  // that errors surface early. Creates the file unless read_only.
  void open() const;

  ReadTxn read() const;
  WriteTxn write() const;  // waits for the store's single writer lock

  // Clears reader slots left by dead processes; returns how many.
  int clear_stale_readers() const;
  StoreStats stats() const;
  // The reader slots in use (live or stale), in table order; includes this
  // process's own idle cached reader, if any.
  std::vector<ReaderSlot> readers() const;
  // Flushes committed data to disk (for SyncMode::kNone).
  void sync() const;

 private:
  friend struct detail::StoreAccess;
  detail::Env& env() const;

  std::string path_;
  StoreOptions options_;
  mutable detail::Env* env_ = nullptr;
  mutable std::uint64_t fork_generation_ = 0;
};

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the keep file of a store in `sync = precious` and the
// keep log that feeds it (docs/internals.md, "Sync mode: precious").
//
// A decision that writes a precious record (a whitelist entry, an item that
// has passed) appends an entry to the keep log in the same transaction: key
// 0x05 + u64be number, value i64 time logged + the record's LMDB key.
// flush_keep() copies the logged
// records' current values (or their absence) into <db>.keep in one fully
// synced commit and then deletes those log entries.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "env.h"
#include "exigrey/clock.h"
#include "exigrey/records.h"

namespace exigrey::detail {

inline constexpr char kKeepLogNs = static_cast<char>(Namespace::kKeepLog);
// The next keep log number lives at the end of the log's own namespace
// (0x05 0xff: after every entry, which are 9 bytes long), so that a commit
// that logs dirties the log's newest leaf only. The time of the last flush
// is a meta record of the keep file.
inline constexpr std::string_view kKeepSeqKey = std::string_view("\x05\xff", 2);
inline constexpr std::string_view kFlushedKey = std::string_view(
    "\x00"
    "flushed",
    8);

// A write transaction that finds the keep log's oldest entry older than
// this flushes it itself (normally a timer or exigrey-forward does first).
inline constexpr std::int64_t kFlushOverdue = 45;  // seconds

inline std::string keep_path(const std::string& store) { return store + ".keep"; }
inline std::string state_path(const std::string& store) { return store + ".state"; }
inline std::string suspect_path(const std::string& store) { return store + ".suspect"; }

// Whether a record (LMDB key and value of a greylist store) must survive a
// power cut: every whitelist entry, and items that have passed. A value
// that does not decode is not precious (the flush drops it).
bool is_precious(std::string_view key, std::string_view value);

// The keep log key for number `seq`.
std::string keep_log_key(std::uint64_t seq);

struct KeepFlush {
  std::uint64_t copied = 0;   // records written to the keep file
  std::uint64_t removed = 0;  // records removed from it
  std::uint64_t logged = 0;   // log entries consumed
  bool rebuilt = false;       // the keep file was missing and was made whole again
};

// Environment options for the keep file of a store opened with `store`.
StoreOptions keep_options(const StoreOptions& store);

// Flushes the keep log of `store` (an open, writable greylist store whose
// keep file is in use) into its keep file. A missing keep file (a new store,
// or one removed by hand) is made whole from a snapshot of the store under a
// temporary name and renamed into place, so that a keep file that exists is
// always complete. Throws StoreError; what was committed to the keep file
// stays, and the log entries not yet consumed are flushed by the next call.
KeepFlush flush_keep(Env& store, UnixTime now);

}  // namespace exigrey::detail

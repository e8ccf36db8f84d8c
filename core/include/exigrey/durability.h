// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/durability.h: what survives a power cut with sync = precious (the
// default) or none, and the maintenance that makes it so
// (docs/internals.md, "Sync mode: precious").
//
// With `precious`, decisions never sync. Whitelist entries and passed items
// are logged in the store and copied by flush() into <db>.keep, a fully
// synced file; a store found open in another boot (the machine stopped
// while it was in use) is restored from that file when it is next opened.
// Opening does that by itself; nothing here is needed for correctness
// except a flush within the window the admin wants (the package runs one
// every 30 s, and every process that wrote precious records flushes as it
// exits).
//
// Errors: StoreError / UsageError as in store.h.
// Process safety: any number of processes may call these at once; flushes
// are serialised by the keep file's writer lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "exigrey/clock.h"
#include "exigrey/store.h"

namespace exigrey {

struct FlushResult {
  bool managed = false;       // the store has a keep file in use (sync = precious)
  std::uint64_t copied = 0;   // records written to the keep file
  std::uint64_t removed = 0;  // records removed from it (purged, deleted)
  std::uint64_t logged = 0;   // keep log entries consumed
  bool rebuilt = false;       // the keep file was missing and was made whole again
};

// Copies the precious changes logged since the last flush into the keep
// file: one synced commit per 4096 changes, none when nothing changed.
FlushResult flush(const Store& store);

enum class CleanStop {
  kMarked,      // flushed, synced and marked clean: pending items survive a reboot
  kBusy,        // other processes still have the store open (nothing marked)
  kNotManaged,  // sync = meta or full: nothing to mark
};

// The clean stop, for the package's unit after Exim has stopped: waits at
// most `wait` for other processes to close the store, then flushes, syncs
// it and marks it clean. This Store handle may not write afterwards.
CleanStop stop_clean(const Store& store, std::chrono::milliseconds wait);

struct Recovery {
  enum class Kind {
    kFromKeep,        // restored from the keep file
    kEmpty,           // started empty (sync = none)
    kKeepUnreadable,  // started empty: the keep file was damaged (set aside as .keep.suspect)
  };
  Kind kind = Kind::kFromKeep;
  UnixTime at = 0;                     // when it ran
  std::string from_boot;               // the boot the store was left open in
  std::uint64_t restored = 0;          // records copied from the keep file
  std::optional<UnixTime> flushed_at;  // the keep file's last flush before the crash
  bool logged = false;                 // Exim's main log has shown it
};

// The one line that tells an admin what a recovery did.
std::string describe(const Recovery& recovery, const std::string& store_path);

struct DurabilityStatus {
  bool managed = false;  // the store has a crash marker
  SyncMode mode = SyncMode::kPrecious;
  bool clean = false;  // marked clean (else: open)
  std::string boot;    // the boot the marker names
  UnixTime since = 0;
  bool keep_in_use = false;
  std::uint64_t unflushed = 0;  // precious changes not yet in the keep file
  std::optional<UnixTime> oldest_unflushed;
  std::optional<UnixTime> last_flush;
  std::uint64_t keep_records = 0;
  std::optional<Recovery> last_recovery;
};

DurabilityStatus durability(const Store& store);

// The recovery line that no Exim process has logged yet, if any; marks it
// logged, so that exactly one process logs it.
std::optional<std::string> take_unlogged_recovery(const Store& store);

}  // namespace exigrey

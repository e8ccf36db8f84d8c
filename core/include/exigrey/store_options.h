// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/store_options.h: the settings every process must agree on when it
// opens an exigrey LMDB store, and the constants shared by every binary.
//
// LMDB applies sync flags per process and fixes the reader table size when
// the lock file is created, so the plugin, the CLI and the daemons must all
// take these values from here, never from literals of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace exigrey {

// How a commit reaches the disk (docs/internals.md, "Sync mode").
enum class SyncMode {
  kFull,      // fsync data and meta page on every commit (two syncs)
  kMeta,      // MDB_NOMETASYNC: one sync per commit; a crash may lose the last
              // commit but never corrupts the store
  kNone,      // MDB_NOSYNC: no sync on commit. A crash marker (<db>.state) tells a
              // store left open by a crashed system, which then starts empty.
  kPrecious,  // the default: no decision syncs; whitelist entries and passed
              // items are copied to <db>.keep (synced) within a bounded window,
              // and a store left open by a crashed system is restored from it.
};

// Parses "full", "meta", "none" or "precious"; throws UsageError otherwise.
SyncMode parse_sync_mode(std::string_view text);
std::string_view to_string(SyncMode mode) noexcept;

// Parses a size such as "1073741824", "512M", "4G" (binary units K, M, G, T);
// throws UsageError on garbage, zero or overflow. `what` names the setting.
std::uint64_t parse_size(std::string_view text, std::string_view what = "map_size");

// Reader slots in the lock file. Exim forks one process per SMTP connection
// (smtp_accept_max, default 20, often raised to a few hundred) plus queue
// runners and our daemons; 1024 slots cost 64 KiB of lock file.
inline constexpr unsigned kMaxReaders = 1024;

// Default map size: address space, not disk. 4 GiB holds about 25 million
// items (see docs/internals.md); the file only grows as data is written.
inline constexpr std::uint64_t kDefaultMapSize = std::uint64_t{4} << 30;

// The smallest map size accepted (tests use it to provoke "map full").
inline constexpr std::uint64_t kMinMapSize = std::uint64_t{64} << 10;

// The default store name, as in Exim::Grey.
inline constexpr std::string_view kDefaultDbName = "seen";

// New store files get this mode (owner and group read-write; Exim's group
// may read so that admins in it can inspect).
inline constexpr unsigned kStoreFileMode = 0660;

// Where the boot id is read: it changes at every boot, so a store marked
// "open" in another boot was in use when the machine stopped.
inline constexpr std::string_view kDefaultBootIdFile = "/proc/sys/kernel/random/boot_id";

struct StoreOptions {
  SyncMode sync = SyncMode::kPrecious;
  std::uint64_t map_size = kDefaultMapSize;
  bool read_only = false;  // open with MDB_RDONLY: never creates or writes
  // Clear reader slots of dead processes when the environment opens (LMDB's
  // advice). `exigrey readers` turns it off so it can show them first.
  bool clear_stale_readers = true;
  // Setting boot_id_file (tests point it at a file of their own).
  std::string boot_id_file = std::string(kDefaultBootIdFile);
  // Restore a store found open in another boot (kPrecious, kNone). Only the
  // crash-state explorer turns it off, to show what it prevents.
  bool crash_recovery = true;
  // Log every record a decision writes for the other MX hosts of the site
  // (setting `peers`; peers.h, docs/multi-mx.md).
  bool peer_log = false;
  friend bool operator==(const StoreOptions&, const StoreOptions&) = default;
};

}  // namespace exigrey

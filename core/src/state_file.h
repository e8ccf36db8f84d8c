// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the crash marker of a store, `<db>.state`
// (docs/internals.md, "Sync mode: precious"). One 512-byte record, written
// with one pwrite and fdatasync'ed, checksummed so that a torn write reads
// as unreadable. The file also carries the flock that tells "some process
// has the store open" (shared) from "one process changes its state"
// (exclusive).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "exigrey/clock.h"
#include "exigrey/fd.h"
#include "exigrey/store_options.h"

namespace exigrey::detail {

enum class StoreUse : std::uint8_t {
  kOpen = 1,   // in use since `since`, in boot `boot`: may hold unsynced writes
  kClean = 2,  // synced and marked by the last user; nothing has written since
};

enum class RecoveryKind : std::uint8_t {
  kNone = 0,
  kFromKeep = 1,        // restored from <db>.keep
  kEmpty = 2,           // started empty (sync = none, or no keep file)
  kKeepUnreadable = 3,  // started empty: the keep file was damaged (set aside)
};

struct StateRecord {
  StoreUse use = StoreUse::kOpen;
  SyncMode mode = SyncMode::kPrecious;  // of the process that wrote it
  std::string boot;                     // boot id when written
  UnixTime since = 0;                   // when written
  // The last recovery, kept until the next one.
  RecoveryKind recovery = RecoveryKind::kNone;
  UnixTime recovered_at = 0;
  std::string recovered_boot;  // the boot the store was left open in
  std::uint64_t restored = 0;  // records copied from the keep file
  UnixTime flushed_at = 0;     // the keep file's last flush (0: unknown)
  bool logged = true;          // whether an Exim process has logged it
};

inline constexpr std::size_t kStateRecordBytes = 512;
inline constexpr std::size_t kMaxBootIdBytes = 47;

std::string encode_state(const StateRecord& r);
// nullopt when the bytes are not a whole, intact record.
std::optional<StateRecord> decode_state(std::string_view bytes);

// Makes the entries (created, renamed, removed files) of the directory that
// holds `path` durable. Throws StoreError.
void sync_dir(const std::string& path);

// Run as root (the CLI, `exim -bh`, a boot unit), a store file that root
// created is handed to the owner of its directory, which is the user the
// store belongs to (Exim's, the collector's): otherwise that user's
// processes could not open it. Does nothing when not root, when the file
// is not root's, or when the directory is root's. Best effort.
void adopt_dir_owner(const std::string& path) noexcept;

// The boot id in `file` (trimmed, 1..kMaxBootIdBytes printable bytes).
// Throws StoreError naming the file and the setting when it cannot be read.
std::string read_boot_id(const std::string& file);

class StateFile {
 public:
  enum class Read { kEmpty, kUnreadable, kOk };

  // Opens `path`, creating it (mode 0660) when `create`. Read-write when
  // possible; read-only when `writable` is false or the file is not
  // writable. Throws StoreError naming the file.
  StateFile(std::string path, bool writable, bool create);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_.get(); }
  bool writable() const noexcept { return writable_; }

  // flock: shared or exclusive, waiting at most `wait` (0: only try). A
  // conversion on the same descriptor is allowed. False on timeout.
  bool lock_shared(std::chrono::milliseconds wait);
  bool lock_exclusive(std::chrono::milliseconds wait);
  void unlock() noexcept;

  Read read(StateRecord& out) const;
  // One pwrite of the whole record, then fdatasync unless `sync` is false.
  // Throws StoreError.
  void write(const StateRecord& r, bool sync = true);

 private:
  bool lock(int op, std::chrono::milliseconds wait);
  std::string path_;
  Fd fd_;
  bool writable_ = false;
};

}  // namespace exigrey::detail

// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the process-wide LMDB environment behind every Store
// handle for one file. See store.h for the public contract; this file holds
// the LMDB rules (docs/internals.md) in one place.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "exigrey/records.h"
#include "exigrey/store_options.h"
#include "state_file.h"

namespace exigrey::detail {

class Env {
 public:
  // This process's environment for `path`, opened on first use. After
  // fork() the child gets a new one; the inherited one is abandoned.
  // `format` is the marker a store of this kind carries (records.h).
  static Env& for_this_process(const std::string& path, const StoreOptions& options,
                               std::string_view format = kFormatValue);
  // Changes in a child process right after fork(); Store handles compare it
  // to know their cached Env* is stale.
  static std::uint64_t fork_generation() noexcept;

  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const noexcept { return env_; }
  MDB_dbi dbi() const noexcept { return dbi_; }
  const std::string& path() const noexcept { return path_; }
  const StoreOptions& options() const noexcept { return options_; }

  MDB_txn* begin_read();                 // from the cache, renewed
  void end_read(MDB_txn* txn) noexcept;  // reset and back to the cache
  MDB_txn* begin_write();

  // Throws the StoreError that describes `rc` from LMDB `function` on this store.
  [[noreturn]] void fail(const char* function, int rc) const;

  // Closes the environment if this process opened it (atexit), releasing
  // its reader slots so that short-lived Exim processes leave none behind.
  // A store whose keep file is in use is flushed first if this process
  // wrote precious records (docs/internals.md, "Sync mode: precious").
  void close_at_exit() noexcept;
  void flush_at_exit() noexcept;

  // ---- crash marker and keep file (env_state.cpp) ----
  // Whether the store has a crash marker (<db>.state) that this process
  // holds a shared lock on.
  bool managed() const noexcept { return state_ != nullptr; }
  // Whether precious writes go to the keep log (the keep file is in use).
  bool keep_active() const noexcept { return keep_active_; }
  void note_precious_write() noexcept { wrote_precious_.store(true, std::memory_order_relaxed); }
  bool wrote_precious() const noexcept { return wrote_precious_.load(std::memory_order_relaxed); }
  StateFile* state() const noexcept { return state_.get(); }
  const std::string& boot() const noexcept { return boot_; }
  // No write may follow (the store was marked clean); begin_write throws.
  void seal() noexcept { sealed_ = true; }

 private:
  Env(std::string path, const StoreOptions& options, std::string_view format);
  void open_dbi_and_check_format();
  // The file's size and the size its newest meta page needs, when pages
  // that are not free lie beyond the end of the file (see the constructor).
  struct Truncation {
    std::uint64_t file_size;
    std::uint64_t needed;
  };
  std::optional<Truncation> truncation(int fd) const;
  // Before mdb_env_open: takes the crash marker's lock and, when the marker
  // asks for it, recovers the file (env_state.cpp).
  void prepare_state();
  // After the format check: finishes what prepare_state started under the
  // exclusive lock, then holds the shared lock for the process's lifetime.
  void settle_state();
  void recover_files(StateRecord& next);
  template <typename Begin>
  int begin_with_retry(Begin begin);

  std::string path_;
  StoreOptions options_;
  std::string_view format_;
  // What to do about a full store of this kind (its format says which).
  std::string_view full_advice() const noexcept;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::mutex idle_mu_;
  std::vector<MDB_txn*> idle_readers_;

  std::unique_ptr<StateFile> state_;
  std::string boot_;
  bool keep_active_ = false;
  bool sealed_ = false;
  std::atomic<bool> wrote_precious_{false};
  // Set by prepare_state when it holds the exclusive lock: what settle_state
  // still has to do.
  struct Pending {
    StateRecord next;
    bool written = false;       // `next` is on disk already
    bool rebuild_keep = false;  // the keep file is wanted and missing: copy every precious record
    bool drop_keep = false;     // sync = none: the keep file is no longer used
    bool unmanage = false;      // sync = meta or full: drop the marker and the keep file
  };
  std::unique_ptr<Pending> pending_;
};

}  // namespace exigrey::detail

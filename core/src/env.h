// Private to core: the process-wide LMDB environment behind every Store
// handle for one file. See store.h for the public contract; this file holds
// the LMDB rules (docs/internals.md) in one place.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "exigrey/records.h"
#include "exigrey/store_options.h"

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
  void close_at_exit() noexcept;

 private:
  Env(std::string path, const StoreOptions& options, std::string_view format);
  void open_dbi_and_check_format();
  template <typename Begin>
  int begin_with_retry(Begin begin);

  std::string path_;
  StoreOptions options_;
  std::string_view format_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::mutex idle_mu_;
  std::vector<MDB_txn*> idle_readers_;
};

}  // namespace exigrey::detail

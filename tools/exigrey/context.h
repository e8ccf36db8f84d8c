// SPDX-License-Identifier: GPL-2.0-or-later
// context.h: what every exigrey command shares: the global options, the
// settings file, where the store is, how to open it, and the output.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "exigrey/clock.h"
#include "exigrey/config.h"
#include "exigrey/exit_status.h"  // kExit*, NotFound (docs/exigrey.1, EXIT STATUS)
#include "exigrey/store.h"
#include "exim_host.h"
#include "output.h"

namespace exigrey::cli {

struct GlobalOptions {
  std::string dir;                               // --dir: the directory of named stores
  std::string db = std::string(kDefaultDbName);  // --db: a name, ./path or /path
  std::string config;  // --config: the settings file (default: config_path())
  bool json = false;   // --json
  bool epoch = false;  // --epoch
};

class Context {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  GlobalOptions options;
  Output out;

  // The settings file, read once.
  const Config& config();
  // The directory of named stores: --dir, else `directory` from the settings
  // file, else Exim's spool_directory + "/grey" (with a note on stderr when
  // Exim cannot be asked and /var/spool/exim4/grey is used instead).
  const std::string& grey_dir();
  // The store file --db names.
  const std::string& store_path();
  bool store_exists();

  // Opens the store read-only (never creates anything but LMDB's lock
  // file). Throws NotFound when the store does not exist. Stale reader
  // slots are cleared on open unless `clear_stale_readers` is false.
  Store open_read(bool clear_stale_readers = true);
  // Opens the store for writing with the configured sync mode and map size.
  // With `create`, a missing store (and a missing last directory level,
  // mode 0750) is created; without it, a missing store is NotFound.
  // As root, created files are handed to the Exim user. With `to_free`
  // (purge, delete) the map may exceed map_size by a few MiB: on a full
  // store removals need pages too (copy-on-write), and they are the fix.
  Store open_write(bool create, bool to_free = false);
  // Opens an existing store at `path` for writing (flush, recover --all).
  Store open_write_at(const std::string& path);
  // Hands `path` to the Exim user when running as root (see exim_host.h).
  void fix_owner(const std::string& path);
  // Every file of the store at `store` that exists (store_files()).
  void fix_owners(const std::string& store);

  UnixTime now() const { return SystemClock::instance().now(); }

 private:
  const std::optional<Owner>& exim_user();

  std::optional<Config> config_;
  std::optional<std::string> grey_dir_;
  std::optional<std::string> store_path_;
  std::optional<std::optional<Owner>> owner_;
};

}  // namespace exigrey::cli

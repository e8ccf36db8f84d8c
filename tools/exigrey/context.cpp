// SPDX-License-Identifier: GPL-2.0-or-later
#include "context.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "exigrey/error.h"
#include "exigrey/paths.h"

namespace exigrey::cli {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

const Config& Context::config() {
  if (!config_) {
    if (!options.config.empty()) {
      if (!exists(options.config)) {
        throw UsageError(fmt::format("exigrey: settings file {} does not exist", options.config));
      }
      config_ = load_config(options.config);
    } else {
      config_ = load_config(config_path());
    }
  }
  return *config_;
}

const std::string& Context::grey_dir() {
  if (!grey_dir_) {
    if (!options.dir.empty()) {
      grey_dir_ = options.dir;
    } else if (!config().directory.empty()) {
      grey_dir_ = config().directory;
    } else {
      std::string why;
      if (auto spool = exim_spool_directory(&why)) {
        grey_dir_ = *spool + "/" + std::string(kGreySubdir);
      } else {
        grey_dir_ = std::string(kFallbackSpool) + "/" + std::string(kGreySubdir);
        std::fprintf(stderr,
                     "exigrey: note: cannot ask Exim for its spool directory (%s); using %s\n",
                     why.c_str(), grey_dir_->c_str());
      }
    }
  }
  return *grey_dir_;
}

const std::string& Context::store_path() {
  if (!store_path_) {
    // A DB given as a path needs no directory (and no question to Exim).
    const std::string_view db = options.db;
    const bool is_path = !db.empty() && (db.front() == '/' || db.starts_with("./"));
    store_path_ = resolve_db_path(db, is_path ? std::string_view() : grey_dir());
  }
  return *store_path_;
}

bool Context::store_exists() { return exists(store_path()); }

const std::optional<Owner>& Context::exim_user() {
  if (!owner_) {
    owner_ = exim_owner(std::filesystem::path(store_path()).parent_path().string());
  }
  return *owner_;
}

void Context::fix_owner(const std::string& path) {
  if (::geteuid() != 0) return;
  give_to_exim(path, exim_user());
}

void Context::fix_owners(const std::string& store) {
  if (::geteuid() != 0) return;
  for (const std::string& file : store_files(store)) {
    if (exists(file)) give_to_exim(file, exim_user());
  }
}

Store Context::open_read(bool clear_stale_readers) {
  const std::string& path = store_path();
  if (!store_exists()) throw NotFound(fmt::format("exigrey: store {} does not exist", path));
  StoreOptions opts = config().store;
  opts.read_only = true;
  opts.clear_stale_readers = clear_stale_readers;
  Store store(path, opts);
  store.open();
  fix_owners(path);  // LMDB creates the lock file even for readers; a recovery makes more
  return store;
}

Store Context::open_write(bool create, bool to_free) {
  const std::string& path = store_path();
  if (::geteuid() == 0) exim_user();  // before anything is created under the directory
  if (!store_exists()) {
    if (!create) throw NotFound(fmt::format("exigrey: store {} does not exist", path));
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!dir.empty() && !exists(dir.string())) {
      // Like the plugin: create the last level only (the grey directory).
      if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
        throw StoreError(ErrorKind::kStore, fmt::format("exigrey: cannot create directory {}: {}",
                                                        dir.string(), std::strerror(errno)));
      }
      fix_owner(dir.string());
    }
  }
  StoreOptions opts = config().store;
  opts.read_only = false;
  struct stat st {};
  if (to_free && ::stat(path.c_str(), &st) == 0) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    opts.map_size = std::max(opts.map_size, size + (std::uint64_t{8} << 20) + size / 32);
  }
  Store store(path, opts);
  store.open();
  fix_owners(path);
  return store;
}

Store Context::open_write_at(const std::string& path) {
  if (!exists(path)) throw NotFound(fmt::format("exigrey: store {} does not exist", path));
  if (::geteuid() == 0) exim_user();
  StoreOptions opts = config().store;
  opts.read_only = false;
  Store store(path, opts);
  store.open();
  fix_owners(path);
  return store;
}

}  // namespace exigrey::cli

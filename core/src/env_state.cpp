// SPDX-License-Identifier: GPL-2.0-or-later
// The crash marker protocol of a greylist store (docs/internals.md, "Sync
// mode: precious"): which process may trust the file, which must recover
// it, and the keep file that recovery restores from.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>

#include "env.h"
#include "exigrey/clock.h"
#include "exigrey/error.h"
#include "keep.h"
#include "raw_store.h"
#include "state_file.h"

namespace exigrey::detail {

namespace {

// How long an opener waits for another process that changes the marker
// (a recovery, a clean stop) before it gives up with an error.
constexpr auto kRecoveryWait = std::chrono::seconds(10);
// How long one attempt at the exclusive lock lasts before the marker is
// read again.
constexpr auto kExclusiveSlice = std::chrono::milliseconds(100);

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    const int err = errno;
    throw StoreError(ErrorKind::kStore,
                     fmt::format("exigrey: cannot remove {}: {}", path, std::strerror(err)), err);
  }
}

void rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    throw StoreError(
        ErrorKind::kStore,
        fmt::format("exigrey: cannot rename {} to {}: {}", from, to, std::strerror(err)), err);
  }
}

// One read of the boot id per file per process: it cannot change while the
// process lives. Called under the registry mutex.
const std::string& boot_id(const std::string& file) {
  static auto* cache = new std::map<std::string, std::string>;
  auto it = cache->find(file);
  if (it == cache->end()) it = cache->emplace(file, read_boot_id(file)).first;
  return it->second;
}

[[noreturn]] void busy(const std::string& store, const std::string& state) {
  throw StoreError(ErrorKind::kStore,
                   fmt::format("exigrey: store {} is being recovered or stopped by another "
                               "process (waited {} s for {}); try again",
                               store, kRecoveryWait.count(), state));
}

}  // namespace

void Env::prepare_state() {
  const std::string spath = state_path(path_);
  const bool wanted = options_.sync == SyncMode::kPrecious || options_.sync == SyncMode::kNone;
  const bool had_state = exists(spath);
  if (!had_state && (!wanted || options_.read_only)) return;  // not managed (yet)
  boot_ = boot_id(options_.boot_id_file);
  try {
    state_ = std::make_unique<StateFile>(spath, /*writable=*/true, /*create=*/!options_.read_only);
  } catch (const StoreError& e) {
    // Name the store, as a failed open of the store itself would.
    const int code = e.lmdb_code();
    if (code == ENOENT || code == EACCES || code == EPERM || code == EROFS) fail("open", code);
    throw;
  }
  // The marker's directory entry must reach the disk before the store's
  // first unsynced write, or a crash could leave a store without a marker
  // (which reads as a store from before `precious`, and is trusted).
  if (!had_state) sync_dir(spath);
  // A process that finds the marker needing a change asks for it
  // exclusively; while it waits, another may make the change and keep the
  // store open (shared) for as long as its session lasts. So the exclusive
  // wait is short, and the marker is read again after it: waiting for every
  // user of the store to go would stall mail for the whole kRecoveryWait
  // when many Exim processes start at once (a failed flock conversion also
  // drops the shared lock, so nothing is held meanwhile).
  const auto deadline = std::chrono::steady_clock::now() + kRecoveryWait;
  const auto left = [&deadline] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  };
  for (;;) {
    if (!state_->lock_shared(left())) busy(path_, spath);
    StateRecord r;
    StateFile::Read got = state_->read(r);
    if (got == StateFile::Read::kOk && r.use == StoreUse::kOpen && r.boot == boot_) return;
    if (options_.read_only && got == StateFile::Read::kOk && r.use == StoreUse::kClean) return;
    if (!state_->writable()) {
      throw StoreError(ErrorKind::kStore,
                       fmt::format("exigrey: store {} must be recovered after a crash or a "
                                   "reboot, which needs write access to {}: run 'exigrey "
                                   "recover' as the Exim user or root",
                                   path_, spath));
    }
    if (!state_->lock_exclusive(std::min(left(), kExclusiveSlice))) {
      if (left().count() == 0) busy(path_, spath);
      continue;  // look again: another process may have made the change
    }
    got = state_->read(r);  // another process may have done it meanwhile
    if (got == StateFile::Read::kOk && r.use == StoreUse::kOpen && r.boot == boot_) continue;

    pending_ = std::make_unique<Pending>();
    StateRecord next = got == StateFile::Read::kOk ? r : StateRecord{};
    next.use = StoreUse::kOpen;
    next.boot = boot_;
    next.mode = options_.sync;
    next.since = SystemClock::instance().now();
    bool write_now = true;
    if (got == StateFile::Read::kOk && r.use == StoreUse::kClean) {
      // Synced and marked by its last user: trusted as it is.
    } else if (got == StateFile::Read::kEmpty) {
      // No marker yet: a new store, or one an earlier exigrey wrote with
      // meta or full sync (consistent on disk). The record is written only
      // once its keep file is whole, so a crash before that repeats this.
      write_now = !exists(path_);
    } else if (options_.crash_recovery) {
      // Left open in another boot, or a torn marker: the file may be torn.
      next.recovered_boot = got == StateFile::Read::kOk ? r.boot : std::string("unknown");
      recover_files(next);
    }
    const bool keep_wanted = options_.sync == SyncMode::kPrecious;
    const bool keep_exists = exists(keep_path(path_));
    pending_->unmanage = options_.sync == SyncMode::kMeta || options_.sync == SyncMode::kFull;
    pending_->drop_keep = !keep_wanted && keep_exists;
    pending_->rebuild_keep = keep_wanted && !keep_exists;
    pending_->next = next;
    if (write_now && !pending_->unmanage) {
      state_->write(next);
      pending_->written = true;
    }
    return;
  }
}

void Env::recover_files(StateRecord& next) {
  const std::string keep = keep_path(path_);
  if (exists(path_)) rename_file(path_, suspect_path(path_));
  remove_file(path_ + "-lock");  // nobody has it open: we hold the marker exclusively
  next.recovery = RecoveryKind::kEmpty;
  next.restored = 0;
  next.flushed_at = 0;
  if (options_.sync == SyncMode::kPrecious && exists(keep)) {
    const std::string tmp = path_ + ".recover";
    try {
      Env& k = Env::for_this_process(keep, keep_options(options_));
      remove_file(tmp);
      if (const int rc = mdb_env_copy2(k.get(), tmp.c_str(), MDB_CP_COMPACT); rc != 0) {
        k.fail("mdb_env_copy2", rc);
      }
      ::chmod(tmp.c_str(), kStoreFileMode);
      rename_file(tmp, path_);
      RawTxn r(k, RawTxn::kRead);
      MDB_stat st{};
      if (const int rc = mdb_stat(r.get(), k.dbi(), &st); rc != 0) k.fail("mdb_stat", rc);
      std::uint64_t meta = 1;  // the format record
      if (const auto flushed = r.find(kFlushedKey)) {
        ++meta;
        if (flushed->size() == 8) next.flushed_at = LeReader(*flushed, "").get<std::int64_t>();
      }
      next.restored = st.ms_entries >= meta ? st.ms_entries - meta : 0;
      next.recovery = RecoveryKind::kFromKeep;
    } catch (const StoreError& e) {
      // A keep file is written whole and synced, so this is a disk fault,
      // not a crash. Mail must go on: start empty, and keep the evidence.
      if (e.kind() != ErrorKind::kCorrupt) throw;
      rename_file(keep, keep + ".suspect");
      remove_file(keep + "-lock");
      remove_file(tmp);
      next.recovery = RecoveryKind::kKeepUnreadable;
    }
  }
  next.recovered_at = SystemClock::instance().now();
  next.logged = false;
  sync_dir(path_);
}

void Env::settle_state() {
  if (!state_) return;
  if (pending_) {
    const std::string keep = keep_path(path_);
    if (pending_->unmanage) {
      // Back to meta or full: make the file whole on disk, then forget the
      // marker and the keep file; LMDB's own guarantees take over.
      if (const int rc = mdb_env_sync(env_, 1); rc != 0) fail("mdb_env_sync", rc);
      remove_file(keep);
      remove_file(keep + "-lock");
      remove_file(state_->path());
      sync_dir(path_);
      state_.reset();
      pending_.reset();
      keep_active_ = false;
      return;
    }
    if (pending_->drop_keep) {
      remove_file(keep);
      remove_file(keep + "-lock");
    }
    if (pending_->rebuild_keep && !options_.read_only) {
      flush_keep(*this, SystemClock::instance().now());
    }
    if (!pending_->written) state_->write(pending_->next);
    sync_dir(path_);
    pending_.reset();
    if (!state_->lock_shared(kRecoveryWait)) busy(path_, state_->path());
  }
  // With precious, every process logs, even while the keep file is missing
  // (removed by hand): the next flush makes it whole again.
  keep_active_ = options_.sync == SyncMode::kPrecious || exists(keep_path(path_));
}

}  // namespace exigrey::detail

// SPDX-License-Identifier: GPL-2.0-or-later
#include "env.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>

#include "exigrey/clock.h"
#include "exigrey/error.h"
#include "exigrey/records.h"
#include "keep.h"
#include "state_file.h"

namespace exigrey::detail {
namespace {

constexpr std::size_t kMaxIdleReaders = 16;

unsigned sync_flags(SyncMode mode) {
  switch (mode) {
    case SyncMode::kFull:
      return 0;
    case SyncMode::kMeta:
      return MDB_NOMETASYNC;
    case SyncMode::kNone:
      return MDB_NOSYNC;
    case SyncMode::kPrecious:
      return MDB_NOSYNC;  // the keep file carries what must survive
  }
  return 0;
}

// Runs `probe`, which reads LMDB pages through the map, turning a SIGBUS (a
// page beyond the end of a truncated file) into nullopt. The handler is
// installed only for the probe, one probe per process at a time; a SIGBUS
// of another thread meanwhile gets the previous disposition.
thread_local sigjmp_buf* t_bus_jump = nullptr;

void on_sigbus(int sig, siginfo_t*, void*) {
  if (t_bus_jump != nullptr) siglongjmp(*t_bus_jump, 1);
  ::signal(sig, SIG_DFL);  // not ours: fault again, without us
}

template <typename Probe>
auto guarded_from_sigbus(Probe probe) -> decltype(probe()) {
  static std::mutex probe_mu;
  std::lock_guard lock(probe_mu);
  struct sigaction ours {
  }, previous{};
  ours.sa_sigaction = on_sigbus;
  ours.sa_flags = SA_SIGINFO;
  sigemptyset(&ours.sa_mask);
  if (::sigaction(SIGBUS, &ours, &previous) != 0) return probe();
  sigjmp_buf jump;
  decltype(probe()) result{};
  if (sigsetjmp(jump, 1) == 0) {
    t_bus_jump = &jump;
    result = probe();
  } else {
    result = decltype(probe()){};  // the probe touched a page the file does not have
  }
  t_bus_jump = nullptr;
  ::sigaction(SIGBUS, &previous, nullptr);
  return result;
}

// The registry is deliberately leaked: no global destructor may touch LMDB
// (static destruction order, and an inherited environment after fork).
struct Registry {
  // Recursive: opening a greylist store may open its keep file (recovery,
  // a first flush) while the registry is locked.
  std::recursive_mutex mu;
  pid_t pid = 0;
  std::map<std::string, Env*> by_path;
  std::map<std::pair<dev_t, ino_t>, Env*> by_file;
};

std::atomic<std::uint64_t> g_fork_generation{1};

Registry& registry();

// pthread_atfork keeps the registry consistent across fork(): the mutex is
// held over the fork so the child never inherits it locked mid-update.
void atfork_prepare() { registry().mu.lock(); }
void atfork_parent() { registry().mu.unlock(); }
void atfork_child() {
  // A recursive mutex belongs to the parent's thread id, which the child's
  // only thread does not have: unlocking would fail. The child starts with
  // a fresh one (nobody else can hold it here).
  new (&registry().mu) std::recursive_mutex;
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

void close_all_at_exit() {
  Registry& reg = registry();
  std::lock_guard lock(reg.mu);
  if (reg.pid != getpid()) return;  // inherited environments are never closed
  // Flushing a store may open its keep file (a new registry entry), so
  // work on copies of the list.
  std::vector<Env*> envs;
  for (auto& [key, env] : reg.by_file) envs.push_back(env);
  for (Env* env : envs) env->flush_at_exit();
  envs.clear();
  for (auto& [key, env] : reg.by_file) envs.push_back(env);
  for (Env* env : envs) env->close_at_exit();
}

Registry& registry() {
  static Registry* reg = [] {
    auto* r = new Registry;
    r->pid = getpid();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    std::atexit(close_all_at_exit);
    return r;
  }();
  return *reg;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

}  // namespace

std::uint64_t Env::fork_generation() noexcept {
  return g_fork_generation.load(std::memory_order_relaxed);
}

Env& Env::for_this_process(const std::string& path, const StoreOptions& options,
                           std::string_view format) {
  Registry& reg = registry();
  std::lock_guard lock(reg.mu);
  if (reg.pid != getpid()) {
    // A child after fork: forget (and leak) the parent's environments
    // without any LMDB call; closing them would drop our fcntl locks.
    reg.by_path.clear();
    reg.by_file.clear();
    reg.pid = getpid();
  }
  const std::string abs = absolute_path(path);
  Env* env = nullptr;
  if (auto it = reg.by_path.find(abs); it != reg.by_path.end()) {
    env = it->second;
  } else {
    struct stat st {};
    if (::stat(abs.c_str(), &st) == 0) {
      if (auto f = reg.by_file.find({st.st_dev, st.st_ino}); f != reg.by_file.end()) {
        env = f->second;  // the same file under another name
      }
    }
    if (env == nullptr) {
      env = new Env(abs, options, format);  // throws on failure; nothing registered then
      if (::stat(abs.c_str(), &st) != 0) {
        env->fail("stat", errno);
      }
      reg.by_file[{st.st_dev, st.st_ino}] = env;
    }
    reg.by_path[abs] = env;
  }
  if (env->format_ != format) {
    throw UsageError(fmt::format("exigrey: {} is already open as another kind of store", abs));
  }
  if (env->options_.read_only && !options.read_only) {
    throw UsageError(
        fmt::format("exigrey: store {} is already open read-only in this process", abs));
  }
  if (env->options_.sync != options.sync && !options.read_only) {
    throw UsageError(
        fmt::format("exigrey: store {} is already open with sync mode {} in this process, not {}",
                    abs, to_string(env->options_.sync), to_string(options.sync)));
  }
  return *env;
}

Env::Env(std::string path, const StoreOptions& options, std::string_view format)
    : path_(std::move(path)), options_(options), format_(format) {
  if (options_.map_size < kMinMapSize) {
    throw UsageError(fmt::format("exigrey: map_size {} is below the minimum of {} bytes",
                                 options_.map_size, kMinMapSize));
  }
  // Greylist stores carry a crash marker (sync = precious or none); their
  // keep files, set-aside copies and the other store kinds do not.
  if (format_ == kFormatValue && !path_.ends_with(".keep") && !path_.ends_with(".suspect") &&
      !path_.ends_with(".recover")) {
    prepare_state();
  }
  int rc = mdb_env_create(&env_);
  if (rc != 0) fail("mdb_env_create", rc);
  auto give_up = [&](const char* function, int code) {
    mdb_env_close(env_);  // a half-opened env has no readers or locks of ours yet
    env_ = nullptr;
    fail(function, code);
  };
  if ((rc = mdb_env_set_maxreaders(env_, kMaxReaders)) != 0) give_up("mdb_env_set_maxreaders", rc);
  if ((rc = mdb_env_set_mapsize(env_, static_cast<size_t>(options_.map_size))) != 0) {
    give_up("mdb_env_set_mapsize", rc);
  }
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | sync_flags(options_.sync);
  if (options_.read_only) flags |= MDB_RDONLY;
  if ((rc = mdb_env_open(env_, path_.c_str(), flags, kStoreFileMode)) != 0) {
    give_up("mdb_env_open", rc);
  }
  adopt_dir_owner(path_);
  adopt_dir_owner(path_ + "-lock");
  // Exim execs delivery processes and ${run} commands: they must not inherit the data fd.
  int fd = -1;
  if (mdb_env_get_fd(env_, &fd) == 0 && fd >= 0) {
    const int fdflags = fcntl(fd, F_GETFD);
    if (fdflags >= 0) fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC);
  }
  if (static_cast<std::size_t>(mdb_env_get_maxkeysize(env_)) < kMaxKeyBytes) {
    give_up("mdb_env_get_maxkeysize", MDB_BAD_VALSIZE);
  }
  // LMDB reads pages through its map: a page beyond the end of a truncated
  // file would be SIGBUS, not an error. Committed pages are on file before
  // the meta page that names them, except pages a commit allocated and freed
  // again ("loose" pages, never written, in the freelist): a file shorter
  // than the last page the meta names is damaged only when a missing page is
  // not free (docs/reliability.md). The freelist is read only then.
  if (fd >= 0) {
    if (const auto cut = truncation(fd)) {
      const auto [file_size, needed] = *cut;
      mdb_env_close(env_);
      env_ = nullptr;
      throw StoreError(ErrorKind::kCorrupt,
                       fmt::format("exigrey: store {} is truncated ({} bytes, its header "
                                   "needs {}): move it aside and restore from an 'exigrey "
                                   "dump' backup",
                                   path_, file_size, needed),
                       MDB_CORRUPTED);
    }
  }
  int dead = 0;
  if (options_.clear_stale_readers) {
    mdb_reader_check(env_, &dead);  // slots of processes that died holding a reader
  }
  try {
    open_dbi_and_check_format();
    settle_state();
  } catch (...) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
}

std::optional<Env::Truncation> Env::truncation(int fd) const {
  MDB_envinfo info{};
  MDB_stat st{};
  struct stat file {};
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &st) != 0 || ::fstat(fd, &file) != 0) {
    return std::nullopt;
  }
  const std::uint64_t psize = st.ms_psize;
  if (static_cast<std::uint64_t>(file.st_size) >= (info.me_last_pgno + 1) * psize) {
    return std::nullopt;  // the usual case: no transaction, no freelist
  }
  // Look again in a snapshot whose meta is the newest, so that its freelist
  // and last page belong together; the file is measured after it is taken
  // (the file only grows, and the snapshot's pages were written before its
  // meta). A writer committing all the time may need a few tries.
  for (int attempt = 0; attempt < 8; ++attempt) {
    MDB_txn* raw = nullptr;
    if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw) != 0) return std::nullopt;
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> txn(raw, &mdb_txn_abort);
    if (mdb_env_info(env_, &info) != 0 || ::fstat(fd, &file) != 0) return std::nullopt;
    if (mdb_txn_id(raw) != info.me_last_txnid) continue;
    const std::uint64_t first = static_cast<std::uint64_t>(file.st_size) / psize;
    const std::uint64_t last = info.me_last_pgno;
    if (first > last) return std::nullopt;
    const Truncation cut{static_cast<std::uint64_t>(file.st_size), (last + 1) * psize};
    MDB_cursor* cur = nullptr;
    if (mdb_cursor_open(raw, 0, &cur) != 0) return std::nullopt;  // 0: the freelist
    // The freelist's own pages may lie beyond the end of a damaged file; the
    // probe holds nothing that a jump out of it would leak.
    const auto free_in_range = guarded_from_sigbus([cur, first,
                                                    last]() -> std::optional<std::uint64_t> {
      // Each record is an ID list (a count, then page numbers); a page is
      // free in at most one record.
      std::uint64_t count = 0;
      MDB_val k{}, v{};
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const std::size_t n = v.mv_size / sizeof(std::size_t);
        for (std::size_t i = 1; i < n; ++i) {
          std::size_t page = 0;
          std::memcpy(&page, static_cast<const char*>(v.mv_data) + i * sizeof page, sizeof page);
          if (page >= first && page <= last) ++count;
        }
      }
      return count;
    });
    mdb_cursor_close(cur);
    if (!free_in_range) return cut;  // the freelist itself lies past the end of the file
    if (*free_in_range == last - first + 1) return std::nullopt;
    return cut;
  }
  return std::nullopt;  // no quiet moment: no evidence of damage either
}

void Env::open_dbi_and_check_format() {
  // The main (unnamed) database needs no mdb_env_set_maxdbs; its handle is
  // opened once and then lives as long as the environment.
  MDB_txn* raw = nullptr;
  int rc = begin_with_retry([&] { return mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw); });
  if (rc != 0) fail("mdb_txn_begin", rc);
  std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> txn(raw, &mdb_txn_abort);
  if ((rc = mdb_dbi_open(txn.get(), nullptr, 0, &dbi_)) != 0) fail("mdb_dbi_open", rc);
  MDB_val key{kFormatKey.size(), const_cast<char*>(kFormatKey.data())};
  MDB_val value{};
  rc = mdb_get(txn.get(), dbi_, &key, &value);
  if (rc != 0 && rc != MDB_NOTFOUND) fail("mdb_get", rc);
  // A value points into the map: it is copied before the snapshot ends,
  // because from then on other processes' commits may reuse its page
  // (docs/reliability.md, "a reader saw another record's bytes").
  const std::optional<std::string> found =
      rc == 0 ? std::optional<std::string>(std::in_place, static_cast<const char*>(value.mv_data),
                                           value.mv_size)
              : std::nullopt;
  MDB_stat st{};
  if ((rc = mdb_stat(txn.get(), dbi_, &st)) != 0) fail("mdb_stat", rc);
  txn.reset();
  if (found) {
    if (*found != format_) {
      throw StoreError(ErrorKind::kCorrupt,
                       fmt::format("exigrey: {} has store format {:?}, this exigrey reads {:?}",
                                   path_, *found, format_));
    }
    return;
  }
  if (st.ms_entries != 0) {
    throw StoreError(ErrorKind::kCorrupt,
                     fmt::format("exigrey: {} is an LMDB file but not an exigrey store; "
                                 "refusing to use it",
                                 path_));
  }
  if (options_.read_only) return;  // an empty new store: nothing to read yet
  txn.reset(begin_write());
  MDB_val format{format_.size(), const_cast<char*>(format_.data())};
  rc = mdb_put(txn.get(), dbi_, &key, &format, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) rc = 0;  // another process created the store first
  if (rc != 0) fail("mdb_put", rc);
  // LMDB frees the handle even when the commit fails: release it first.
  if ((rc = mdb_txn_commit(txn.release())) != 0) fail("mdb_txn_commit", rc);
}

template <typename Begin>
int Env::begin_with_retry(Begin begin) {
  int rc = begin();
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopt its size (no txn of ours is active here).
    mdb_env_set_mapsize(env_, 0);
    rc = begin();
  } else if (rc == MDB_READERS_FULL) {
    int dead = 0;
    mdb_reader_check(env_, &dead);
    rc = begin();
  }
  return rc;
}

MDB_txn* Env::begin_read() {
  MDB_txn* txn = nullptr;
  {
    std::lock_guard lock(idle_mu_);
    if (!idle_readers_.empty()) {
      txn = idle_readers_.back();
      idle_readers_.pop_back();
    }
  }
  if (txn != nullptr) {
    if (mdb_txn_renew(txn) == 0) return txn;
    mdb_txn_abort(txn);  // e.g. MDB_MAP_RESIZED: start afresh below
    txn = nullptr;
  }
  const int rc = begin_with_retry([&] { return mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); });
  if (rc != 0) fail("mdb_txn_begin", rc);
  return txn;
}

void Env::end_read(MDB_txn* txn) noexcept {
  mdb_txn_reset(txn);  // release the snapshot at once; keep the slot for reuse
  std::lock_guard lock(idle_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) {
    idle_readers_.push_back(txn);
  } else {
    mdb_txn_abort(txn);
  }
}

MDB_txn* Env::begin_write() {
  if (options_.read_only) {
    throw UsageError(fmt::format("exigrey: store {} is open read-only", path_));
  }
  if (sealed_) {
    throw UsageError(fmt::format("exigrey: store {} was marked clean by this process", path_));
  }
  MDB_txn* txn = nullptr;
  const int rc = begin_with_retry([&] { return mdb_txn_begin(env_, nullptr, 0, &txn); });
  if (rc != 0) fail("mdb_txn_begin", rc);
  return txn;
}

void Env::flush_at_exit() noexcept {
  if (env_ == nullptr || options_.read_only || !keep_active_ || !wrote_precious()) return;
  try {
    flush_keep(*this, SystemClock::instance().now());
  } catch (...) {
    // Nothing is lost: the log entries stay for the next flush (the
    // timer's, or the next process's).
  }
}

void Env::close_at_exit() noexcept {
  if (env_ == nullptr) return;
  {
    std::lock_guard lock(idle_mu_);
    for (MDB_txn* txn : idle_readers_) mdb_txn_abort(txn);
    idle_readers_.clear();
  }
  mdb_env_close(env_);
  env_ = nullptr;
  state_.reset();  // only now may another process take the marker exclusively
}

std::string_view Env::full_advice() const noexcept {
  // Each kind of store has its own remedy: the greylist's is the admin's
  // purge; the collector's store and the outbox are kept by their daemons.
  if (format_.starts_with("exigrey-reputation")) {
    return "raise map_size in exigrey-collect's settings, or shorten retention (records are "
           "pruned after it)";
  }
  if (format_.starts_with("exigrey-outbox")) {
    return "is exigrey-forward delivering? (delivered reports leave the outbox; "
           "'exigrey outbox' shows what waits)";
  }
  return "run 'exigrey purge --older-than 30d' or raise map_size in /etc/exigrey/exigrey.conf";
}

void Env::fail(const char* function, int rc) const {
  // LMDB reports a short write (the disk filled up mid-commit) as EIO:
  // say what it is when the file system has no room left.
  if (rc == EIO) {
    struct statvfs fs {};
    const std::string dir = std::filesystem::path(path_).parent_path().string();
    if (::statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0 &&
        static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < (std::uint64_t{64} << 10)) {
      rc = ENOSPC;
    }
  }
  switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
      throw StoreError(
          ErrorKind::kMapFull,
          fmt::format("exigrey: store {} is full (map_size {} {}): {}", path_,
                      options_.map_size >= (std::uint64_t{1} << 20) ? options_.map_size >> 20
                                                                    : options_.map_size >> 10,
                      options_.map_size >= (std::uint64_t{1} << 20) ? "MiB" : "KiB", full_advice()),
          rc);
    case MDB_INVALID:
      throw StoreError(ErrorKind::kCorrupt,
                       fmt::format("exigrey: {} is not an LMDB file, or its header is "
                                   "damaged (an old Berkeley DB store?); refusing to touch "
                                   "it: move it aside",
                                   path_),
                       rc);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
      throw StoreError(ErrorKind::kCorrupt,
                       fmt::format("exigrey: store {} is unreadable ({}): move it aside and "
                                   "restore from an 'exigrey dump' backup",
                                   path_, mdb_strerror(rc)),
                       rc);
    case ENOENT:
      throw StoreError(ErrorKind::kStore,
                       options_.read_only
                           ? fmt::format("exigrey: store {} does not exist", path_)
                           : fmt::format("exigrey: cannot create store {}: its directory "
                                         "does not exist",
                                         path_),
                       rc);
    case EACCES:
    case EPERM:
    case EROFS:
      throw StoreError(ErrorKind::kStore,
                       fmt::format("exigrey: permission denied for store {} ({}): it must be "
                                   "readable and writable by the Exim user",
                                   path_, function),
                       rc);
    case ENOSPC:
      throw StoreError(ErrorKind::kStore,
                       fmt::format("exigrey: no space left on the device of store {}", path_), rc);
    default:
      throw StoreError(
          ErrorKind::kStore,
          fmt::format("exigrey: store {}: {} failed: {}", path_, function, mdb_strerror(rc)), rc);
  }
}

}  // namespace exigrey::detail

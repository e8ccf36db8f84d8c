// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/durability.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "env.h"
#include "exigrey/error.h"
#include "keep.h"
#include "raw_store.h"
#include "state_file.h"
#include "store_access.h"

namespace exigrey {
namespace {

using detail::Env;
using detail::RawTxn;
using detail::StateFile;
using detail::StateRecord;

std::optional<Recovery> recovery_of(const StateRecord& r) {
  if (r.recovery == detail::RecoveryKind::kNone) return std::nullopt;
  Recovery out;
  switch (r.recovery) {
    case detail::RecoveryKind::kFromKeep:
      out.kind = Recovery::Kind::kFromKeep;
      break;
    case detail::RecoveryKind::kKeepUnreadable:
      out.kind = Recovery::Kind::kKeepUnreadable;
      break;
    default:
      out.kind = Recovery::Kind::kEmpty;
      break;
  }
  out.at = r.recovered_at;
  out.from_boot = r.recovered_boot;
  out.restored = r.restored;
  if (r.flushed_at != 0) out.flushed_at = r.flushed_at;
  out.logged = r.logged;
  return out;
}

std::string utc(UnixTime t) {
  // strftime, not fmt/chrono.h: the plugin carries fmt without its locale part.
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  char buf[32];
  if (::gmtime_r(&tt, &tm) == nullptr ||
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return std::to_string(t);
  }
  return buf;
}

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string describe(const Recovery& r, const std::string& path) {
  const std::string boot = r.from_boot.size() > 8 ? r.from_boot.substr(0, 8) + "…" : r.from_boot;
  if (r.kind == Recovery::Kind::kEmpty) {
    return fmt::format(
        "exigrey: store {} was in use when the machine stopped (boot {}): started empty at {} "
        "(sync = none, or no keep file); the old file is {}",
        path, boot, utc(r.at), file_name(detail::suspect_path(path)));
  }
  if (r.kind == Recovery::Kind::kKeepUnreadable) {
    return fmt::format(
        "exigrey: store {} was in use when the machine stopped (boot {}), and its keep file is "
        "damaged (a disk fault): started empty at {}; the old files are {} and {}.suspect; run "
        "'exigrey verify' on both and check the disk",
        path, boot, utc(r.at), file_name(detail::suspect_path(path)),
        file_name(detail::keep_path(path)));
  }
  return fmt::format(
      "exigrey: store {} was in use when the machine stopped (boot {}): restored {} whitelist "
      "entries and passed items from {}{} at {}; pending items since then are lost; the old file "
      "is {}",
      path, boot, r.restored, file_name(detail::keep_path(path)),
      r.flushed_at ? fmt::format(" (flushed {})", utc(*r.flushed_at)) : std::string(), utc(r.at),
      file_name(detail::suspect_path(path)));
}

FlushResult flush(const Store& store) {
  Env& env = detail::StoreAccess::env(store);
  FlushResult out;
  if (!env.managed() || !env.keep_active()) return out;
  out.managed = true;
  if (env.options().read_only) {
    throw UsageError(fmt::format("exigrey: store {} is open read-only: cannot flush", env.path()));
  }
  const detail::KeepFlush f = detail::flush_keep(env, ::time(nullptr));
  out.copied = f.copied;
  out.removed = f.removed;
  out.logged = f.logged;
  out.rebuilt = f.rebuilt;
  return out;
}

CleanStop stop_clean(const Store& store, std::chrono::milliseconds wait) {
  Env& env = detail::StoreAccess::env(store);
  if (!env.managed()) return CleanStop::kNotManaged;
  if (env.options().read_only) {
    throw UsageError(
        fmt::format("exigrey: store {} is open read-only: cannot mark it clean", env.path()));
  }
  StateFile& state = *env.state();
  // Converts this process's shared lock: granted once nobody else has the
  // store open, so no write can follow the sync below.
  if (!state.lock_exclusive(wait)) return CleanStop::kBusy;
  if (env.keep_active()) detail::flush_keep(env, ::time(nullptr));
  if (const int rc = mdb_env_sync(env.get(), 1); rc != 0) env.fail("mdb_env_sync", rc);
  StateRecord r;
  if (state.read(r) != StateFile::Read::kOk) r = StateRecord{};
  r.use = detail::StoreUse::kClean;
  r.boot = env.boot();
  r.mode = env.options().sync;
  r.since = ::time(nullptr);
  state.write(r);
  env.seal();  // the exclusive lock stays until this process closes the store
  return CleanStop::kMarked;
}

DurabilityStatus durability(const Store& store) {
  Env& env = detail::StoreAccess::env(store);
  DurabilityStatus s;
  s.mode = env.options().sync;
  if (!env.managed()) return s;
  s.managed = true;
  StateRecord r;
  if (env.state()->read(r) == StateFile::Read::kOk) {
    s.mode = r.mode;
    s.clean = r.use == detail::StoreUse::kClean;
    s.boot = r.boot;
    s.since = r.since;
    s.last_recovery = recovery_of(r);
  }
  s.keep_in_use = env.keep_active();
  {
    RawTxn txn(env, RawTxn::kRead);
    detail::RawCursor cur(env, txn.get());
    const std::string start = detail::keep_log_key(0);
    MDB_val k = detail::val_of(start), v{};
    for (bool ok = cur.get(k, v, MDB_SET_RANGE);
         ok && k.mv_size == 9 && static_cast<const char*>(k.mv_data)[0] == detail::kKeepLogNs;
         ok = cur.get(k, v, MDB_NEXT)) {
      if (s.unflushed++ == 0 && v.mv_size >= 8) {
        s.oldest_unflushed = detail::LeReader(detail::view_of(v), "").get<std::int64_t>();
      }
    }
  }
  if (s.keep_in_use && ::access(detail::keep_path(env.path()).c_str(), F_OK) == 0) {
    Env& keep =
        Env::for_this_process(detail::keep_path(env.path()), detail::keep_options(env.options()));
    RawTxn txn(keep, RawTxn::kRead);
    MDB_stat st{};
    if (const int rc = mdb_stat(txn.get(), keep.dbi(), &st); rc != 0) keep.fail("mdb_stat", rc);
    std::uint64_t meta = 1;
    if (const auto flushed = txn.find(detail::kFlushedKey)) {
      ++meta;
      if (flushed->size() == 8) s.last_flush = detail::LeReader(*flushed, "").get<std::int64_t>();
    }
    s.keep_records = st.ms_entries >= meta ? st.ms_entries - meta : 0;
  }
  return s;
}

std::optional<std::string> take_unlogged_recovery(const Store& store) {
  Env& env = detail::StoreAccess::env(store);
  if (!env.managed() || !env.state()->writable()) return std::nullopt;
  StateFile& state = *env.state();
  StateRecord r;
  if (state.read(r) != StateFile::Read::kOk || r.recovery == detail::RecoveryKind::kNone ||
      r.logged) {
    return std::nullopt;
  }
  // Processes that hold the marker shared may all get here at once: a
  // record lock on its first byte lets exactly one of them log it.
  struct flock guard {};
  guard.l_type = F_WRLCK;
  guard.l_whence = SEEK_SET;
  guard.l_start = 0;
  guard.l_len = 1;
  if (::fcntl(state.fd(), F_SETLKW, &guard) != 0) return std::nullopt;
  std::optional<std::string> line;
  if (state.read(r) == StateFile::Read::kOk && r.recovery != detail::RecoveryKind::kNone &&
      !r.logged) {
    r.logged = true;
    state.write(r, /*sync=*/false);  // a second log line after a crash is harmless
    line = describe(*recovery_of(r), env.path());
  }
  guard.l_type = F_UNLCK;
  ::fcntl(state.fd(), F_SETLK, &guard);
  return line;
}

}  // namespace exigrey

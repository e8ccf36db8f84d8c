// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/privileges.h: running as an unprivileged user (--user, --group).
//
// The collector is started as root when it must bind a port below 1024 or
// read a root-only keys file or TLS key. It resolves the user first (an
// unknown name is a one-line error before anything is opened), binds its
// listeners and reads the keys and TLS files as root, then drops to the user
// for good: supplementary groups (initgroups), real/effective/saved gid, then
// real/effective/saved uid, and it checks that setuid(0) now fails. Only then
// does it open its store and publish, so the store files belong to the user.
//
// Started without root, --user is accepted only when it names the user the
// process already runs as (so one settings file serves both a root start and
// a systemd unit with User=); any other user is an error.
//
// Errors: exigrey::UsageError (bad user, group, not root) and exigrey::Error
// (a system call failed), each one line. Not thread-safe: call before any
// thread starts.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace exigrey::collect {

struct Identity {
  std::string user;   // as named
  std::string group;  // its name (the primary group's when not given)
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_needed = false;  // false: the process already runs as this user
};

// Looks the user (and group, if not empty) up. Throws UsageError when either
// is unknown, when the user is root (that drops nothing), or when the process
// is not root and is not already that user and group.
Identity resolve_identity(const std::string& user, const std::string& group);

// Creates `dir` if missing (mode `mode`); when created and `owner` needs a
// switch, gives it to the owner. Throws Error naming the directory.
void ensure_dir(const std::string& dir, mode_t mode, std::string_view what,
                const std::optional<Identity>& owner);

// Drops to `id` for good (does nothing when !id.switch_needed). Throws Error.
void drop_privileges(const Identity& id);

// Throws Error naming `path` when the current (real) user cannot write it:
// a directory needs write and search, a file write. Missing files are fine.
void require_writable(const std::string& path, std::string_view what, std::string_view user);

// True if the current (real) user may read `path`.
bool readable(const std::string& path) noexcept;

}  // namespace exigrey::collect

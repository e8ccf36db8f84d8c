// SPDX-License-Identifier: GPL-2.0-or-later
#include "privileges.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "exigrey/error.h"

namespace exigrey::collect {
namespace {

[[noreturn]] void sys_fail(const std::string& what) {
  throw Error(ErrorKind::kUsage,
              fmt::format("exigrey-collect: {}: {}", what, std::strerror(errno)));
}

// getpwnam_r / getgrnam_r / getgrgid_r with a buffer that grows on ERANGE.
template <typename Entry, typename Fn>
bool lookup(Entry& entry, std::vector<char>& buf, Fn fn) {
  buf.resize(4096);
  for (;;) {
    Entry* result = nullptr;
    const int rc = fn(&entry, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (std::size_t{1} << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
      errno = rc;
      sys_fail("cannot read the user and group databases");
    }
    return result != nullptr;
  }
}

}  // namespace

Identity resolve_identity(const std::string& user, const std::string& group) {
  Identity id;
  id.user = user;
  passwd pw{};
  std::vector<char> pwbuf;
  if (!lookup(pw, pwbuf, [&](passwd* e, char* b, std::size_t n, passwd** r) {
        return ::getpwnam_r(user.c_str(), e, b, n, r);
      })) {
    throw UsageError(fmt::format("exigrey-collect: --user {}: no such user", user));
  }
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  if (id.uid == 0) {
    throw UsageError(fmt::format(
        "exigrey-collect: --user {}: that is root, which drops nothing; name an unprivileged "
        "user or omit --user",
        user));
  }
  struct group gr {};
  std::vector<char> grbuf;
  if (!group.empty()) {
    if (!lookup(gr, grbuf, [&](struct group* e, char* b, std::size_t n, struct group** r) {
          return ::getgrnam_r(group.c_str(), e, b, n, r);
        })) {
      throw UsageError(fmt::format("exigrey-collect: --group {}: no such group", group));
    }
    id.gid = gr.gr_gid;
    id.group = group;
  } else if (lookup(gr, grbuf, [&](struct group* e, char* b, std::size_t n, struct group** r) {
               return ::getgrgid_r(id.gid, e, b, n, r);
             })) {
    id.group = gr.gr_name;
  } else {
    id.group = std::to_string(id.gid);
  }
  if (::geteuid() == 0) {
    id.switch_needed = true;
    return id;
  }
  if (::getuid() == id.uid && ::geteuid() == id.uid && ::getgid() == id.gid &&
      ::getegid() == id.gid) {
    return id;  // already that user: nothing to switch
  }
  throw UsageError(fmt::format(
      "exigrey-collect: --user {}: only root can switch users (running as uid {}, gid {}); "
      "start it as root, or as {} itself",
      user, ::geteuid(), ::getegid(), user));
}

void ensure_dir(const std::string& dir, mode_t mode, std::string_view what,
                const std::optional<Identity>& owner) {
  errno = 0;
  const bool created = ::mkdir(dir.c_str(), mode) == 0;
  if (created || errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (created && owner && owner->switch_needed &&
          ::chown(dir.c_str(), owner->uid, owner->gid) != 0) {
        sys_fail(fmt::format("cannot give {} directory {} to {}", what, dir, owner->user));
      }
      return;
    }
    if (errno == 0 || errno == EEXIST) errno = ENOTDIR;
  }
  throw Error(ErrorKind::kStore, fmt::format("exigrey-collect: cannot use {} directory {}: {}",
                                             what, dir, std::strerror(errno)));
}

void drop_privileges(const Identity& id) {
  if (!id.switch_needed) return;
  // Supplementary groups first (needs root), then the gid, then the uid.
  if (::initgroups(id.user.c_str(), id.gid) != 0) {
    sys_fail(fmt::format("cannot set the groups of user {}", id.user));
  }
  if (::setresgid(id.gid, id.gid, id.gid) != 0) {
    sys_fail(fmt::format("cannot switch to group {}", id.group));
  }
  if (::setresuid(id.uid, id.uid, id.uid) != 0) {
    sys_fail(fmt::format("cannot switch to user {}", id.user));
  }
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0 || ru != id.uid ||
      eu != id.uid || su != id.uid || rg != id.gid || eg != id.gid || sg != id.gid) {
    throw Error(
        ErrorKind::kUsage,
        fmt::format("exigrey-collect: switching to user {} left other ids behind", id.user));
  }
  // The point of it all: root must be out of reach now.
  if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0) {
    throw Error(ErrorKind::kUsage,
                fmt::format("exigrey-collect: still able to regain root after switching to "
                            "user {}; refusing to run",
                            id.user));
  }
}

void require_writable(const std::string& path, std::string_view what, std::string_view user) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw Error(ErrorKind::kUsage,
                fmt::format("exigrey-collect: {} {} is not reachable by user {} ({}); make "
                            "its parent directories searchable by that user",
                            what, path, user, std::strerror(errno)));
  }
  const int want = S_ISDIR(st.st_mode) ? (W_OK | X_OK) : W_OK;
  if (::access(path.c_str(), want) != 0) {
    throw Error(ErrorKind::kUsage,
                fmt::format("exigrey-collect: {} {} is not writable by user {} ({}); chown it "
                            "to that user",
                            what, path, user, std::strerror(errno)));
  }
}

bool readable(const std::string& path) noexcept { return ::access(path.c_str(), R_OK) == 0; }

}  // namespace exigrey::collect

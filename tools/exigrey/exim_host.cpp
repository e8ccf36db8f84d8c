// SPDX-License-Identifier: GPL-2.0-or-later
#include "exim_host.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "exigrey/fd.h"

extern char** environ;

namespace exigrey::cli {
namespace {

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::optional<std::string> find_exim() {
  if (const char* env = std::getenv(kEximEnv); env != nullptr && *env != '\0') {
    return executable(env) ? std::optional<std::string>(env) : std::nullopt;
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string_view p(path);
    while (!p.empty()) {
      const auto colon = p.find(':');
      dirs.emplace_back(p.substr(0, colon));
      if (colon == std::string_view::npos) break;
      p.remove_prefix(colon + 1);
    }
  }
  // cron's PATH lacks the sbin directories where Exim lives.
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/usr/local/sbin");
  for (const char* name : {"exim", "exim4"}) {
    for (const auto& d : dirs) {
      if (d.empty()) continue;
      const std::string candidate = d + "/" + name;
      if (executable(candidate)) return candidate;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> exim_spool_directory(std::string* why) {
  const auto exim = find_exim();
  if (!exim) {
    *why = std::getenv(kEximEnv) != nullptr ? fmt::format("${} is not an executable", kEximEnv)
                                            : std::string("exim not found");
    return std::nullopt;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *why = fmt::format("pipe: {}", std::strerror(errno));
    return std::nullopt;
  }
  Fd from_exim(fds[0]);
  Fd to_us(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_us.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string arg0 = *exim;
  std::string a1 = "-n", a2 = "-bP", a3 = "spool_directory";
  char* argv[] = {arg0.data(), a1.data(), a2.data(), a3.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exim->c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  to_us.reset();  // only Exim writes now: its exit ends our read
  if (rc != 0) {
    *why = fmt::format("cannot run {}: {}", *exim, std::strerror(rc));
    return std::nullopt;
  }
  std::string text;
  (void)read_all(from_exim.get(), 4096, &text);  // what Exim said is checked below
  from_exim.reset();  // more output than that ends Exim with SIGPIPE, not a hang
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty() || text.front() != '/' ||
      text.find('\n') != std::string::npos) {
    *why = fmt::format("{} -n -bP spool_directory failed", *exim);
    return std::nullopt;
  }
  return text;
}

std::optional<Owner> exim_owner(const std::string& dir) {
  if (const struct passwd* pw = ::getpwnam("Debian-exim"); pw != nullptr && pw->pw_uid != 0) {
    return Owner{pw->pw_uid, pw->pw_gid};
  }
  struct stat st {};
  std::filesystem::path p(dir);
  if (::stat(p.c_str(), &st) != 0 && ::stat(p.parent_path().c_str(), &st) != 0) {
    return std::nullopt;
  }
  if (st.st_uid == 0) return std::nullopt;
  return Owner{st.st_uid, st.st_gid};
}

void give_to_exim(const std::string& path, const std::optional<Owner>& owner) {
  if (!owner || ::geteuid() != 0) return;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || st.st_uid != 0) return;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return;
  if (::chown(path.c_str(), owner->uid, owner->gid) != 0) {
    // Not fatal (root can use the store), but Exim's later "permission
    // denied" would not say why: name the cause now.
    std::fprintf(stderr, "exigrey: warning: cannot give %s to the Exim user (%u:%u): %s\n",
                 path.c_str(), static_cast<unsigned>(owner->uid), static_cast<unsigned>(owner->gid),
                 std::strerror(errno));
  }
}

}  // namespace exigrey::cli

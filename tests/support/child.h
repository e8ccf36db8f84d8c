// SPDX-License-Identifier: GPL-2.0-or-later
// tests/support/child.h: a test's code in a child process, the way every
// multi-process test needs it (a second Exim, a killed writer, a process
// that opens a store fresh).
//
// spawn_child(fn) forks and runs fn in the child. The child's exit status
// is what fn returns: an int as it is, a bool as 0 (true) or 1 (false),
// nothing as 0; an exception ends it with kChildThrew and its message on
// stderr. Before fn, the child restores the default action of the fatal
// signals, so that a crash ends it as a signal its parent sees instead of
// running Catch's report in the child. It leaves with _exit (no atexit
// hooks, no Catch report), or with std::exit for ChildEnd::kExit, as Exim
// does (the exit hooks run). stdio is flushed before the fork, so nothing
// buffered is written twice.
//
// wait_child(pid) reaps it: its exit status, or 128 + the signal that
// ended it (as the shell reports it). run_child does both.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <type_traits>
#include <utility>

namespace exigrey::test {

inline constexpr int kChildThrew = 100;

enum class ChildEnd { kQuick, kExit };

template <typename F>
pid_t spawn_child(F&& fn, ChildEnd end = ChildEnd::kQuick) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // the parent, or -1
  for (const int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) std::signal(sig, SIG_DFL);
  int status = 0;
  try {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_same_v<R, bool>) {
      status = fn() ? 0 : 1;
    } else if constexpr (std::is_void_v<R>) {
      fn();
    } else {
      status = static_cast<int>(fn());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: %s\n", static_cast<int>(::getpid()), e.what());
    status = kChildThrew;
  } catch (...) {
    status = kChildThrew;
  }
  if (end == ChildEnd::kExit) std::exit(status);
  ::_exit(status);
}

inline int wait_child(pid_t pid) {
  if (pid < 0) return -1;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &st, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

template <typename F>
int run_child(F&& fn, ChildEnd end = ChildEnd::kQuick) {
  return wait_child(spawn_child(std::forward<F>(fn), end));
}

}  // namespace exigrey::test

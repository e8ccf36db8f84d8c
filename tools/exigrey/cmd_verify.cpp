// SPDX-License-Identifier: GPL-2.0-or-later
// verify: reads the whole store in a child process and says whether it is
// damaged. The child is what makes a crash reportable: LMDB keeps no page
// checksums, so garbage inside a page can make it read out of bounds, and a
// damaged store must end in a verdict, not in a core dump of the checker.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "commands.h"
#include "exigrey/error.h"
#include "exigrey/fd.h"
#include "exigrey/verify.h"

namespace exigrey::cli {
namespace {

// What the child tells the parent, one line per message:
//   count LMDB_ENTRIES | progress N | report WALKED ITEMS WHITELIST META LMDB PROBLEMS
//   problem TEXT | error TEXT
// Any other line is the child's stderr (LMDB prints its failed assertion
// there before it aborts): the parent keeps the last one for its message.
void send(int fd, std::string_view line) {
  std::string out(line);
  out.push_back('\n');
  for (std::string_view rest = out; !rest.empty();) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone: nothing left to tell
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void child(const Store& store, int fd) {
  // A crash must end the child with its signal, for the parent to name.
  for (const int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
  ::dup2(fd, STDERR_FILENO);
  int status = 0;
  try {
    send(fd, fmt::format("count {}", store.read().entry_count()));
    const VerifyReport r =
        verify(store, [fd](std::uint64_t n) { send(fd, fmt::format("progress {}", n)); });
    for (const std::string& p : r.problems) send(fd, "problem " + p);
    send(fd, fmt::format("report {} {} {} {} {} {} {}", r.walked, r.items, r.whitelist, r.meta,
                         r.keep_log, r.lmdb_entries, r.problem_count));
  } catch (const std::exception& e) {
    std::string text = e.what();
    for (char& c : text) {
      if (c == '\n') c = ' ';
    }
    send(fd, "error " + text);
    status = 1;
  }
  ::_exit(status);
}

struct ChildResult {
  bool reported = false;
  VerifyReport report;
  std::string error;                   // the child's exception, if any
  std::string stray;                   // the last line the child wrote to stderr
  std::optional<std::uint64_t> count;  // entries LMDB's header counts, once the child said
  std::uint64_t progress = 0;          // entries walked by the last progress line
  int signal = 0;                      // the signal that ended the child, if one did
  int exit_status = 0;
};

std::uint64_t number(std::string_view& rest) {
  while (rest.starts_with(' ')) rest.remove_prefix(1);
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
  return ec == std::errc() ? n : 0;
}

void parse_line(std::string_view line, ChildResult& out) {
  const std::size_t space = line.find(' ');
  const std::string_view word = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
  if (word == "count") {
    out.count = number(rest);
  } else if (word == "progress") {
    out.progress = number(rest);
  } else if (word == "problem") {
    out.report.problems.emplace_back(rest);
  } else if (word == "error") {
    out.error = std::string(rest);
  } else if (word == "report") {
    VerifyReport& r = out.report;
    r.walked = number(rest);
    r.items = number(rest);
    r.whitelist = number(rest);
    r.meta = number(rest);
    r.keep_log = number(rest);
    r.lmdb_entries = number(rest);
    r.problem_count = number(rest);
    out.reported = true;
  } else if (!line.empty()) {
    out.stray = std::string(line.substr(0, 200));
  }
}

ChildResult run_child(const Store& store) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw Error(ErrorKind::kStore, fmt::format("exigrey: verify: pipe: {}", std::strerror(errno)));
  }
  Fd from_child(fds[0]);
  Fd to_parent(fds[1]);
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw Error(ErrorKind::kStore, fmt::format("exigrey: verify: fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    from_child.reset();
    child(store, to_parent.release());
  }
  to_parent.reset();  // the child's copy is the only writer: its end is our EOF
  ChildResult result;
  std::string buf;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(from_child.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      parse_line(std::string_view(buf).substr(0, nl), result);
    }
  }
  from_child.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  return result;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

constexpr std::string_view kRecovery =
    "move it aside and 'exigrey load' the last dump (docs/reliability.md, Recovery)";

int run_verify(Context& ctx) {
  // Opening checks the meta pages and the file's length in this process;
  // the walk, which can meet garbage anywhere, runs in the child.
  const Store store = ctx.open_read();
  const ChildResult c = run_child(store);
  Output& out = ctx.out;
  const VerifyReport& r = c.report;

  std::string failure;  // the one-line error, empty when the store is sound
  if (c.signal != 0) {
    failure = fmt::format(
        "store {} is damaged: reading it crashed the checking process ({}{}) "
        "with {}{} entries read; {}",
        store.path(), signal_name(c.signal), c.stray.empty() ? "" : ": " + c.stray,
        c.progress == 0 ? fmt::format("fewer than {}", kVerifyProgressEvery)
                        : fmt::format("at least {}", c.progress),
        c.count ? fmt::format(" of {}", *c.count) : std::string(), kRecovery);
  } else if (!c.reported) {
    // The child's own error (LMDB's MDB_CORRUPTED names the fix already).
    const std::string_view e = c.error;
    failure = !e.empty() ? std::string(e.starts_with("exigrey: ") ? e.substr(9) : e)
                         : fmt::format(
                               "verify: the checking process ended (status {}) without "
                               "a report{}",
                               c.exit_status, c.stray.empty() ? "" : ": " + c.stray);
  } else if (!r.ok()) {
    failure = fmt::format("store {} is damaged: {} problem{}{}; {}", store.path(), r.problem_count,
                          r.problem_count == 1 ? "" : "s",
                          r.problem_count > r.problems.size()
                              ? fmt::format(" (the first {} listed)", r.problems.size())
                              : std::string(" (listed)"),
                          kRecovery);
  }

  if (out.json()) {
    for (const std::string& p : r.problems) out.json_line(JsonObject().add("problem", p));
    JsonObject j;
    j.add("store", store.path()).add("ok", failure.empty());
    if (c.reported) {
      j.add("walked", r.walked)
          .add("items", r.items)
          .add("whitelist", r.whitelist)
          .add("meta", r.meta)
          .add("keep_log", r.keep_log)
          .add("lmdb_entries", r.lmdb_entries)
          .add("problems", r.problem_count);
    }
    if (c.signal != 0) {
      j.add("crashed", signal_name(c.signal)).add("walked_before_crash", c.progress);
    } else {
      j.add_null("crashed");
    }
    out.json_line(j);
  } else {
    std::vector<std::pair<std::string_view, std::string>> fields{{"store", store.path()}};
    if (c.reported) {
      fields.emplace_back(
          "entries",
          fmt::format("{} walked (items {}, whitelist {}, meta {}{}); LMDB counts {}", r.walked,
                      r.items, r.whitelist, r.meta,
                      r.keep_log > 0 ? fmt::format(", keep log {}", r.keep_log) : std::string(),
                      r.lmdb_entries));
    }
    for (const std::string& p : r.problems) fields.emplace_back("problem", p);
    if (failure.empty()) {
      fields.emplace_back("verdict", "sound: every record decodes, keys in order, counts agree");
    } else {
      fields.emplace_back("verdict", "damaged (see the error)");
    }
    print_fields(out, fields);
  }
  if (failure.empty()) return kExitOk;
  out.flush();
  throw Error(ErrorKind::kCorrupt, "exigrey: " + failure);
}

}  // namespace

void add_verify_command(CLI::App& app, Commands& commands) {
  CLI::App* c = app.add_subcommand(
      "verify",
      "Read every record (in a child process) and say whether the store is damaged; safe while "
      "Exim runs");
  commands.push_back({c, [](Context& ctx) { return run_verify(ctx); }});
}

}  // namespace exigrey::cli

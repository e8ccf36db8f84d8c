// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/log.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "exigrey/error.h"

namespace exigrey::daemon {
namespace {

struct LogState {
  std::mutex mu;
  std::string program = "exigrey";
  LogTarget target = LogTarget::kStderr;
  LogLevel level = LogLevel::kInfo;
};

LogState& state() {
  static LogState* s = new LogState;  // leaked: usable until the very end of the process
  return *s;
}

int syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return LOG_ERR;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kDebug:
      return LOG_DEBUG;
  }
  return LOG_INFO;
}

}  // namespace

void log_init(std::string_view program, LogTarget target, LogLevel level) {
  LogState& s = state();
  std::lock_guard lock(s.mu);
  s.program = std::string(program);
  s.target = target == LogTarget::kAuto ? auto_log_target() : target;
  s.level = level;
  if (s.target == LogTarget::kSyslog) openlog(s.program.c_str(), LOG_PID, LOG_MAIL);
}

bool log_enabled(LogLevel level) noexcept { return level <= state().level; }

void log_line(LogLevel level, std::string_view message) noexcept {
  LogState& s = state();
  std::lock_guard lock(s.mu);
  if (s.target == LogTarget::kSyslog) {
    syslog(syslog_priority(level), "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  std::fprintf(stderr, "%s[%d]: %.*s: %.*s\n", s.program.c_str(), static_cast<int>(getpid()),
               static_cast<int>(to_string(level).size()), to_string(level).data(),
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

void log_startup_error(std::string_view program, std::string_view message) noexcept {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(message.size()), message.data());
  LogState& s = state();
  std::lock_guard lock(s.mu);
  if (s.target == LogTarget::kSyslog) {
    syslog(LOG_ERR, "%.*s", static_cast<int>(message.size()), message.data());
  }
}

LogTarget auto_log_target() noexcept {
  if (std::getenv("JOURNAL_STREAM") != nullptr) return LogTarget::kStderr;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return LogTarget::kSyslog;  // closed
  // /dev/null is the character device 1:3 on Linux; an init script's
  // "start-stop-daemon --background" leaves stderr there.
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
    return LogTarget::kSyslog;
  }
  return LogTarget::kStderr;
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace exigrey::daemon

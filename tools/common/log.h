// SPDX-License-Identifier: GPL-2.0-or-later
// common/log.h: the daemons' log, to stderr (systemd's journal adds the time
// and the unit) or to syslog (facility mail, as the rest of a mail stack).
// The default, "auto", picks stderr where it leads somewhere (the journal,
// a terminal, a file or a pipe) and syslog where it does not (closed or
// /dev/null, as under an init script or cron), so no line is ever lost.
//
// One process-wide logger, configured once at start. LOG formats only when
// the level is enabled. Messages are single lines: callers pass hostile
// bytes through `printable()` first. Never log secrets.
// Thread safety: log lines from several threads do not interleave.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "exigrey/log_settings.h"

namespace exigrey::daemon {

using exigrey::LogLevel;
using exigrey::LogTarget;

// LogTarget::kAuto is resolved here, by auto_log_target().
void log_init(std::string_view program, LogTarget target, LogLevel level);
bool log_enabled(LogLevel level) noexcept;
void log_line(LogLevel level, std::string_view message) noexcept;

// A start-up error: always on stderr (whoever started the daemon by hand sees
// it), and in syslog too when that is the target, so that a daemon started
// by an init script with stderr on /dev/null does not fail silently.
void log_startup_error(std::string_view program, std::string_view message) noexcept;

// stderr when JOURNAL_STREAM is set (systemd) or file descriptor 2 is open
// and not /dev/null; syslog otherwise.
LogTarget auto_log_target() noexcept;

// At most `max` bytes of `text`, with control and non-ASCII bytes escaped,
// so a client's bytes can never forge or split a log line.
std::string printable(std::string_view text, std::size_t max = 80);

}  // namespace exigrey::daemon

#define EXIGREY_LOG(level, ...)                                       \
  do {                                                                \
    if (::exigrey::daemon::log_enabled(level)) {                      \
      ::exigrey::daemon::log_line(level, ::fmt::format(__VA_ARGS__)); \
    }                                                                 \
  } while (0)
#define LOG_ERROR(...) EXIGREY_LOG(::exigrey::daemon::LogLevel::kError, __VA_ARGS__)
#define LOG_WARNING(...) EXIGREY_LOG(::exigrey::daemon::LogLevel::kWarning, __VA_ARGS__)
#define LOG_INFO(...) EXIGREY_LOG(::exigrey::daemon::LogLevel::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) EXIGREY_LOG(::exigrey::daemon::LogLevel::kDebug, __VA_ARGS__)

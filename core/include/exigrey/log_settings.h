// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/log_settings.h: where the daemons log and how much, as their
// settings and flags spell it (`log = auto|stderr|syslog`,
// `log_level = error|warning|info|debug`). The logger itself is the
// daemons' (tools/common/log.h); core only parses and prints the words, so
// that the collector's settings file and the forwarder's flags accept
// exactly the same ones.
//
// Errors: the parsers throw UsageError "invalid WHAT "TEXT" (use ...)".
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace exigrey {

// kAuto: stderr where it leads somewhere, syslog where it does not
// (the daemons resolve it when they start logging).
enum class LogTarget : std::uint8_t { kAuto, kStderr, kSyslog };
enum class LogLevel : std::uint8_t { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

std::string_view to_string(LogTarget target) noexcept;  // "auto", "stderr", "syslog"
std::string_view to_string(LogLevel level) noexcept;    // "error" ... "debug"

LogTarget parse_log_target(std::string_view text, std::string_view what);
LogLevel parse_log_level(std::string_view text, std::string_view what);

}  // namespace exigrey

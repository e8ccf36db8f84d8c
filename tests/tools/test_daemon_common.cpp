// SPDX-License-Identifier: GPL-2.0-or-later
// What the two daemons share (tools/common): the log's escaping of client
// bytes and its level filter.
#include <catch2/catch.hpp>
#include <string>

#include "common/log.h"

using namespace exigrey;
using namespace exigrey::daemon;

TEST_CASE("printable: client bytes can neither forge nor split a log line", "[tools][daemon]") {
  CHECK(printable("black 192.0.2.1") == "black 192.0.2.1");
  CHECK(printable("a\nfake: line") == "a\\x0afake: line");
  CHECK(printable("\r\x1b\x7f") == "\\x0d\\x1b\\x7f");
  CHECK(printable("back\\slash") == "back\\x5cslash");  // no ambiguity with an escape
  CHECK(printable("caf\xc3\xa9") == "caf\\xc3\\xa9");   // non-ASCII escaped too
  CHECK(printable(std::string(100, 'x'), 10) == std::string(10, 'x') + "...");
  CHECK(printable(std::string(10, 'x'), 10) == std::string(10, 'x'));
}

TEST_CASE("The log filters by level", "[tools][daemon]") {
  log_init("tools-test", LogTarget::kStderr, LogLevel::kWarning);
  CHECK(log_enabled(LogLevel::kError));
  CHECK(log_enabled(LogLevel::kWarning));
  CHECK_FALSE(log_enabled(LogLevel::kInfo));
  log_init("tools-test", LogTarget::kStderr, LogLevel::kDebug);
  CHECK(log_enabled(LogLevel::kDebug));
}

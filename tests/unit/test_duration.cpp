// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/duration.h"
#include "exigrey/error.h"

using exigrey::parse_duration;

TEST_CASE("Plain integers are seconds", "[duration]") {
  CHECK(parse_duration("600") == 600);
  CHECK(parse_duration("0") == 0);
  CHECK(parse_duration("-5") == -5);
  CHECK(parse_duration("  42\t") == 42);
}

TEST_CASE("Exim time units are accepted", "[duration]") {
  CHECK(parse_duration("10m") == 600);     // case 21
  CHECK(parse_duration("1h30m") == 5400);  // case 22
  CHECK(parse_duration("2d") == 172800);
  CHECK(parse_duration("1w2d3h4m5s") == 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  CHECK(parse_duration("30s") == 30);
}

TEST_CASE("Garbage delays are rejected with a message naming the value", "[duration]") {
  for (const char* bad : {"", " ", "abc", "10x", "1.5m", "m", "1h30", "--5", "-5m", "5 m",
                          "99999999999999999999", "9999999999999999w", "1h 30m", "+5"}) {
    INFO("input: " << bad);
    CHECK_THROWS_AS(parse_duration(bad), exigrey::UsageError);
  }
  try {
    parse_duration("abc");
    FAIL("no throw");
  } catch (const exigrey::UsageError& e) {
    CHECK(std::string(e.what()) ==
          "exigrey: invalid delay \"abc\" (use seconds or Exim units such as 10m, 1h30m)");
  }
}

TEST_CASE("A control byte in a delay stays on one line in the message", "[duration]") {
  try {
    parse_duration("1\n0");
    FAIL("no throw");
  } catch (const exigrey::UsageError& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

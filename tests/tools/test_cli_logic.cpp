// SPDX-License-Identifier: GPL-2.0-or-later
// The exigrey command's own logic, below its command line: how it prints
// names, JSON and sizes, and how it reads --at and ages. (What it does to a
// store is tested end to end by tests/cli/test_cli.py.)
#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "exigrey/error.h"
#include "output.h"

using namespace exigrey;
using namespace exigrey::cli;

TEST_CASE("display_name escapes what a terminal would act on, and nothing else", "[tools][cli]") {
  CHECK(display_name("mx.example.org/192.0.2.1") == "mx.example.org/192.0.2.1");
  CHECK(display_name("a\nb\tc") == "a\\nb\\tc");
  CHECK(display_name(std::string("\x1b[2J\x7f", 5)) == "\\x1b[2J\\x7f");
  CHECK(display_name(std::string("nul\0end", 7)) == "nul\\x00end");
  CHECK(display_name("back\\slash") == "back\\\\slash");
  CHECK(display_name("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 as is
}

TEST_CASE("json_string is valid JSON for any bytes", "[tools][cli]") {
  CHECK(json_string("plain") == "\"plain\"");
  CHECK(json_string("q\"b\\") == "\"q\\\"b\\\\\"");
  CHECK(json_string("\n") == "\"\\n\"");
  CHECK(json_string(std::string("\x01", 1)) == "\"\\u0001\"");
  CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(json_string("bad\xff") == "\"bad\\ufffd\"");  // U+FFFD
}

TEST_CASE("format_bytes uses binary units with one decimal", "[tools][cli]") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1024) == "1.0 KiB");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(std::uint64_t{120} << 20) == "120.0 MiB");
  CHECK(format_bytes(std::uint64_t{4} << 30) == "4.0 GiB");
  CHECK(format_bytes(std::uint64_t{5} << 50) == "5120.0 TiB");  // the largest unit
}

TEST_CASE("JsonObject keeps the fields in order, with their types", "[tools][cli]") {
  JsonObject o;
  o.add("name", "a/b").add("count", 3).add("big", std::uint64_t{1} << 40).add("ok", true);
  o.add("none", std::optional<std::string>{}).add_raw("list", "[1,2]");
  CHECK(o.str() ==
        R"({"name":"a/b","count":3,"big":1099511627776,"ok":true,"none":null,"list":[1,2]})");
}

TEST_CASE("parse_at: --at takes Unix seconds only", "[tools][cli]") {
  CHECK(parse_at(std::nullopt, 1234) == 1234);
  CHECK(parse_at(std::string("1800000000"), 1) == 1'800'000'000);
  for (const char* bad : {"", "soon", "12x", "1.5", " 5", "+5", "99999999999999999999"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_at(std::string(bad), 1), UsageError);
  }
}

TEST_CASE("Ages are durations and never negative", "[tools][cli]") {
  CHECK(parse_age("30d", "--older-than") == 30 * 86400);
  CHECK(parse_age("1h30m", "--older-than") == 5400);
  CHECK(parse_age("90", "--older-than") == 90);
  CHECK_THROWS_AS(parse_age("-1", "--older-than"), UsageError);
  CHECK_THROWS_AS(parse_age("ten days", "--older-than"), UsageError);
}

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect's settings from its file and its flags (settings.h): the
// flags win, a list flag replaces the file's list, and an error names the
// flag or the file's line.
#include <catch2/catch.hpp>
#include <string>

#include "exigrey/error.h"
#include "settings.h"
#include "support/files.h"
#include "support/temp_dir.h"

using namespace exigrey;
using namespace exigrey::collect;

TEST_CASE("flag_of spells a setting as its flag", "[tools][collect]") {
  CHECK(flag_of("min_reporters") == "--min-reporters");
  CHECK(flag_of("plain") == "--plain");
  CHECK(flag_of("dns_backlog") == "--dns-backlog");
}

TEST_CASE("Flags override the settings file", "[tools][collect]") {
  test::TempDir dir;
  const std::string file = dir.file("collect.conf");
  test::spit(file,
             "state = /var/lib/exigrey-collect\n"
             "min_reporters = 3\n"
             "allow = 10.0.0.0/8\n"
             "allow = 192.0.2.0/24\n");
  CommandLine cmd;
  cmd.config_file = file;
  CollectConfig from_file = load_settings(cmd);
  CHECK(from_file.policy.min_reporters == 3);
  CHECK(from_file.allow.contains(*parse_ip("192.0.2.7")));  // a repeated key appends

  cmd.scalars["min_reporters"] = "2";
  cmd.lists["allow"] = {"127.0.0.0/8"};
  const CollectConfig cfg = load_settings(cmd);
  CHECK(cfg.policy.min_reporters == 2);
  CHECK(cfg.state_dir == "/var/lib/exigrey-collect");       // the file's, not overridden
  CHECK(cfg.allow.contains(*parse_ip("127.0.0.1")));        // the flag's list ...
  CHECK_FALSE(cfg.allow.contains(*parse_ip("192.0.2.7")));  // ... replaces the file's
}

TEST_CASE("A bad flag value is an error naming the flag", "[tools][collect]") {
  CommandLine cmd;
  cmd.scalars["min_reporters"] = "many";
  try {
    load_settings(cmd);
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("exigrey-collect: --min-reporters: "));
  }
}

TEST_CASE("A bad line in the file is an error naming the file and line", "[tools][collect]") {
  test::TempDir dir;
  const std::string file = dir.file("collect.conf");
  test::spit(file, "min_reporters = 1\nno_such_setting = 2\n");
  CommandLine cmd;
  cmd.config_file = file;
  try {
    load_settings(cmd);
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK_THAT(e.what(), Catch::Contains(file + ":2:"));
  }
}

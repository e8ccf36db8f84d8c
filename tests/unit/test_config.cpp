// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "exigrey/config.h"
#include "exigrey/error.h"
#include "support/temp_dir.h"

using exigrey::Config;
using exigrey::DecisionLog;
using exigrey::parse_config;
using exigrey::SyncMode;
using exigrey::UsageError;

namespace {

// The message of the UsageError that parsing `text` throws.
std::string error_of(std::string_view text) {
  try {
    parse_config(text, "t.conf");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("An empty settings file means every default", "[config]") {
  const Config cfg = parse_config("", "t.conf");
  CHECK(cfg == Config{});
  CHECK(cfg.directory.empty());
  CHECK(cfg.store.sync == SyncMode::kPrecious);
  CHECK(cfg.store.boot_id_file == "/proc/sys/kernel/random/boot_id");
  CHECK(cfg.store.map_size == exigrey::kDefaultMapSize);
  CHECK_FALSE(cfg.store.read_only);
  CHECK_FALSE(cfg.fail_open);
  CHECK(cfg.log == DecisionLog::kNone);
}

TEST_CASE("Every setting is read, with comments and blanks around it", "[config]") {
  const Config cfg = parse_config(
      "# exigrey settings\n"
      "\n"
      "  directory = /var/lib/grey#1   # a '#' inside a value stays\n"
      "sync=none\n"
      "\tmap_size =  512M\r\n"
      "fail_open = yes\n"
      "log = decisions",
      "t.conf");
  CHECK(cfg.directory == "/var/lib/grey#1");
  CHECK(cfg.store.sync == SyncMode::kNone);
  CHECK(cfg.store.map_size == (std::uint64_t{512} << 20));
  CHECK(cfg.fail_open);
  CHECK(cfg.log == DecisionLog::kDecisions);
}

TEST_CASE("Boolean and log values take every documented spelling", "[config]") {
  CHECK(parse_config("fail_open = true", "t").fail_open);
  CHECK_FALSE(parse_config("fail_open = no", "t").fail_open);
  CHECK_FALSE(parse_config("fail_open = false", "t").fail_open);
  CHECK(parse_config("log = defers", "t").log == DecisionLog::kDefers);
  CHECK(parse_config("log = none", "t").log == DecisionLog::kNone);
  CHECK(parse_config("sync = full", "t").store.sync == SyncMode::kFull);
  CHECK(parse_config("map_size = 65536", "t").store.map_size == 65536);
}

TEST_CASE("Bad settings name the file, the line and the fix", "[config]") {
  CHECK(error_of("\n\nbogus = 1\n") ==
        "exigrey: t.conf:3: unknown setting \"bogus\" (known: directory, sync, map_size, "
        "fail_open, log, boot_id_file, peers)");
  CHECK(parse_config("peers = /etc/exigrey/peers", "t").store.peer_log);
  CHECK(parse_config("peers = /etc/exigrey/peers", "t").peers_file == "/etc/exigrey/peers");
  CHECK_FALSE(parse_config("", "t").store.peer_log);
  CHECK(error_of("peers = peers") == "exigrey: t.conf:1: peers \"peers\" must be an absolute path");
  CHECK(error_of("sync = fast") ==
        "exigrey: t.conf:1: invalid sync \"fast\" (use precious, meta, full or none)");
  CHECK(parse_config("sync = precious", "t").store.sync == SyncMode::kPrecious);
  CHECK(parse_config("boot_id_file = /run/test-boot", "t").store.boot_id_file == "/run/test-boot");
  CHECK(error_of("boot_id_file = boot") ==
        "exigrey: t.conf:1: boot_id_file \"boot\" must be an absolute path");
  CHECK(error_of("map_size = lots") ==
        "exigrey: t.conf:1: invalid map_size \"lots\" (use bytes or a size such as 512M, 4G)");
  CHECK(error_of("map_size = 1K") == "exigrey: t.conf:1: map_size \"1K\" is below the minimum 64K");
  CHECK(error_of("fail_open = maybe") ==
        "exigrey: t.conf:1: invalid fail_open \"maybe\" (use yes or no)");
  CHECK(error_of("log = everything") ==
        "exigrey: t.conf:1: invalid log \"everything\" (use none, defers or decisions)");
  CHECK(error_of("directory = grey") ==
        "exigrey: t.conf:1: directory \"grey\" must be an absolute path");
  CHECK(error_of("just words") == "exigrey: t.conf:1: expected 'key = value', got \"just words\"");
  CHECK(error_of("log =") == "exigrey: t.conf:1: log has no value");
  CHECK(error_of("log = none\n# c\nlog = defers") ==
        "exigrey: t.conf:3: log is set twice (first on line 1)");
  CHECK(error_of(std::string_view("log = no\0ne", 11)) ==
        "exigrey: t.conf:1: NUL byte in the settings file");
  CHECK(error_of(std::string(exigrey::kMaxConfigBytes + 1, '#')) ==
        "exigrey: t.conf: settings file is larger than 65536 bytes");
}

TEST_CASE("A missing settings file means defaults; an unreadable one is an error", "[config]") {
  exigrey::test::TempDir dir;
  CHECK(exigrey::load_config(dir.file("absent.conf")) == Config{});

  const std::string path = dir.file("exigrey.conf");
  std::ofstream(path) << "fail_open = yes\nlog = defers\n";
  const Config cfg = exigrey::load_config(path);
  CHECK(cfg.fail_open);
  CHECK(cfg.log == DecisionLog::kDefers);

  std::ofstream(path) << "fail_open = yes\nmap_size = 0\n";
  CHECK_THROWS_WITH(
      exigrey::load_config(path),
      "exigrey: " + path + ":2: invalid map_size \"0\" (use bytes or a size such as 512M, 4G)");

  // A directory cannot be read as a file: the error names it.
  CHECK_THROWS_AS(exigrey::load_config(dir.path()), UsageError);
}

TEST_CASE("EXIGREY_CONFIG overrides the compiled-in settings path", "[config]") {
  const char* old = std::getenv(exigrey::kConfigPathEnv);
  const std::string saved = old ? old : "";
  ::setenv(exigrey::kConfigPathEnv, "/tmp/x.conf", 1);
  CHECK(exigrey::config_path() == "/tmp/x.conf");
  ::setenv(exigrey::kConfigPathEnv, "", 1);
  CHECK(exigrey::config_path() == "/etc/exigrey/exigrey.conf");
  ::unsetenv(exigrey::kConfigPathEnv);
  CHECK(exigrey::config_path() == "/etc/exigrey/exigrey.conf");
  if (old) ::setenv(exigrey::kConfigPathEnv, saved.c_str(), 1);
}

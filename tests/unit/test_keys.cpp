// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "exigrey/error.h"
#include "exigrey/keys.h"
#include "support/temp_dir.h"

using namespace exigrey;

TEST_CASE("Keys files hold one ID SECRET pair per line", "[keys]") {
  const std::string s1(32, 'a'), s2(64, 'b');
  const KeyRing k = parse_keys("# comment\n\nmx1 " + s1 + "\n  mx2.example\t" + s2 + "  \r\n", "k");
  CHECK(k.size() == 2);
  CHECK(k.at("mx1") == s1);
  CHECK(k.at("mx2.example") == s2);
}

TEST_CASE("Bad keys files name the line and never the secret", "[keys]") {
  const std::string secret(40, 's');
  auto error_of = [](const std::string& text) {
    try {
      parse_keys(text, "keys");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("mx1\n"), Catch::StartsWith("keys:1: expected"));
  CHECK_THAT(error_of("\nmx1 short\n"), Catch::StartsWith("keys:2: exigrey: a secret must be"));
  CHECK_THAT(error_of("bad/id " + secret), Catch::StartsWith("keys:1:"));
  CHECK_THAT(error_of("mx1 " + secret + " extra"), Catch::StartsWith("keys:1:"));
  const std::string dup = error_of("mx1 " + secret + "\nmx1 " + secret + "\n");
  CHECK_THAT(dup, Catch::StartsWith("keys:2: reporter mx1 listed twice"));
  CHECK(dup.find(secret) == std::string::npos);
}

TEST_CASE("A keys file others can read is refused", "[keys]") {
  test::TempDir dir;
  const std::string path = dir.file("keys");
  std::ofstream(path) << "mx1 " << std::string(40, 's') << "\n";
  chmod(path.c_str(), 0644);
  CHECK_THROWS_WITH(load_keys(path), Catch::Contains("chmod 0600"));
  chmod(path.c_str(), 0640);
  CHECK(load_keys(path).size() == 1);
  CHECK_THROWS_AS(load_keys(dir.file("absent")), UsageError);
}

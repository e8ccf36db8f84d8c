// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/error.h"
#include "exigrey/paths.h"

using exigrey::resolve_db_path;

TEST_CASE("DB names resolve as in Exim::Grey", "[paths]") {  // case 18
  CHECK(resolve_db_path("seen", "/var/spool/exim4/grey") == "/var/spool/exim4/grey/seen");
  CHECK(resolve_db_path("seen", "/var/spool/exim4/grey/") == "/var/spool/exim4/grey/seen");
  CHECK(resolve_db_path("./x", "/g") == "./x");
  CHECK(resolve_db_path("/abs/x", "/g") == "/abs/x");
}

TEST_CASE("Bad DB names are usage errors", "[paths]") {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("a/b"), std::string_view(".."),
        std::string_view("."), std::string_view("a\0b", 3)}) {
    CHECK_THROWS_AS(resolve_db_path(bad, "/g"), exigrey::UsageError);
  }
}

TEST_CASE("A hostile DB name stays on one line in the message", "[paths]") {
  // Found by fuzz_acl_args: the name used to be quoted raw.
  try {
    resolve_db_path("a\nb/c", "/g");
    FAIL("no throw");
  } catch (const exigrey::UsageError& e) {
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

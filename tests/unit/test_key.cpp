// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/key.h"

using exigrey::split_key;

namespace {
void check_split(std::string_view key, std::string_view item,
                 std::optional<std::string_view> suffix) {
  INFO("key: " << key);
  const auto parts = split_key(key);
  CHECK(parts.item == item);
  CHECK(parts.suffix == suffix);
}
}  // namespace

TEST_CASE("Keys split at the first slash, as Exim::Grey does", "[key]") {
  check_split("a", "a", std::nullopt);
  check_split("a/b", "a", "b");
  check_split("a/b/c", "a", "b/c");                              // case 9
  check_split("a/", "a/", std::nullopt);                         // case 10
  check_split("/x", "", "x");                                    // case 11
  check_split("<x/y@d>:<r>/1.2.3.4", "<x", "y@d>:<r>/1.2.3.4");  // the pitfall
  check_split("", "", std::nullopt);
  check_split("a//", "a", "/");
  check_split(std::string_view("a\0b/c d", 7), std::string_view("a\0b", 3), "c d");  // exact bytes
  check_split("line\nbreak/x", "line\nbreak", "x");
}

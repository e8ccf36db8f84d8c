// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <cstring>

#include "exigrey/error.h"
#include "exigrey/records.h"

using namespace exigrey;

namespace {
std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
}  // namespace

TEST_CASE("Item records round-trip, with and without a first suffix", "[records]") {
  ItemRecord a{1700000000, 1700000600, 3, std::nullopt};
  ItemRecord b{-1, 0, 0, std::string("1.2.3.4")};
  CHECK(decode_item(as_bytes(encode_item(a, false, "k")), false, nullptr) == a);
  CHECK(decode_item(as_bytes(encode_item(b, false, "k")), false, nullptr) == b);
  std::string full;
  CHECK(decode_item(as_bytes(encode_item(b, true, "the-name")), true, &full) == b);
  CHECK(full == "the-name");
}

TEST_CASE("Whitelist entries round-trip", "[records]") {
  WhitelistEntry w{5, 6};
  CHECK(decode_whitelist(as_bytes(encode_whitelist(w, false, "")), false, nullptr) == w);
  std::string full;
  CHECK(decode_whitelist(as_bytes(encode_whitelist(w, true, "s")), true, &full) == w);
  CHECK(full == "s");
}

TEST_CASE("Truncated, padded or foreign values are reported as corrupt", "[records]") {
  const std::string good = encode_item(ItemRecord{1, 2, 3, std::string("xyz")}, false, "");
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("length " << n);
    CHECK_THROWS_AS(decode_item(as_bytes(good.substr(0, n)), false, nullptr), StoreError);
  }
  CHECK_THROWS_AS(decode_item(as_bytes(good + "x"), false, nullptr), StoreError);
  std::string other = good;
  other[0] = 9;
  CHECK_THROWS_AS(decode_item(as_bytes(other), false, nullptr), StoreError);
  // A first_len that points past the end must not read out of bounds.
  std::string huge = good;
  std::memset(huge.data() + 21, 0xff, 4);
  CHECK_THROWS_AS(decode_item(as_bytes(huge), false, nullptr), StoreError);
}

TEST_CASE("Item and whitelist keys never collide, whatever the bytes", "[records]") {
  const std::string name = "1.2.3.4";
  CHECK(encode_key(Namespace::kItem, name) != encode_key(Namespace::kWhitelist, name));
  // Short names are stored verbatim after one namespace byte.
  CHECK(encode_key(Namespace::kItem, name) == std::string("\x01") + name);
  CHECK(encode_key(Namespace::kItem, "") == std::string("\x01"));
  // Names beyond LMDB's key limit go under a digest in their own namespace.
  const std::string long_name(kMaxPlainName + 1, 'a');
  const std::string k = encode_key(Namespace::kItem, long_name);
  CHECK(k.size() == 33);
  CHECK(k[0] == static_cast<char>(Namespace::kItemHashed));
  CHECK(encode_key(Namespace::kItem, std::string(kMaxPlainName, 'a')).size() == kMaxKeyBytes);
  CHECK_THROWS_AS(encode_key(Namespace::kItem, std::string(kMaxNameBytes + 1, 'a')), UsageError);
}

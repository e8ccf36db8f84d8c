// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/error.h"
#include "exigrey/ip_network.h"

using namespace exigrey;

namespace {
IpAddress ip(std::string_view text) {
  const auto a = parse_ip(text);
  REQUIRE(a.has_value());
  return *a;
}
}  // namespace

TEST_CASE("Addresses parse and print canonically", "[ip_network]") {
  CHECK(ip("11.22.33.44").to_string() == "11.22.33.44");
  CHECK_FALSE(ip("11.22.33.44").v6);
  CHECK(ip("2001:DB8:0::1").to_string() == "2001:db8::1");
  CHECK(ip("2001:db8::1").v6);
  CHECK_FALSE(parse_ip("").has_value());
  CHECK_FALSE(parse_ip("1.2.3").has_value());
  CHECK_FALSE(parse_ip("example.com").has_value());
  CHECK_FALSE(parse_ip(std::string_view("1.2.3.4\0", 8)).has_value());
  CHECK_FALSE(parse_ip(std::string(100, '1')).has_value());
  CHECK(ip("::ffff:1.2.3.4").unmapped() == ip("1.2.3.4"));
  CHECK(ip("::1").unmapped() == ip("::1"));
  CHECK(IpAddress::v4_from(0x7f000001) == ip("127.0.0.1"));
  CHECK(ip("1.2.3.4") != ip("::1.2.3.4"));
}

TEST_CASE("Networks contain what their prefix covers", "[ip_network]") {
  const Cidr n = parse_cidr("10.0.0.0/8");
  CHECK(n.contains(ip("10.255.1.2")));
  CHECK_FALSE(n.contains(ip("11.0.0.1")));
  CHECK_FALSE(n.contains(ip("::ffff:10.0.0.1")));  // callers unmap first
  CHECK(n.to_string() == "10.0.0.0/8");
  CHECK(parse_cidr("1.2.3.4").prefix == 32);
  CHECK(parse_cidr("1.2.3.4").to_string() == "1.2.3.4");
  CHECK(parse_cidr("0.0.0.0/0").contains(ip("200.1.1.1")));
  const Cidr odd = parse_cidr("172.16.0.0/12");
  CHECK(odd.contains(ip("172.31.255.255")));
  CHECK_FALSE(odd.contains(ip("172.32.0.0")));
  CHECK(parse_cidr("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
  CHECK_FALSE(parse_cidr("2001:db8::/32").contains(ip("2001:db9::1")));
  CHECK(network_of(ip("2001:db8:1:2:3:4:5:6"), 64).to_string() == "2001:db8:1:2::/64");
}

TEST_CASE("Bad networks are refused with a hint", "[ip_network]") {
  CHECK_THROWS_AS(parse_cidr("10.1.0.0/8"), UsageError);
  CHECK_THROWS_WITH(parse_cidr("10.1.0.0/8"), Catch::Contains("did you mean 10.0.0.0/8"));
  CHECK_THROWS_AS(parse_cidr("10.0.0.0/33"), UsageError);
  CHECK_THROWS_AS(parse_cidr("10.0.0.0/"), UsageError);
  CHECK_THROWS_AS(parse_cidr("10.0.0.0/-1"), UsageError);
  CHECK_THROWS_AS(parse_cidr("::/129"), UsageError);
  CHECK_THROWS_AS(parse_cidr("host/24"), UsageError);
}

TEST_CASE("Reserved networks cover the never-listed ranges", "[ip_network]") {
  const NetworkSet& r = reserved_networks();
  for (const char* a : {"0.1.2.3",       "10.1.2.3",        "100.64.0.1",
                        "127.0.0.1",     "127.0.0.2",       "169.254.1.1",
                        "172.16.5.5",    "192.0.0.8",       "192.0.2.77",
                        "192.168.1.1",   "198.18.0.1",      "198.51.100.9",
                        "203.0.113.200", "224.0.0.1",       "239.255.255.250",
                        "240.0.0.1",     "255.255.255.255", "::",
                        "::1",           "::ffff:1.2.3.4",  "::ffff:7f00:2",
                        "fc00::1",       "fd12::1",         "fe80::1",
                        "2001:db8::1",   "ff02::1",         "3fff::1",
                        "100::1"}) {
    INFO(a);
    CHECK(r.contains(ip(a)));
  }
  for (const char* a : {"11.22.33.44", "8.8.4.4", "1.1.1.1", "100.63.255.255", "172.32.0.1",
                        "2a00:1450:4001::99", "2001:4860::8888", "2606:4700::1111"}) {
    INFO(a);
    CHECK_FALSE(r.contains(ip(a)));
  }
}

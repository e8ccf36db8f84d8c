// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/ip_network.h: IP addresses, CIDR networks and sets of them.
//
// Used by exigrey-collect for its allow-list (who may send reports), its
// configured whitelist and the ranges that are never listed. Everything
// here parses hostile or admin-written text, so parsers throw UsageError
// with a one-line message naming the bad value; nothing else is thrown.
//
// An IPv4 address is never equal to an IPv6 one: callers that accept
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as a dual-stack socket
// reports IPv4 peers) call unmapped() first.
//
// Thread safety: value types and pure functions; a const NetworkSet may be
// read from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exigrey {

struct IpAddress {
  bool v6 = false;
  // Network byte order; an IPv4 address uses the first 4 bytes, the rest are 0.
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4_from(std::uint32_t host_order);
  unsigned bits() const noexcept { return v6 ? 128 : 32; }
  // ::ffff:a.b.c.d becomes a.b.c.d; anything else is returned unchanged.
  IpAddress unmapped() const noexcept;
  // Canonical text: dotted quad, or RFC 5952 for IPv6.
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// An IPv4 or IPv6 address in text form, or nullopt (no exceptions).
std::optional<IpAddress> parse_ip(std::string_view text) noexcept;

struct Cidr {
  IpAddress base;       // host bits are zero
  unsigned prefix = 0;  // 0..32 or 0..128

  bool contains(const IpAddress& addr) const noexcept;
  // "10.0.0.0/8", "2001:db8::/32"; a single host prints without the prefix.
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Parses "ADDR", "ADDR/PREFIX". Host bits below the prefix must be zero
// ("10.1.0.0/8" is refused with a hint): a typo there would silently widen
// or narrow a whitelist. Throws UsageError.
Cidr parse_cidr(std::string_view text);

// The first `prefix` bits of `addr` as a network.
Cidr network_of(const IpAddress& addr, unsigned prefix);

// A set of networks with a membership test. Linear in the number of
// networks: meant for allow-lists and whitelists of tens to hundreds.
class NetworkSet {
 public:
  NetworkSet() = default;
  explicit NetworkSet(std::vector<Cidr> networks) : networks_(std::move(networks)) {}
  void add(const Cidr& net) { networks_.push_back(net); }
  bool contains(const IpAddress& addr) const noexcept;
  bool empty() const noexcept { return networks_.empty(); }
  const std::vector<Cidr>& networks() const noexcept { return networks_; }
  friend bool operator==(const NetworkSet&, const NetworkSet&) = default;

 private:
  std::vector<Cidr> networks_;
};

// Networks that are never published in a reputation list: "this network",
// private (RFC 1918, fc00::/7), shared (100.64/10), loopback, link-local,
// IETF protocol assignments, documentation, benchmarking, multicast,
// reserved, broadcast, IPv4-mapped/translated and 6to4-relay ranges, ...
// The list is in docs/collector.md and in reserved_networks().
const NetworkSet& reserved_networks();

// The RFC 5782 test points every list publishes (and must never treat as
// reports): 127.0.0.2 and ::ffff:7f00:2 are listed; 127.0.0.1 and
// ::ffff:7f00:1 are not.
inline constexpr std::string_view kTestPointListed4 = "127.0.0.2";
inline constexpr std::string_view kTestPointListed6 = "::ffff:7f00:2";
inline constexpr std::string_view kTestPointNameListed = "test";
inline constexpr std::string_view kTestPointNameUnlisted = "invalid";

}  // namespace exigrey

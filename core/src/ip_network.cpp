// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/ip_network.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "exigrey/error.h"

namespace exigrey {
namespace {

std::string shorten(std::string_view text) {
  return std::string(text.substr(0, 80)) + (text.size() > 80 ? "..." : "");
}

bool bit_at(const IpAddress& a, unsigned i) noexcept {
  return ((static_cast<unsigned>(a.bytes[i / 8]) >> (7 - i % 8)) & 1u) != 0;
}

IpAddress masked(const IpAddress& a, unsigned prefix) noexcept {
  IpAddress out = a;
  for (unsigned i = prefix; i < 128; ++i) {
    out.bytes[i / 8] = static_cast<std::uint8_t>(out.bytes[i / 8] & ~(1u << (7 - i % 8)));
  }
  return out;
}

}  // namespace

IpAddress IpAddress::v4_from(std::uint32_t host_order) {
  IpAddress a;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::unmapped() const noexcept {
  if (!v6) return *this;
  for (int i = 0; i < 10; ++i) {
    if (bytes[static_cast<std::size_t>(i)] != 0) return *this;
  }
  if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
  IpAddress v4;
  for (std::size_t i = 0; i < 4; ++i) v4.bytes[i] = bytes[12 + i];
  return v4;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) noexcept {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  if (std::strlen(buf) != text.size()) return std::nullopt;  // an embedded NUL
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) return a;
  return std::nullopt;
}

bool Cidr::contains(const IpAddress& addr) const noexcept {
  if (addr.v6 != base.v6) return false;
  const unsigned full = prefix / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (addr.bytes[i] != base.bytes[i]) return false;
  }
  for (unsigned i = full * 8; i < prefix; ++i) {
    if (bit_at(addr, i) != bit_at(base, i)) return false;
  }
  return true;
}

std::string Cidr::to_string() const {
  if (prefix == base.bits()) return base.to_string();
  return fmt::format("{}/{}", base.to_string(), prefix);
}

Cidr parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = parse_ip(text.substr(0, slash));
  if (!addr) {
    throw UsageError(
        fmt::format("exigrey: invalid network {:?} (use an address or ADDR/PREFIX "
                    "such as 10.0.0.0/8 or 2001:db8::/32)",
                    shorten(text)));
  }
  unsigned prefix = addr->bits();
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value > addr->bits()) {
      throw UsageError(fmt::format("exigrey: invalid prefix length in {:?} (0..{})", shorten(text),
                                   addr->bits()));
    }
    prefix = value;
  }
  const IpAddress base = masked(*addr, prefix);
  if (base != *addr) {
    throw UsageError(
        fmt::format("exigrey: network {:?} has bits set below its prefix (did "
                    "you mean {}/{}?)",
                    shorten(text), base.to_string(), prefix));
  }
  return Cidr{base, prefix};
}

Cidr network_of(const IpAddress& addr, unsigned prefix) {
  if (prefix > addr.bits()) prefix = addr.bits();
  return Cidr{masked(addr, prefix), prefix};
}

bool NetworkSet::contains(const IpAddress& addr) const noexcept {
  for (const Cidr& net : networks_) {
    if (net.contains(addr)) return true;
  }
  return false;
}

const NetworkSet& reserved_networks() {
  // IANA IPv4 and IPv6 special-purpose address registries (not globally
  // reachable, or documentation/benchmarking), plus multicast.
  static const NetworkSet* set = [] {
    auto* s = new NetworkSet;
    for (const char* net : {
             "0.0.0.0/8",        // "this network"
             "10.0.0.0/8",       // private (RFC 1918)
             "100.64.0.0/10",    // shared address space (CGN)
             "127.0.0.0/8",      // loopback
             "169.254.0.0/16",   // link-local
             "172.16.0.0/12",    // private
             "192.0.0.0/24",     // IETF protocol assignments
             "192.0.2.0/24",     // documentation (TEST-NET-1)
             "192.31.196.0/24",  // AS112-v4
             "192.52.193.0/24",  // AMT
             "192.88.99.0/24",   // deprecated 6to4 relay anycast
             "192.168.0.0/16",   // private
             "192.175.48.0/24",  // direct delegation AS112
             "198.18.0.0/15",    // benchmarking
             "198.51.100.0/24",  // documentation (TEST-NET-2)
             "203.0.113.0/24",   // documentation (TEST-NET-3)
             "224.0.0.0/4",      // multicast
             "240.0.0.0/4",      // reserved, and the limited broadcast address
             "::/96",            // unspecified, loopback, deprecated IPv4-compatible
             "::ffff:0:0/96",    // IPv4-mapped (the IPv4 address is listed instead)
             "64:ff9b:1::/48",   // local-use IPv4/IPv6 translation
             "100::/64",         // discard-only
             "2001:2::/48",      // benchmarking
             "2001:10::/28",     // deprecated ORCHID
             "2001:db8::/32",    // documentation
             "3fff::/20",        // documentation (RFC 9637)
             "5f00::/16",        // SRv6 SIDs
             "fc00::/7",         // unique local
             "fe80::/10",        // link-local
             "fec0::/10",        // deprecated site-local
             "ff00::/8",         // multicast
         }) {
      s->add(parse_cidr(net));
    }
    return s;
  }();
  return *set;
}

}  // namespace exigrey

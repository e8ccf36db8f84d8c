// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/endpoint.h: "ADDR:PORT", as every setting and flag that names a
// listener or a server writes it: "127.0.0.1:2525", "[::1]:2525", and where
// the caller allows it "collector.example.org:8054".
//
// Two forms. HostForm::kAddress takes an IP literal only: what a listener
// binds to and where the collector sends DNS messages (a name there would
// mean a lookup at start and a silent choice among several addresses);
// the literal is stored in canonical form, so that "[0::1]:53" reads back as
// "[::1]:53". HostForm::kAddressOrName also takes a host name, for what the
// forwarder connects to (the caller resolves it, and TLS checks it).
//
// Errors: parse_endpoint throws UsageError "invalid WHAT "TEXT" (use ...)"
// for no port, port 0 or above 65535, an empty host, unbalanced brackets,
// IPv6 without brackets, or a name where an address is needed.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace exigrey {

enum class HostForm : std::uint8_t { kAddress, kAddressOrName };

struct Endpoint {
  std::string host;  // without brackets
  std::uint16_t port = 0;

  std::string to_string() const;  // brackets around an IPv6 literal
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

Endpoint parse_endpoint(std::string_view text, std::string_view what,
                        HostForm form = HostForm::kAddress);

}  // namespace exigrey

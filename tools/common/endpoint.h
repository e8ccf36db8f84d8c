// common/endpoint.h: "ADDR:PORT" as the daemons' flags write it.
//
// Accepts "127.0.0.1:8053", "[::1]:8053" and "host.example:8053" (names are
// resolved by the caller). Throws UsageError naming the flag on anything
// else: no port, port 0 or above 65535, empty host, unbalanced brackets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace exigrey::daemon {

struct Endpoint {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string to_string() const;  // brackets around IPv6 literals
};

Endpoint parse_endpoint(std::string_view text, std::string_view flag);

}  // namespace exigrey::daemon

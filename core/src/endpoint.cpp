// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/endpoint.h"

#include <fmt/format.h>

#include <charconv>

#include "exigrey/error.h"
#include "exigrey/ip_network.h"

namespace exigrey {

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Endpoint parse_endpoint(std::string_view text, std::string_view what, HostForm form) {
  auto fail = [&]() -> Endpoint {
    throw UsageError(
        fmt::format("invalid {} {:?} (use {}ADDR:PORT such as 127.0.0.1:2525 or [::1]:2525)", what,
                    text.substr(0, 80), form == HostForm::kAddressOrName ? "HOST:PORT or " : ""));
  };
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return fail();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail();  // IPv6 needs brackets
  }
  std::uint16_t p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      p == 0) {
    return fail();
  }
  const auto ip = parse_ip(host);
  if (ip) return Endpoint{ip->to_string(), p};
  // A name: letters, digits, '-', '.' and '_' (RFC 1123, with the '_' some
  // internal names use); never spaces or controls that would reach a log.
  if (form == HostForm::kAddress || host.find(':') != std::string_view::npos) return fail();
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return fail();
  }
  return Endpoint{std::string(host), p};
}

}  // namespace exigrey

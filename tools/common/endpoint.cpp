#include "common/endpoint.h"

#include <fmt/format.h>

#include <charconv>

#include "exigrey/error.h"

namespace exigrey::daemon {

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Endpoint parse_endpoint(std::string_view text, std::string_view flag) {
  auto bad = [&]() -> Endpoint {
    throw UsageError(
        fmt::format("{}: invalid address {:?} (use ADDR:PORT or [IPv6]:PORT)", flag, text));
  };
  Endpoint e;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad();
    }
    e.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();
    e.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (e.host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return bad();
  }
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

}  // namespace exigrey::daemon

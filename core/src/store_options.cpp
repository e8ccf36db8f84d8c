// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/store_options.h"

#include <fmt/format.h>

#include <limits>

#include "exigrey/error.h"

namespace exigrey {

SyncMode parse_sync_mode(std::string_view text) {
  if (text == "full") return SyncMode::kFull;
  if (text == "meta") return SyncMode::kMeta;
  if (text == "none") return SyncMode::kNone;
  if (text == "precious") return SyncMode::kPrecious;
  throw UsageError(
      fmt::format("exigrey: invalid sync mode {:?} (use precious, meta, full or none)", text));
}

std::string_view to_string(SyncMode mode) noexcept {
  switch (mode) {
    case SyncMode::kFull:
      return "full";
    case SyncMode::kMeta:
      return "meta";
    case SyncMode::kNone:
      return "none";
    case SyncMode::kPrecious:
      return "precious";
  }
  return "?";
}

std::uint64_t parse_size(std::string_view text, std::string_view what) {
  auto bad = [&]() -> std::uint64_t {
    throw UsageError(
        fmt::format("exigrey: invalid {} {:?} (use bytes or a size such as 512M, 4G)", what, text));
  };
  if (text.empty()) return bad();
  std::uint64_t value = 0;
  std::size_t i = 0;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (kMax - digit) / 10) return bad();
    value = value * 10 + digit;
  }
  if (i == 0) return bad();
  unsigned shift = 0;
  if (i < text.size()) {
    switch (text[i]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      case 'T':
      case 't':
        shift = 40;
        break;
      default:
        return bad();
    }
    if (++i != text.size()) return bad();
  }
  if (value == 0 || value > (kMax >> shift)) return bad();
  return value << shift;
}

}  // namespace exigrey

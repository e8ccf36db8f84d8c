// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the text pieces the signed batch protocols share
// (batch.cpp: reports to collectors; peer_batch.cpp: greylisting facts
// between MX hosts). Every refusal is a ProtocolError("malformed").
#pragma once

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/batch.h"
#include "exigrey/clock.h"

namespace exigrey::detail {

inline constexpr UnixTime kMaxProtocolTime = UnixTime{1} << 62;

// A whole signed frame: `header` (with its "\n"), the body, and the MAC
// line over both (docs/protocol.md).
inline std::string signed_frame(std::string header, std::string_view body,
                                std::string_view secret) {
  const std::string mac = batch_mac(secret, header, body);
  header.append(body);
  header += "MAC ";
  header += mac;
  header += '\n';
  return header;
}

[[noreturn]] inline void malformed(std::string_view why) {
  throw ProtocolError("malformed", fmt::format("exigrey: malformed batch: {}", why));
}

inline std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Splits on single spaces; empty fields (two spaces) are malformed.
inline std::vector<std::string_view> fields(std::string_view line, std::size_t max_fields) {
  std::vector<std::string_view> out;
  while (true) {
    if (out.size() == max_fields) malformed("too many fields");
    const auto sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (out.back().empty()) malformed("empty field");
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

// A decimal in [lo, hi] without a leading zero.
template <typename T>
T number(std::string_view text, T lo, T hi, std::string_view what) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi ||
      (text.size() > 1 && text.front() == '0')) {
    malformed(fmt::format("bad {}", what));
  }
  return value;
}

}  // namespace exigrey::detail

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/text.h: the few ASCII string helpers core and the tools share.
//
// Protocol text (DNS names, HTTP field names, key words in reports and
// settings) is case-insensitive in ASCII only, whatever the locale: these
// never consult the C locale, unlike std::tolower, and leave every byte
// outside 'A'..'Z' as it is, so UTF-8 and binary bytes pass unchanged.
//
// Errors: none; pure functions, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace exigrey {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// A lower-case copy of `s`.
std::string ascii_lower(std::string_view s);

// The blanks of every exigrey text format: space, tab and a stray CR (a file
// edited on Windows, a line read from a CRLF protocol).
constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

// `s` without leading and trailing blanks.
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace exigrey

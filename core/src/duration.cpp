// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/duration.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "exigrey/error.h"

namespace exigrey {
namespace {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::int64_t unit_seconds(char u) {
  switch (u) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    case 'w':
      return 604800;
    default:
      return 0;
  }
}

[[noreturn]] void invalid(std::string_view what, std::string_view text) {
  // Printed with fmt's escaping so control bytes in an ACL argument stay on one line.
  throw UsageError(fmt::format(
      "exigrey: invalid {} {:?} (use seconds or Exim units such as 10m, 1h30m)", what, text));
}

}  // namespace

std::int64_t parse_duration(std::string_view text, std::string_view what) {
  const std::string_view original = text;
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  if (text.empty()) invalid(what, original);

  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  bool negative = false;
  if (text.front() == '-') {  // only a plain integer may be negative (Exim::Grey treats it as 0)
    negative = true;
    text.remove_prefix(1);
  }

  std::int64_t total = 0;
  bool any_unit = false;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      const int digit = text[i] - '0';
      if (number > (kMax - digit) / 10) invalid(what, original);
      number = number * 10 + digit;
      ++i;
    }
    if (i == start) invalid(what, original);  // a unit without digits, or a stray byte
    std::int64_t scale = 1;
    if (i < text.size()) {
      scale = unit_seconds(text[i]);
      if (scale == 0) invalid(what, original);
      any_unit = true;
      ++i;
    } else if (any_unit) {
      invalid(what, original);  // "1h30": a trailing bare number after units
    }
    if (number > kMax / scale || total > kMax - number * scale) invalid(what, original);
    total += number * scale;
  }
  if (negative) {
    if (any_unit) invalid(what, original);
    return -total;
  }
  return total;
}

namespace {

std::string duration_units(std::int64_t seconds, int max_units) {
  if (seconds <= 0) return "0s";
  static constexpr std::pair<std::int64_t, char> kUnits[] = {
      {7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  std::string out;
  int used = 0;
  for (const auto& [size, unit] : kUnits) {
    if (used > 0) ++used;  // units after the first count even when zero
    if (used > max_units) break;
    if (seconds >= size) {
      out += fmt::format("{}{}", seconds / size, unit);
      seconds %= size;
      if (used == 0) used = 1;
    }
  }
  return out;
}

}  // namespace

std::string format_duration(std::int64_t seconds) { return duration_units(seconds, 5); }

std::string format_age(std::int64_t seconds) { return duration_units(seconds, 2); }

}  // namespace exigrey

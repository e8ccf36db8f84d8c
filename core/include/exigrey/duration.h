// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/duration.h: parsing delays and ages written the way Exim writes them.
//
// Accepts a plain integer (seconds; a negative one is returned as is, the
// caller decides what it means) or Exim time units: one or more
// <digits><unit> groups with units s, m, h, d, w ("10m", "1h30m", "2d").
// Surrounding blanks are ignored. Anything else, including an empty string,
// "1.5m", "10x" and values that overflow 64 bits, throws UsageError with a
// message like: invalid delay "abc" (use seconds or Exim units such as 10m, 1h30m).
//
// `what` names the argument in the message ("delay", "age", ...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace exigrey {

std::int64_t parse_duration(std::string_view text, std::string_view what = "delay");

// The reverse, in the same units: "1h30m", "6m12s", "45s"; "0s" for zero or
// less. parse_duration(format_duration(n)) == n for every n >= 0.
std::string format_duration(std::int64_t seconds);
// The two largest units only, for ages and log lines: "157w4d", "1h50m", "38s".
std::string format_age(std::int64_t seconds);

}  // namespace exigrey

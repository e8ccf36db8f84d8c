// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/report.h: a reputation report ("black 1.2.3.4") and its validation.
//
// A report says that a SUBJECT (an IPv4 or IPv6 address, or a domain name)
// was seen doing something bad (`black`) or good (`white`). Everything here
// validates input from outside (ACL arguments, network lines), so every
// parser has a bound and throws UsageError with a one-line message naming
// the bad value; nothing else is thrown.
//
// Normalisation makes equal subjects compare equal as strings:
//   IPv4   dotted quad, no leading zeros ("192.0.2.1");
//   IPv6   RFC 5952 text (lower case, longest zero run compressed);
//   domain lower case, no trailing dot, LDH labels (underscore allowed),
//          1..63 bytes each, at most 253 in all, not all-numeric.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "exigrey/clock.h"

namespace exigrey {

enum class Verb : std::uint8_t { kBlack = 1, kWhite = 2 };
enum class SubjectKind : std::uint8_t { kIPv4 = 4, kIPv6 = 6, kDomain = 'd' };

inline constexpr std::size_t kMaxSubjectBytes = 253;
inline constexpr std::size_t kMaxNoteBytes = 200;

struct Subject {
  SubjectKind kind;
  std::string text;  // normalised
  friend bool operator==(const Subject&, const Subject&) = default;
};

struct Report {
  Verb verb = Verb::kBlack;
  Subject subject{SubjectKind::kIPv4, {}};
  std::string note;   // free text, printable ASCII/UTF-8, no control bytes
  UnixTime time = 0;  // when the reporter saw it
  friend bool operator==(const Report&, const Report&) = default;
};

Verb parse_verb(std::string_view text);  // "black" or "white", exactly
std::string_view to_string(Verb verb) noexcept;
Subject parse_subject(std::string_view text);
// Checks a note: at most kMaxNoteBytes, no control bytes (so it stays one line).
std::string parse_note(std::string_view text);

}  // namespace exigrey

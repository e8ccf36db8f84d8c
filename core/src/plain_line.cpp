// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/plain_line.h"

#include <fmt/format.h>

#include <algorithm>

#include "exigrey/error.h"

namespace exigrey {
namespace {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view next_field(std::string_view& rest) {
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  std::size_t n = 0;
  while (n < rest.size() && !is_blank(rest[n])) ++n;
  const std::string_view field = rest.substr(0, n);
  rest.remove_prefix(n);
  return field;
}

PlainLine refuse(LineError error, std::string message) {
  PlainLine out;
  out.error = error;
  out.message = std::move(message);
  return out;
}

}  // namespace

std::string_view to_string(LineError error) noexcept {
  switch (error) {
    case LineError::kNone:
      return "none";
    case LineError::kBlank:
      return "blank";
    case LineError::kTooLong:
      return "too_long";
    case LineError::kNul:
      return "nul";
    case LineError::kControl:
      return "control";
    case LineError::kSyntax:
      return "syntax";
    case LineError::kBadVerb:
      return "bad_verb";
    case LineError::kBadSubject:
      return "bad_subject";
    case LineError::kBadNote:
      return "bad_note";
    case LineError::kPartial:
      return "partial";
  }
  return "?";
}

PlainLine parse_plain_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\0') != std::string_view::npos) {
    return refuse(LineError::kNul, "NUL byte in a report line");
  }
  const bool control = std::any_of(line.begin(), line.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
  if (control) return refuse(LineError::kControl, "control byte in a report line");

  std::string_view rest = line;
  const std::string_view verb = next_field(rest);
  if (verb.empty()) return refuse(LineError::kBlank, {});
  const std::string_view subject = next_field(rest);
  if (subject.empty()) {
    return refuse(LineError::kSyntax,
                  fmt::format("expected 'VERB SUBJECT', got {:?}", line.substr(0, 80)));
  }
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && is_blank(rest.back())) rest.remove_suffix(1);

  PlainLine out;
  try {
    out.report.verb = parse_verb(verb);
  } catch (const UsageError& e) {
    return refuse(LineError::kBadVerb, e.what());
  }
  try {
    out.report.subject = parse_subject(subject);
  } catch (const UsageError& e) {
    return refuse(LineError::kBadSubject, e.what());
  }
  try {
    out.report.note = parse_note(rest);
  } catch (const UsageError& e) {
    return refuse(LineError::kBadNote, e.what());
  }
  return out;
}

LineFramer::LineFramer(std::size_t max_line)
    : max_line_(std::clamp<std::size_t>(max_line, 1, kMaxPlainLineLimit)) {}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/report.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "exigrey/error.h"
#include "exigrey/text.h"

namespace exigrey {
namespace {

bool is_label_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::string shorten(std::string_view text) {
  // Messages quote at most 80 bytes of a hostile value.
  return std::string(text.substr(0, 80)) + (text.size() > 80 ? "..." : "");
}

}  // namespace

Verb parse_verb(std::string_view text) {
  if (text == "black") return Verb::kBlack;
  if (text == "white") return Verb::kWhite;
  throw UsageError(fmt::format("exigrey: invalid verb {:?} (use black or white)", shorten(text)));
}

std::string_view to_string(Verb verb) noexcept { return verb == Verb::kWhite ? "white" : "black"; }

Subject parse_subject(std::string_view text) {
  if (text.empty()) throw UsageError("exigrey: empty subject (give an IP address or a domain)");
  if (text.size() > kMaxSubjectBytes + 1) {
    throw UsageError(fmt::format("exigrey: subject longer than {} bytes", kMaxSubjectBytes));
  }
  const std::string s(text);
  if (s.find('\0') == std::string::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &v4, buf, sizeof buf);
      return Subject{SubjectKind::kIPv4, buf};
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &v6, buf, sizeof buf);
      return Subject{SubjectKind::kIPv6, buf};
    }
  }
  std::string name = ascii_lower(s);
  if (!name.empty() && name.back() == '.') name.pop_back();
  auto bad = [&](std::string_view why) -> Subject {
    throw UsageError(
        fmt::format("exigrey: invalid subject {:?}: {} (give an IP address or a "
                    "domain name)",
                    shorten(text), why));
  };
  if (name.empty() || name.size() > kMaxSubjectBytes) return bad("bad length");
  bool all_numeric = true;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    const std::string_view label(name.data() + start, end - start);
    if (label.empty() || label.size() > 63) return bad("empty or over-long label");
    if (label.front() == '-' || label.back() == '-') return bad("label starts or ends with '-'");
    for (char c : label) {
      if (!is_label_byte(c)) return bad("not an address, and a byte not allowed in a name");
      if (c < '0' || c > '9') all_numeric = false;
    }
    start = end + 1;
  }
  if (all_numeric) return bad("looks numeric but is not an IP address");
  return Subject{SubjectKind::kDomain, name};
}

std::string parse_note(std::string_view text) {
  if (text.size() > kMaxNoteBytes) {
    throw UsageError(fmt::format("exigrey: note of {} bytes is longer than the limit of {}",
                                 text.size(), kMaxNoteBytes));
  }
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) throw UsageError("exigrey: note contains a control byte");
  }
  return std::string(text);
}

}  // namespace exigrey

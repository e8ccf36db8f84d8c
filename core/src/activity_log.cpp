// SPDX-License-Identifier: GPL-2.0-or-later
// Reading Exim's main log for `exigrey report`: the plugin's decision lines
// and Exim's "temporarily rejected" lines. Log lines are written by many
// hands (Exim, the plugin, clients' HELO names and addresses), so nothing
// here trusts them: every field is checked, and a line that does not fit
// is counted and skipped, never an error.
#include <fmt/format.h>

#include <ctime>
#include <istream>
#include <limits>
#include <vector>

#include "exigrey/activity.h"
#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/ip_network.h"
#include "exigrey/text.h"

namespace exigrey {
namespace {

constexpr std::string_view kDecisionMark = "exigrey: ";
constexpr std::string_view kRejectMark = "temporarily rejected";
constexpr std::uint64_t kProgressEvery = 65536;

LogLine unparseable() {
  LogLine l;
  l.kind = LogLine::Kind::kUnparseable;
  return l;
}

bool digit(char c) { return c >= '0' && c <= '9'; }

bool alnum(char c) { return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The value of text[at, at+n) if it is all digits.
std::optional<int> number(std::string_view text, std::size_t at, std::size_t n) {
  if (at + n > text.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!digit(text[i])) return std::nullopt;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// days_from_civil): offsets given in the line need no time zone database.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Skips "[pid]" and an Exim message id ("1tXYZ1-000123-AB", or the 4.97
// form "1tXYZ1-0000000123-ABCD") with the blanks after them.
std::string_view skip_prefixes(std::string_view s) {
  const auto blanks = [&] {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  };
  blanks();
  if (s.starts_with('[')) {
    std::size_t i = 1;
    while (i < s.size() && digit(s[i])) ++i;
    if (i > 1 && i < s.size() && s[i] == ']') {
      s.remove_prefix(i + 1);
      blanks();
    }
  }
  const auto run = [&](std::size_t at) {
    std::size_t i = at;
    while (i < s.size() && alnum(s[i])) ++i;
    return i - at;
  };
  const std::size_t a = run(0);
  if (a == 6 && a < s.size() && s[a] == '-') {
    const std::size_t b = run(a + 1);
    const std::size_t c_at = a + 1 + b;
    if (b >= 6 && b <= 11 && c_at < s.size() && s[c_at] == '-') {
      const std::size_t c = run(c_at + 1);
      const std::size_t end = c_at + 1 + c;
      if (c >= 2 && c <= 4 && (end == s.size() || s[end] == ' ')) {
        s.remove_prefix(end);
        blanks();
      }
    }
  }
  return s;
}

// After `key=`: a quoted, escaped key as fmt's {:?} writes it, then " db=" and a name.
bool key_and_db(std::string_view s) {
  if (!s.starts_with("key=\"")) return false;
  std::size_t i = 5;
  while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2u : 1u;
  if (i >= s.size()) return false;
  const std::string_view tail = s.substr(i + 1);
  return tail.starts_with(" db=") && tail.size() > 4;
}

// "<digits><suffix>" at the start of `s`; returns what follows, or nullopt.
std::optional<std::string_view> digits_then(std::string_view s, std::string_view suffix) {
  std::size_t i = 0;
  while (i < s.size() && digit(s[i])) ++i;
  if (i == 0 || i > 18 || !s.substr(i).starts_with(suffix)) return std::nullopt;
  return s.substr(i + suffix.size());
}

// One of the plugin's decision lines (text after "exigrey: ").
LogLine decision(std::string_view s, UnixTime time) {
  LogLine l;
  l.time = time;
  std::optional<std::string_view> rest;
  if (s.starts_with("greylisted (new, retry in ")) {
    l.kind = LogLine::Kind::kGreylistedNew;
    rest = digits_then(s.substr(26), "s) ");
  } else if (s.starts_with("greylisted (too early, retry in ")) {
    l.kind = LogLine::Kind::kGreylistedTooEarly;
    rest = digits_then(s.substr(32), "s) ");
  } else if (s.starts_with("passed after ")) {
    const std::string_view d = s.substr(13);
    const std::size_t end = d.find(" (the delay is over) ");
    if (end != std::string_view::npos && end > 0) {
      try {
        l.delay = parse_duration(d.substr(0, end), "delay");
        l.kind = LogLine::Kind::kPassedAfterDelay;
        rest = d.substr(end + 21);
      } catch (const UsageError&) {
      }
    }
  } else if (s.starts_with("passed (known item, pass ")) {
    l.kind = LogLine::Kind::kPassedKnown;
    rest = digits_then(s.substr(25), ") ");
  } else if (s.starts_with("passed (whitelisted suffix) ")) {
    l.kind = LogLine::Kind::kPassedWhitelisted;
    rest = s.substr(28);
  } else if (s.starts_with("greylisted") || s.starts_with("passed")) {
    return unparseable();  // a decision line in a form this does not know
  } else {
    return {};  // another plugin line (settings, reports, errors)
  }
  if (!rest || !key_and_db(*rest) || l.delay < 0) return unparseable();
  return l;
}

bool contains_nocase(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    std::size_t j = 0;
    while (j < needle.size() && ascii_lower(hay[i + j]) == ascii_lower(needle[j])) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

// "X=" at the start of `s` or after a blank.
std::size_t field(std::string_view s, std::string_view name) {
  for (std::size_t at = s.find(name); at != std::string_view::npos; at = s.find(name, at + 1)) {
    if (at == 0 || s[at - 1] == ' ') return at + name.size();
  }
  return std::string_view::npos;
}

// The client address of "H=[ip]", "H=name [ip]:port", "H=(helo) [ip]",
// "H=name (helo) [ip]": the first bracketed address after H= that follows
// '=' or a blank and is followed by ':', a blank or the end, so that a HELO
// of "[192.0.2.1]" (inside the parentheses) is not taken for it.
std::optional<IpAddress> client_address(std::string_view head) {
  const std::size_t h = field(head, "H=");
  if (h == std::string_view::npos) return std::nullopt;
  for (std::size_t open = head.find('[', h); open != std::string_view::npos;
       open = head.find('[', open + 1)) {
    const char before = head[open - 1];
    if (before != '=' && before != ' ') continue;
    const std::size_t close = head.find(']', open);
    if (close == std::string_view::npos) return std::nullopt;
    if (close + 1 < head.size() && head[close + 1] != ':' && head[close + 1] != ' ') continue;
    if (auto ip = parse_ip(head.substr(open + 1, close - open - 1))) return ip->unmapped();
  }
  return std::nullopt;
}

// The domain of "F=<local@domain>" (after the last '@', lowercased), "<>"
// for the null sender, the address itself when it has no '@'.
std::optional<std::string> sender_of(std::string_view head) {
  const std::size_t f = field(head, "F=<");
  if (f == std::string_view::npos) return std::nullopt;
  const std::size_t close = head.find('>', f);
  if (close == std::string_view::npos) return std::nullopt;
  const std::string_view addr = head.substr(f, close - f);
  if (addr.empty()) return std::string("<>");
  const std::size_t at = addr.rfind('@');
  if (at == std::string_view::npos || at + 1 == addr.size()) return std::string(addr);
  return ascii_lower(addr.substr(at + 1));
}

// Exim's "temporarily rejected" line; a greylisting one if the message (the
// text after the first ": " that follows "temporarily rejected", or all of
// it when there is none) contains `reject_text`, in any case.
LogLine rejection(std::string_view text, UnixTime time, std::string_view reject_text) {
  const std::size_t mark = text.find(kRejectMark);
  const std::string_view after = text.substr(mark + kRejectMark.size());
  const std::size_t colon = after.find(": ");
  const std::string_view message =
      colon == std::string_view::npos ? after : after.substr(colon + 2);
  if (!contains_nocase(message, reject_text)) return {};
  LogLine l;
  l.kind = LogLine::Kind::kRejected;
  l.time = time;
  const std::string_view head = text.substr(0, mark);
  l.sender = sender_of(head);
  if (const auto ip = client_address(head)) {
    l.network = network_group(*ip);
  }
  return l;
}

}  // namespace

std::optional<UnixTime> parse_log_time(std::string_view line, std::string_view* rest) {
  // YYYY-MM-DD HH:MM:SS
  if (line.size() < 19 || line[4] != '-' || line[7] != '-' || line[10] != ' ' || line[13] != ':' ||
      line[16] != ':') {
    return std::nullopt;
  }
  const auto year = number(line, 0, 4);
  const auto month = number(line, 5, 2);
  const auto day = number(line, 8, 2);
  const auto hour = number(line, 11, 2);
  const auto minute = number(line, 14, 2);
  const auto second = number(line, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::size_t at = 19;
  if (at < line.size() && line[at] == '.') {  // log_selector +millisec
    std::size_t i = at + 1;
    while (i < line.size() && digit(line[i]) && i - at <= 6) ++i;
    if (i == at + 1) return std::nullopt;
    at = i;
  }
  if (at < line.size() && line[at] != ' ') return std::nullopt;
  std::optional<int> offset;  // seconds east of UTC (log_timezone = true)
  if (at + 6 <= line.size() && (line[at + 1] == '+' || line[at + 1] == '-') &&
      (at + 6 == line.size() || line[at + 6] == ' ')) {
    const auto hhmm = number(line, at + 2, 4);
    if (!hhmm || *hhmm % 100 > 59 || *hhmm / 100 > 23) return std::nullopt;
    offset = (*hhmm / 100 * 3600 + *hhmm % 100 * 60) * (line[at + 1] == '-' ? -1 : 1);
    at += 6;
  }
  UnixTime t = 0;
  if (offset) {
    t = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) * 86400 +
        *hour * 3600 + *minute * 60 + *second - *offset;
  } else {
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    tm.tm_isdst = -1;  // the zone's rule for that date
    const std::time_t local = std::mktime(&tm);
    if (local == static_cast<std::time_t>(-1)) return std::nullopt;  // (or 1969-12-31 23:59:59 UTC)
    t = static_cast<UnixTime>(local);
  }
  if (rest) *rest = skip_prefixes(line.substr(at));
  return t;
}

LogLine parse_log_line(std::string_view line, std::string_view reject_text) {
  const bool decision_like = line.find("exigrey:") != std::string_view::npos;
  const bool reject_like = line.find(kRejectMark) != std::string_view::npos;
  if (!decision_like && !reject_like) return {};
  std::string_view text;
  const auto time = parse_log_time(line, &text);
  if (!time) return unparseable();
  if (text.starts_with(kDecisionMark)) return decision(text.substr(kDecisionMark.size()), *time);
  if (reject_like) return rejection(text, *time, reject_text);
  return {};
}

void add_log_line(GreyActivity& a, std::string_view line) {
  ++a.log_lines;
  const LogLine l = parse_log_line(line, a.options.reject_text);
  using K = LogLine::Kind;
  if (l.kind == K::kIrrelevant) return;
  if (l.kind == K::kUnparseable) {
    ++a.log_lines_skipped;
    return;
  }
  if (l.time < a.options.since || l.time > a.options.now) {
    ++a.log_lines_outside;
    return;
  }
  ++a.log_lines_used;
  DecisionCounts& d = a.decisions;
  switch (l.kind) {
    case K::kGreylistedNew:
      ++d.greylisted_new;
      break;
    case K::kGreylistedTooEarly:
      ++d.greylisted_too_early;
      break;
    case K::kPassedAfterDelay:
      ++d.passed_after_delay;
      a.log_delays.add(l.delay);
      break;
    case K::kPassedKnown:
      ++d.passed_known;
      break;
    case K::kPassedWhitelisted:
      ++d.passed_whitelisted;
      break;
    case K::kRejected:
      ++a.log_rejects;
      if (a.options.top > 0) {
        if (l.sender) a.log_sender_domains.add(*l.sender);
        if (l.network) a.log_networks.add(*l.network);
      }
      break;
    case K::kIrrelevant:
    case K::kUnparseable:
      break;
  }
}

void read_log(GreyActivity& a, std::istream& in, std::string_view name,
              const ActivityProgress& progress) {
  ++a.log_files;
  std::vector<char> buf(kMaxLogLine + 1);
  const auto size = static_cast<std::streamsize>(buf.size());
  std::uint64_t lines = 0;
  for (;;) {
    in.getline(buf.data(), size);
    const std::streamsize got = in.gcount();
    if (got == 0 && in.eof()) break;
    if (in.bad()) break;
    const bool too_long = in.fail() && !in.eof();
    // gcount() includes the '\n' unless the line was cut or ended the stream.
    const std::streamsize length = got - (too_long || in.eof() ? 0 : 1);
    std::string_view line(buf.data(),
                          static_cast<std::size_t>(std::max<std::streamsize>(length, 0)));
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (too_long) {
      in.clear();
      in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
      ++a.log_lines;
      if (line.find("exigrey:") != std::string_view::npos ||
          line.find(kRejectMark) != std::string_view::npos) {
        ++a.log_lines_skipped;
      }
    } else {
      add_log_line(a, line);
    }
    if (++lines % kProgressEvery == 0 && progress) progress(lines);
    if (in.eof()) break;
  }
  if (in.bad()) throw Error(ErrorKind::kStore, fmt::format("exigrey: cannot read {}", name));
  if (progress) progress(lines);
}

}  // namespace exigrey

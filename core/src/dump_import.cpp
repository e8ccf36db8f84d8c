// SPDX-License-Identifier: GPL-2.0-or-later
// Importers of the data exigrey replaces (dump.h): the Perl module
// Exim::Grey's Berkeley DB file as printed by db_dump, and Exim's own `seen`
// hints database as printed by exim_dumpdb.
#include <fmt/format.h>

#include <charconv>
#include <ctime>

#include "exigrey/dump.h"
#include "exigrey/error.h"

namespace exigrey {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// db_dump -p: printable bytes as themselves, '\' as "\\", others as "\xx".
std::optional<std::string> decode_printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_digit(s[i + 1]);
    const int lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// db_dump without -p: every byte as two hex digits.
std::optional<std::string> decode_bytevalue(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = hex_digit(s[i]);
    const int lo = hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Reads a decimal integer at the front of `s` and removes it.
template <typename T>
std::optional<T> take_number(std::string_view& s) {
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return value;
}

std::string_view drop_nul(std::string_view s) {
  if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  return s;
}

int two_digits(std::string_view s, std::size_t at) {
  const char a = s[at];
  const char b = s[at + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
  return (a - '0') * 10 + (b - '0');
}

}  // namespace

std::optional<LoadedRecord> parse_exim_grey_record(std::string_view key, std::string_view value) {
  key = drop_nul(key);
  value = drop_nul(value);
  if (key.size() > kMaxNameBytes) return std::nullopt;
  std::string_view rest = value;
  const auto created = take_number<UnixTime>(rest);
  if (!created || !rest.starts_with(' ')) return std::nullopt;
  rest.remove_prefix(1);
  const auto used = take_number<UnixTime>(rest);
  if (!used) return std::nullopt;
  std::uint32_t count = 0;
  if (rest.size() >= 2 && rest[0] == ' ' && rest[1] >= '0' && rest[1] <= '9') {
    rest.remove_prefix(1);
    const auto n = take_number<std::uint32_t>(rest);
    if (!n) return std::nullopt;
    count = *n;
  }
  LoadedRecord r;
  r.name = std::string(key);
  if (rest == " auto") {
    // The flag without a suffix marks the module's own whitelist entries;
    // an empty suffix cannot come from a key (split_key), so it is no entry.
    if (key.empty()) return std::nullopt;
    r.kind = LoadedRecord::Kind::kWhitelist;
    r.entry = WhitelistEntry{*created, *used};
    return r;
  }
  r.kind = LoadedRecord::Kind::kItem;
  r.item = ItemRecord{*created, *used, count, std::nullopt};
  if (rest.empty()) return r;
  if (rest.starts_with(" auto=") && rest.size() > 6 && rest.size() - 6 <= kMaxNameBytes) {
    r.item.first = std::string(rest.substr(6));
    return r;
  }
  return std::nullopt;
}

std::optional<UnixTime> parse_exim_time(std::string_view s) {
  // "22-Nov-2026 00:01:54": strftime "%d-%b-%Y %H:%M:%S" in the C locale.
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 20 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':') {
    return std::nullopt;
  }
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (s.substr(3, 3) == kMonths[m]) month = m;
  }
  const int day = two_digits(s, 0);
  const int century = two_digits(s, 7);
  const int year2 = two_digits(s, 9);
  const int hour = two_digits(s, 12);
  const int minute = two_digits(s, 15);
  const int second = two_digits(s, 18);
  if (month < 0 || day < 1 || day > 31 || century < 0 || year2 < 0 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_mday = day;
  tm.tm_mon = month;
  tm.tm_year = century * 100 + year2 - 1900;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;  // as the zone says for that date
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1) || tm.tm_mday != day) return std::nullopt;
  return static_cast<UnixTime>(t);
}

bool RecordReader::next_exim_grey(LoadedRecord& out) {
  for (;;) {
    const auto l = line();
    if (!l) {
      if (!started_) fail("empty input (db_dump output starts with \"VERSION=3\")");
      if (in_data_ || !ended_) fail("the db_dump output is truncated: no \"DATA=END\" line");
      return false;
    }
    if (!in_data_) {
      // Outside the data: a header, which may follow an earlier section.
      if (!started_ || ended_) {
        if (!l->starts_with("VERSION=")) {
          fail("not db_dump output: expected a \"VERSION=\" line (make it with db_dump -p)");
        }
        started_ = true;
        ended_ = false;
        bytevalue_ = false;
        continue;
      }
      if (*l == "HEADER=END") {
        in_data_ = true;
        continue;
      }
      if (*l == "format=bytevalue") bytevalue_ = true;
      if (l->starts_with(" ")) fail("db_dump data before \"HEADER=END\"");
      continue;  // other header lines (type=, db_pagesize=, ...) do not matter here
    }
    if (*l == "DATA=END") {
      in_data_ = false;
      ended_ = true;
      continue;
    }
    auto decode = [&](std::string_view text) {
      if (!text.starts_with(' ')) fail("expected a db_dump data line (starting with a blank)");
      text.remove_prefix(1);
      auto bytes = bytevalue_ ? decode_bytevalue(text) : decode_printable(text);
      if (!bytes) fail("bad escape in a db_dump data line");
      return std::move(*bytes);
    };
    const std::string key = decode(*l);
    const auto value_line = line();
    if (!value_line) fail("the db_dump output ends after a key, without its value");
    const std::string value = decode(*value_line);
    if (auto r = parse_exim_grey_record(key, value)) {
      out = std::move(*r);
      return true;
    }
    ++skipped_;
    if (warn_) {
      warn_(
          fmt::format("exigrey: {}:{}: skipped a record in no known Exim::Grey layout: "
                      "key {:?}, value {:?}",
                      in_.name(), in_.line_number(), drop_nul(key).substr(0, 100),
                      drop_nul(value).substr(0, 100)));
    }
  }
}

bool RecordReader::next_exim_seen(LoadedRecord& out) {
  const auto l = line();
  if (!l) return false;
  const std::size_t tab = l->rfind('\t');
  if (tab == std::string_view::npos) {
    fail("expected \"KEY<TAB>DD-Mon-YYYY HH:MM:SS\" as exim_dumpdb prints the seen database");
  }
  const auto t = parse_exim_time(l->substr(tab + 1));
  if (!t) fail(fmt::format("bad time {:?} (expected DD-Mon-YYYY HH:MM:SS)", l->substr(tab + 1)));
  if (tab > kMaxNameBytes) fail("key longer than 65536 bytes");
  out.kind = LoadedRecord::Kind::kItem;
  out.name.assign(l->substr(0, tab));
  // A seen record holds the time Exim first saw (or last refreshed) the key;
  // as an item it passes once the delay has gone by since then.
  out.item = ItemRecord{*t, *t, 0, std::nullopt};
  return true;
}

}  // namespace exigrey

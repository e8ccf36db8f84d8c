// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/rbldnsd_zone.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>

#include "exigrey/error.h"
#include "exigrey/fd.h"
#include "exigrey/ip_network.h"
#include "exigrey/listing_index.h"

namespace exigrey {
namespace {

constexpr std::array<ZoneFileKind, 3> kKinds = {ZoneFileKind::kIp4, ZoneFileKind::kIp6,
                                                ZoneFileKind::kNames};

bool matches(ZoneFileKind kind, SubjectKind s) {
  switch (kind) {
    case ZoneFileKind::kIp4:
      return s == SubjectKind::kIPv4;
    case ZoneFileKind::kIp6:
      return s == SubjectKind::kIPv6;
    case ZoneFileKind::kNames:
      return s == SubjectKind::kDomain;
  }
  return false;
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorKind::kStore,
              fmt::format("exigrey: cannot {} {}: {}", what, path, std::strerror(err)));
}

void check_dns_name(std::string_view setting, const std::string& name) {
  try {
    const Subject s = parse_subject(name);
    if (s.kind == SubjectKind::kDomain && s.text == name) return;
  } catch (const UsageError&) {
  }
  throw UsageError(
      fmt::format("exigrey: {} {:?} is not a DNS name in lower case", setting, name.substr(0, 80)));
}

constexpr std::size_t kMaxCategoryNameBytes = 24;  // as the collector keeps them

bool is_category(std::string_view c) {
  if (c.empty() || c.size() > kMaxCategoryNameBytes) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

constexpr std::array<std::string_view, 6> kPlaceholders = {"reporters", "s",          "since",
                                                           "category",  "categories", "subject"};

// Empty when acceptable, else why not.
std::string answer_problem(std::string_view category, std::string_view address) {
  if (!is_category(category)) {
    return fmt::format("a category is 1 to {} bytes of a-z 0-9 _ -", kMaxCategoryNameBytes);
  }
  const auto ip = parse_ip(address);
  // DNSBL convention: 127.0.0.1 (loopback itself, also what a broken setup
  // may answer for any name) never means "listed"; 127.0.0.0 is a network.
  if (!ip || ip->v6 || ip->bytes[0] != 127 ||
      (ip->bytes[1] == 0 && ip->bytes[2] == 0 && ip->bytes[3] < 2)) {
    return "the address must be in 127.0.0.2-127.255.255.255";
  }
  return {};
}

std::string txt_problem(std::string_view t) {
  if (t.empty()) return "the template is empty";
  if (t.size() > kMaxTxtTemplateBytes) {
    return fmt::format("{} bytes, at most {}", t.size(), kMaxTxtTemplateBytes);
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto b = static_cast<unsigned char>(t[i]);
    // A line break would end the rbldnsd entry; other control or 8-bit
    // bytes have no defined meaning in a TXT that Exim puts in a reply.
    if (b < 0x20 || b > 0x7e) return fmt::format("byte 0x{:02x} is not printable ASCII", b);
  }
  // rbldnsd trims the line and skips blanks after the A value; the settings
  // file trims values.
  if (is_blank(t.front()) || is_blank(t.back())) return "leading or trailing blanks would be lost";
  // rbldnsd drops a TXT's leading '=' (its "no base template" marker).
  if (t.front() == '=') return "rbldnsd drops a leading '='";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '#' && (i == 0 || is_blank(t[i - 1]))) {
      return "'#' at the start or after a blank starts a comment in the settings file "
             "(inside a word, as in lookup#$, it is fine)";
    }
    if (c == '$' && i + 1 < t.size()) {
      const char n = t[i + 1];
      if (n == '$') {
        ++i;
      } else if ((n >= '0' && n <= '9') || n == '=') {
        return fmt::format("'${}' is an rbldnsd substitution variable (write $$ for a '$')", n);
      } else if (n == '{') {
        return "'$' right before a placeholder would run into its value (rbldnsd reads "
               "'$' and a digit as a variable)";
      }
      continue;
    }
    if (c == '}') return "unbalanced '}'";
    if (c != '{') continue;
    const std::size_t close = t.find('}', i);
    if (close == std::string_view::npos) return "unbalanced '{'";
    const std::string_view name = t.substr(i + 1, close - i - 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), name) == kPlaceholders.end()) {
      return fmt::format(
          "unknown placeholder {{{}}}; use {{reporters}} {{s}} {{since}} {{category}} "
          "{{categories}} {{subject}}",
          name.substr(0, 24));
    }
    i = close;
  }
  return {};
}

struct Choice {
  std::string_view category;
  std::string_view answer;
};

// The categories worth trusting: a listing is plain data, and a category
// ends up in a data file line, so anything but a valid name is ignored
// rather than escaped.
std::vector<std::string_view> valid_categories(const Listing& l) {
  std::vector<std::string_view> out;
  for (const std::string& c : l.categories) {
    if (is_category(c)) out.push_back(c);
  }
  return out;
}

Choice choose(const Listing& l, std::span<const std::string_view> cats, const ZoneOptions& o) {
  for (const auto& [category, answer] : o.answers) {
    // "manual" is the operator's word: a reporter cannot claim it with a note.
    const bool has = category == "manual"
                         ? l.manual
                         : std::find(cats.begin(), cats.end(), category) != cats.end();
    if (has) return {category, answer};
  }
  if (!cats.empty()) return {cats.front(), kDefaultAnswer};
  return {l.manual ? "manual" : "listed", kDefaultAnswer};
}

char printable(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b < 0x20 || b > 0x7e ? '?' : c;
}

}  // namespace

void check_txt_template(std::string_view tmpl) {
  const std::string why = txt_problem(tmpl);
  if (!why.empty()) throw UsageError(fmt::format("invalid txt {:?} ({})", tmpl.substr(0, 80), why));
}

std::pair<std::string, std::string> parse_answer_code(std::string_view item) {
  const std::size_t eq = item.find('=');
  auto fail = [&](std::string_view why) -> std::pair<std::string, std::string> {
    throw UsageError(fmt::format("invalid answer {:?} ({})", item.substr(0, 80), why));
  };
  if (eq == std::string_view::npos) return fail("use CATEGORY=ADDRESS, e.g. virus=127.0.0.4");
  const std::string_view category = item.substr(0, eq);
  const std::string_view address = item.substr(eq + 1);
  const std::string why = answer_problem(category, address);
  if (!why.empty()) return fail(why);
  return {std::string(category), parse_ip(address)->to_string()};
}

void check_zone_options(const ZoneOptions& o) {
  if (o.ttl < 1 || o.ttl > 7 * 86400) {
    throw UsageError(fmt::format("exigrey: dns_ttl must be 1s..1w, not {}", o.ttl));
  }
  check_dns_name("dns_ns", o.ns);
  check_dns_name("dns_hostmaster", o.hostmaster);
  if (o.answers.size() > kMaxAnswers) {
    throw UsageError(
        fmt::format("exigrey: answer: {} categories, at most {}", o.answers.size(), kMaxAnswers));
  }
  for (std::size_t i = 0; i < o.answers.size(); ++i) {
    const auto& [category, address] = o.answers[i];
    std::string why = answer_problem(category, address);
    // The settings print answers as written here: only canonical text reads back.
    if (why.empty() && parse_ip(address)->to_string() != address) {
      why = "write the address as a plain dotted quad";
    }
    for (std::size_t j = 0; why.empty() && j < i; ++j) {
      if (o.answers[j].first == category) why = "the category has an answer already";
    }
    if (!why.empty()) {
      throw UsageError(fmt::format("exigrey: invalid answer {:?} ({})",
                                   fmt::format("{}={}", category, address).substr(0, 80), why));
    }
  }
  const std::string why = txt_problem(o.txt);
  if (!why.empty()) {
    throw UsageError(fmt::format("exigrey: invalid txt {:?} ({})", o.txt.substr(0, 80), why));
  }
}

std::string black_answer(const Listing& l, const ZoneOptions& o) {
  const auto cats = valid_categories(l);
  return std::string(choose(l, cats, o).answer);
}

std::string white_txt(const Listing& l) {
  return fmt::format("$ vouched for by {} exigrey reporter{} since {}", l.reporters,
                     l.reporters == 1 ? "" : "s", format_utc(l.since));
}

std::string black_txt(const Listing& l, const ZoneOptions& o) {
  const auto cats = valid_categories(l);
  const Choice choice = choose(l, cats, o);
  // The default text counts reporters; an operator's listing has none to count.
  const std::string_view t = l.manual && o.txt == kDefaultTxt ? kDefaultManualTxt : o.txt;
  std::string out;
  out.reserve(kMaxTxtBytes);
  // Cut at kMaxTxtBytes, the most one TXT string holds (rbldnsd cuts
  // longer ones with a warning at every load).
  auto put = [&](std::string_view piece, bool value) {
    for (char c : piece) {
      if (out.size() >= kMaxTxtBytes) return;
      // A value never carries a '$': rbldnsd would substitute it.
      out.push_back(value && c == '$' ? '?' : printable(c));
    }
  };
  for (std::size_t i = 0; i < t.size() && out.size() < kMaxTxtBytes; ++i) {
    if (t[i] == '$' && i + 1 < t.size() && t[i + 1] == '$') {
      // Both or neither: half of "$$" would become the queried name.
      if (out.size() + 2 > kMaxTxtBytes) break;
      out += "$$";
      ++i;
      continue;
    }
    const std::size_t close = t[i] == '{' ? t.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      put(t.substr(i, 1), false);
      continue;
    }
    const std::string_view name = t.substr(i + 1, close - i - 1);
    if (name == "reporters") {
      put(std::to_string(l.reporters), true);
    } else if (name == "s") {
      put(l.reporters == 1 ? "" : "s", true);
    } else if (name == "since") {
      put(format_utc(l.since), true);
    } else if (name == "category") {
      put(choice.category, true);
    } else if (name == "categories") {
      if (cats.empty()) put("none", true);
      for (std::size_t k = 0; k < cats.size(); ++k) {
        if (k > 0) put(",", true);
        put(cats[k], true);
      }
    } else if (name == "subject") {
      put(l.subject.text, true);
    } else {
      put(t.substr(i, 1), false);  // not a placeholder (an unchecked template)
      continue;
    }
    i = close;
  }
  return out;
}

std::string zone_file_name(Verb list, ZoneFileKind kind) {
  static constexpr std::array<std::string_view, 3> kSuffix = {"ip4", "ip6", "names"};
  return fmt::format("{}.{}", to_string(list), kSuffix[static_cast<std::size_t>(kind)]);
}

std::string format_utc(UnixTime t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

namespace {

void append_header(std::string& out, Verb list, ZoneFileKind kind, const ZoneOptions& o) {
  static constexpr std::array<std::string_view, 3> kDataset = {"ip4trie", "ip6trie", "dnset"};
  static constexpr std::array<std::string_view, 3> kTestPoint = {
      kTestPointListed4, kTestPointListed6, kTestPointNameListed};
  const auto k = static_cast<std::size_t>(kind);
  fmt::format_to(std::back_inserter(out),
                 "# exigrey-collect {} list ({} dataset for rbldnsd). Generated: do not edit.\n"
                 "$SOA {} {} {} 0 10m 5m 1w {}\n"
                 "$NS {} {}\n"
                 "$TTL {}\n"
                 "{} :127.0.0.2:{}\n",
                 to_string(list), kDataset[k], o.ttl, o.ns, o.hostmaster, o.ttl, o.ttl, o.ns, o.ttl,
                 kTestPoint[k], kTestPointTxt);
}

void append_line(std::string& out, Verb list, const Listing& l, const ZoneOptions& o) {
  if (list == Verb::kBlack) {
    fmt::format_to(std::back_inserter(out), "{} :{}:{}\n", l.subject.text, black_answer(l, o),
                   black_txt(l, o));
  } else {
    fmt::format_to(std::back_inserter(out), "{} :127.0.0.2:{}\n", l.subject.text, white_txt(l));
  }
}

std::uint64_t digest_of(std::string_view text) noexcept {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

std::string render_zone_file(Verb list, ZoneFileKind kind, std::span<const Listing> listings,
                             const ZoneOptions& o) {
  std::string out;
  out.reserve(256 + listings.size() * 96);
  append_header(out, list, kind, o);
  for (const Listing& l : listings) {
    if (matches(kind, l.subject.kind)) append_line(out, list, l, o);
  }
  return out;
}

void write_file_atomically(const std::string& dir, const std::string& name,
                           std::string_view content, UnixTime mtime) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd.get() < 0) io_fail("create", tmp, errno);
  ::fchmod(fd.get(), 0644);  // readable by rbldnsd whatever our umask
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::unlink(tmp.c_str());
      io_fail("write", tmp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  const struct timespec times[2] = {{static_cast<time_t>(mtime), 0},
                                    {static_cast<time_t>(mtime), 0}};
  if (::fsync(fd.get()) != 0 || ::futimens(fd.get(), times) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("sync", tmp, err);
  }
  if (const int err = fd.close(); err != 0) {
    ::unlink(tmp.c_str());
    io_fail("close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("rename into place", path, err);
  }
  // Make the rename itself durable; failure here leaves a correct file in place.
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
}

ZoneWriter::ZoneWriter(std::string dir, ZoneOptions options, unsigned shards)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      shards_(std::max(shards, 1U)),
      files_(6 * std::size_t{shards_}) {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error(ErrorKind::kStore,
                fmt::format("exigrey: rbldnsd directory {} does not exist or is not a "
                            "directory",
                            dir_));
  }
  const ListingIndex layout(shards_);
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    for (ZoneFileKind kind : kKinds) {
      const std::string base = zone_file_name(list, kind);
      // Files of another split are stale: run-rbldnsd.sh would serve them.
      if (shards_ > 1) ::unlink((dir_ + "/" + base).c_str());
      for (unsigned s = shards_ > 1 ? shards_ : 0; s < kMaxShards; ++s) {
        ::unlink(fmt::format("{}/{}.{}", dir_, base, s).c_str());
      }
      for (unsigned s = 0; s < shards_; ++s) {
        const std::string path = dir_ + "/" + file_name(list, kind, s);
        if (::stat(path.c_str(), &st) == 0) {
          FileState& f = files_[layout.slot(list, kind, s)];
          f.mtime = st.st_mtime;
          f.sizes.push_back(static_cast<std::uint64_t>(st.st_size));
        }
      }
    }
  }
}

std::string ZoneWriter::file_name(Verb list, ZoneFileKind kind, unsigned shard) const {
  if (shards_ == 1) return zone_file_name(list, kind);
  return fmt::format("{}.{}", zone_file_name(list, kind), shard);
}

ZoneWriter::Result ZoneWriter::publish(std::span<const Listing> black,
                                       std::span<const Listing> white, UnixTime now) {
  ListingIndex index(shards_);
  index.replace(black, white);
  return publish(index, std::vector<bool>(files_.size(), true), now);
}

ZoneWriter::Result ZoneWriter::publish(const ListingIndex& index, const std::vector<bool>& dirty,
                                       UnixTime now) {
  Result r;
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    for (ZoneFileKind kind : kKinds) {
      for (unsigned shard = 0; shard < shards_; ++shard) {
        const std::size_t slot = index.slot(list, kind, shard);
        FileState& f = files_[slot];
        if (f.published && !dirty[slot]) continue;
        const auto& file = index.file(list, kind, shard);
        std::string text;
        text.reserve(256 + file.size() * 96);
        // The zone's SOA, NS and test point come from the first part only.
        if (shard == 0) {
          append_header(text, list, kind, options_);
        } else {
          fmt::format_to(std::back_inserter(text),
                         "# exigrey-collect {} list, part {} of {}. Generated: do not edit.\n"
                         "$TTL {}\n",
                         to_string(list), shard + 1, shards_, options_.ttl);
        }
        for (const auto& [key, l] : file) append_line(text, list, l, options_);
        const std::uint64_t digest = digest_of(text);
        if (f.published && digest == f.digest) {
          ++r.unchanged;
          continue;
        }
        if (f.mtime != now) f.sizes.clear();
        // Same second as an earlier version: make the size differ from every
        // version of this second, so rbldnsd's (mtime, size) check sees it.
        auto seen = [&](std::size_t size) {
          return std::find(f.sizes.begin(), f.sizes.end(), size) != f.sizes.end();
        };
        if (seen(text.size())) {
          text += "#\n";
          while (seen(text.size())) text.insert(text.size() - 1, 1, '.');
        }
        write_file_atomically(dir_, file_name(list, kind, shard), text, now);
        f.mtime = now;
        f.sizes.push_back(text.size());
        f.digest = digest;
        f.published = true;
        ++r.written;
      }
    }
  }
  return r;
}

}  // namespace exigrey

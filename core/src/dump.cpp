// SPDX-License-Identifier: GPL-2.0-or-later
// The exigrey dump format, dump_store and load_dump (dump.h). The importers
// of foreign formats are in dump_import.cpp.
#include "exigrey/dump.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "exigrey/error.h"
#include "write_budget.h"

namespace exigrey {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
  T value{};
  if (s.empty() || s.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// Splits at single spaces; returns false if there are more than `max` fields.
bool split_fields(std::string_view line, std::vector<std::string_view>& out, std::size_t max) {
  out.clear();
  for (;;) {
    const std::size_t sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) return true;
    if (out.size() == max) return false;
    line.remove_prefix(sp + 1);
  }
}

}  // namespace

std::string dump_escape(std::string_view bytes) {
  if (bytes.empty()) return "-";
  if (bytes == "-") return "%2D";
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f && c != '%') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::optional<std::string> dump_unescape(std::string_view field) {
  if (field.empty()) return std::nullopt;
  if (field == "-") return std::string();
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
    if (c != '%') {
      out.push_back(field[i]);
      continue;
    }
    if (i + 2 >= field.size()) return std::nullopt;  // needs two hex digits
    const int hi = hex_value(field[i + 1]);
    const int lo = hex_value(field[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string dump_item_line(std::string_view name, const ItemRecord& r) {
  return fmt::format("item {} {} {} {} {}\n", dump_escape(name), r.created, r.used, r.count,
                     r.first ? dump_escape(*r.first) : std::string("-"));
}

std::string dump_whitelist_line(std::string_view suffix, const WhitelistEntry& w) {
  return fmt::format("white {} {} {}\n", dump_escape(suffix), w.created, w.last_used);
}

DumpCounts dump_store(const Store& store, const std::function<void(std::string_view)>& out) {
  DumpCounts n;
  out(fmt::format("{}\n", kDumpHeader));
  {
    ReadTxn txn = store.read();
    txn.scan_items({}, [&](const ItemView& v) {
      out(dump_item_line(v.name, v.record));
      ++n.items;
      return true;
    });
    txn.scan_whitelist({}, [&](const WhitelistView& v) {
      out(dump_whitelist_line(v.suffix, v.entry));
      ++n.whitelist;
      return true;
    });
  }
  out(fmt::format("end {} {}\n", n.items, n.whitelist));
  return n;
}

DumpFormat parse_dump_format(std::string_view text) {
  if (text == "auto") return DumpFormat::kAuto;
  if (text == "exigrey") return DumpFormat::kExigrey;
  if (text == "exim-grey") return DumpFormat::kEximGrey;
  if (text == "exim-seen") return DumpFormat::kEximSeen;
  throw UsageError(fmt::format(
      "exigrey: unknown input format {:?} (use auto, exigrey, exim-grey or exim-seen)", text));
}

std::string_view to_string(DumpFormat format) noexcept {
  switch (format) {
    case DumpFormat::kAuto:
      return "auto";
    case DumpFormat::kExigrey:
      return "exigrey";
    case DumpFormat::kEximGrey:
      return "exim-grey";
    case DumpFormat::kEximSeen:
      return "exim-seen";
  }
  return "?";
}

std::string parse_dump_record(std::string_view line, LoadedRecord& out) {
  std::vector<std::string_view> f;
  if (!split_fields(line, f, 6)) return "too many fields";
  std::string why;
  auto name = [&](std::string_view field) {
    auto s = dump_unescape(field);
    if (!s) {
      if (why.empty()) why = fmt::format("badly escaped name {:?}", field);
      return std::string();
    }
    if (s->size() > kMaxNameBytes && why.empty()) why = "name longer than 65536 bytes";
    return std::move(*s);
  };
  auto number = [&]<typename T>(std::string_view field, T) {
    const auto v = parse_number<T>(field);
    if (!v && why.empty()) why = fmt::format("bad number {:?}", field);
    return v.value_or(T{});
  };
  if (f[0] == "item" && f.size() == 6) {
    out.kind = LoadedRecord::Kind::kItem;
    out.name = name(f[1]);
    out.item.created = number(f[2], UnixTime{});
    out.item.used = number(f[3], UnixTime{});
    out.item.count = number(f[4], std::uint32_t{});
    out.item.first.reset();
    if (f[5] != "-") {
      out.item.first = name(f[5]);
      if (out.item.first->empty() && why.empty()) why = "empty first suffix";
    }
    return why;
  }
  if (f[0] == "white" && f.size() == 4) {
    out.kind = LoadedRecord::Kind::kWhitelist;
    out.name = name(f[1]);
    // No key has an empty suffix (split_key), so such an entry could never
    // be used; `exigrey whitelist add ""` refuses it too.
    if (out.name.empty() && why.empty()) why = "empty whitelist suffix";
    out.entry.created = number(f[2], UnixTime{});
    out.entry.last_used = number(f[3], UnixTime{});
    return why;
  }
  return fmt::format("not an item or whitelist line: {:?}", line.substr(0, 40));
}

// ---- RecordReader: format recognition and the exigrey format ----

RecordReader::RecordReader(LineSource& in, DumpFormat format,
                           std::function<void(std::string_view)> warn)
    : in_(in), format_(format), warn_(std::move(warn)) {}

void RecordReader::fail(std::string_view what) const {
  throw Error(ErrorKind::kCorrupt,
              fmt::format("exigrey: {}:{}: {}", in_.name(), in_.line_number(), what));
}

std::optional<std::string_view> RecordReader::line() {
  if (holding_) {
    holding_ = false;
    return std::string_view(held_);
  }
  return in_.next();
}

void RecordReader::detect() {
  const auto first = in_.next();
  if (!first) return;  // empty input: nothing to load, in any format
  held_.assign(*first);
  holding_ = true;
  if (held_.starts_with("exigrey-dump ")) {
    format_ = DumpFormat::kExigrey;
  } else if (held_.starts_with("VERSION=")) {
    format_ = DumpFormat::kEximGrey;
  } else if (const auto tab = held_.rfind('\t');
             tab != std::string::npos && parse_exim_time(std::string_view(held_).substr(tab + 1))) {
    format_ = DumpFormat::kEximSeen;
  } else {
    fail(
        "input format not recognised: the first line is neither \"exigrey-dump 1\", "
        "a db_dump header (VERSION=3) nor an exim_dumpdb seen record (use --format)");
  }
}

bool RecordReader::next(LoadedRecord& out) {
  if (format_ == DumpFormat::kAuto) {
    detect();
    if (format_ == DumpFormat::kAuto) return false;
  }
  switch (format_) {
    case DumpFormat::kExigrey:
      return next_exigrey(out);
    case DumpFormat::kEximGrey:
      return next_exim_grey(out);
    case DumpFormat::kEximSeen:
      return next_exim_seen(out);
    case DumpFormat::kAuto:
      break;
  }
  return false;
}

bool RecordReader::next_exigrey(LoadedRecord& out) {
  std::vector<std::string_view> f;
  f.reserve(6);
  for (;;) {
    const auto l = line();
    if (!l) {
      if (!started_)
        fail(fmt::format("empty input (an exigrey dump starts with \"{}\")", kDumpHeader));
      if (!ended_) fail("the dump is truncated: it has no \"end\" line");
      return false;
    }
    if (!started_) {
      if (*l != kDumpHeader) {
        if (l->starts_with("exigrey-dump ")) {
          fail(fmt::format("dump format {:?} not understood (this exigrey reads \"{}\")", *l,
                           kDumpHeader));
        }
        fail(fmt::format("not an exigrey dump: the first line must be \"{}\"", kDumpHeader));
      }
      started_ = true;
      continue;
    }
    if (ended_) fail("data after the \"end\" line");
    if (!split_fields(*l, f, 6)) fail("too many fields");
    if ((f[0] == "item" && f.size() == 6) || (f[0] == "white" && f.size() == 4)) {
      if (const std::string why = parse_dump_record(*l, out); !why.empty()) fail(why);
      ++(out.kind == LoadedRecord::Kind::kItem ? counted_.items : counted_.whitelist);
      return true;
    }
    auto number = [&]<typename T>(std::string_view field, T) {
      const auto v = parse_number<T>(field);
      if (!v) fail(fmt::format("bad number {:?}", field));
      return *v;
    };
    if (f[0] == "end" && f.size() == 3) {
      const DumpCounts said{number(f[1], std::uint64_t{}), number(f[2], std::uint64_t{})};
      if (said != counted_) {
        fail(
            fmt::format("the end line counts {} items and {} whitelist entries, but {} and {} "
                        "were read",
                        said.items, said.whitelist, counted_.items, counted_.whitelist));
      }
      ended_ = true;
      continue;
    }
    fail(
        fmt::format("expected \"item NAME CREATED USED COUNT FIRST\", \"white SUFFIX CREATED "
                    "LAST_USED\" or \"end ITEMS WHITELIST\", got {:?}",
                    l->substr(0, 80)));
  }
}

// ---- load_dump ----

LoadResult load_dump(const Store& store, LineSource& in, const LoadOptions& options) {
  RecordReader reader(in, options.format, options.warn);
  LoadResult result;
  // Records are read before the write transaction starts, so a slow input
  // (a pipe, a network) never holds the writer lock.
  std::vector<LoadedRecord> batch(std::max<std::size_t>(options.limits.max_ops, 1));
  auto write = [&](std::size_t n) {
    for (std::size_t i = 0; i < n;) {
      WriteTxn txn = store.write();
      detail::WriteBudget budget(options.limits);
      budget.start();
      DumpCounts pending;
      for (; i < n && !budget.spent(); ++i) {
        const LoadedRecord& r = batch[i];
        budget.count();
        if (r.kind == LoadedRecord::Kind::kItem) {
          txn.put_item(r.name, r.item);
          ++pending.items;
        } else {
          txn.put_whitelist(r.name, r.entry);
          ++pending.whitelist;
        }
      }
      txn.commit();
      result.loaded.items += pending.items;
      result.loaded.whitelist += pending.whitelist;
    }
  };
  try {
    for (bool more = true; more;) {
      std::size_t n = 0;
      try {
        while (n < batch.size() && (more = reader.next(batch[n]))) ++n;
      } catch (const Error&) {
        write(n);  // what was read before the bad line still goes in
        throw;
      }
      write(n);
    }
  } catch (const Error& e) {
    if (result.loaded.items + result.loaded.whitelist == 0) throw;
    throw Error(e.kind(), fmt::format("{} ({} items and {} whitelist entries were loaded before "
                                      "the error)",
                                      e.what(), result.loaded.items, result.loaded.whitelist));
  }
  result.format = reader.format();
  result.skipped = reader.skipped();
  return result;
}

}  // namespace exigrey

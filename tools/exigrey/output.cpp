// SPDX-License-Identifier: GPL-2.0-or-later
#include "output.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "exigrey/error.h"

namespace exigrey::cli {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned min = 0;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  unsigned cp = c & (0x7fu >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string display_name(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

// ---- JsonObject ----

void JsonObject::key(std::string_view k) {
  if (text_.size() > 1) text_.push_back(',');
  text_ += json_string(k);
  text_.push_back(':');
}

JsonObject& JsonObject::add(std::string_view k, std::string_view value) {
  key(k);
  text_ += json_string(value);
  return *this;
}

JsonObject& JsonObject::add(std::string_view k, std::int64_t value) {
  key(k);
  text_ += fmt::format("{}", value);
  return *this;
}

JsonObject& JsonObject::add(std::string_view k, std::uint64_t value) {
  key(k);
  text_ += fmt::format("{}", value);
  return *this;
}

JsonObject& JsonObject::add(std::string_view k, bool value) {
  key(k);
  text_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::add(std::string_view k, const std::optional<std::string>& value) {
  return value ? add(k, std::string_view(*value)) : add_null(k);
}

JsonObject& JsonObject::add_null(std::string_view k) {
  key(k);
  text_ += "null";
  return *this;
}

JsonObject& JsonObject::add_raw(std::string_view k, std::string_view json) {
  key(k);
  text_ += json;
  return *this;
}

// ---- Output ----

Output::Output() {
  // One large buffer: a million-line listing should cost a few hundred writes.
  static char buffer[1 << 20];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
}

Output::~Output() { std::fflush(stdout); }

std::string Output::time(UnixTime t) const {
  if (epoch_) return fmt::format("{}", t);
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (localtime_r(&tt, &tm) == nullptr) return fmt::format("{}", t);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return n == 0 ? fmt::format("{}", t) : std::string(buf, n);
}

void Output::write(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void Output::error(std::string_view text) {
  std::fflush(stdout);
  std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
}

void Output::line(std::string_view text) {
  write(text);
  std::fputc('\n', stdout);
}

void Output::flush() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno;
    throw Error(ErrorKind::kStore,
                fmt::format("exigrey: cannot write the output: {}", std::strerror(err)));
  }
}

// ---- Table ----

Table::Table(Output& out, std::vector<Column> columns) : out_(out), columns_(std::move(columns)) {
  for (const auto& c : columns_) widths_.push_back(c.header.size());
}

Table::~Table() {
  try {
    finish();
  } catch (...) {  // reported by Output::flush() later
  }
}

void Table::row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  if (!settled_) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      widths_[i] = std::max(widths_[i], cells[i].size());
    }
    pending_.push_back(std::move(cells));
    if (pending_.size() >= kWidthRows) settle();
    return;
  }
  emit(cells);
}

void Table::settle() {
  settled_ = true;
  if (pending_.empty()) return;
  std::vector<std::string> header;
  for (const auto& c : columns_) header.push_back(c.header);
  emit(header);
  for (const auto& r : pending_) emit(r);
  pending_.clear();
  pending_.shrink_to_fit();
}

void Table::finish() {
  if (!settled_) settle();
}

void Table::emit(const std::vector<std::string>& cells) {
  std::string text;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const bool last = i + 1 == cells.size();
    const std::size_t pad = widths_[i] > cells[i].size() ? widths_[i] - cells[i].size() : 0;
    if (columns_[i].align == Align::kRight) text.append(pad, ' ');
    text += cells[i];
    if (last) break;
    if (columns_[i].align == Align::kLeft) text.append(pad, ' ');
    text += "  ";
  }
  if (cells.back().empty()) {  // no separator blanks at the end of the line
    while (!text.empty() && text.back() == ' ') text.pop_back();
  }
  out_.line(text);
}

void print_fields(Output& out, std::span<const std::pair<std::string_view, std::string>> fields) {
  std::size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size());
  for (const auto& [k, v] : fields) {
    std::string text(k);
    text.append(width - k.size() + 2, ' ');
    if (v.empty()) {
      while (!text.empty() && text.back() == ' ') text.pop_back();
    }
    text += v;
    out.line(text);
  }
}

}  // namespace exigrey::cli

// SPDX-License-Identifier: GPL-2.0-or-later
// output.h: how exigrey prints: aligned human columns with readable times,
// or one JSON object per line (--json), times as epoch seconds on request
// (--epoch; JSON always uses epoch seconds).
//
// Everything goes through one buffered stdout writer; write errors surface
// at flush() as a failure (so `exigrey dump > full-disk` does not exit 0).
// Not thread-safe: one Output per process.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/duration.h"  // format_duration, format_age

namespace exigrey::cli {

// A name for a terminal: control bytes, DEL and '\' as C escapes (\n, \t,
// \\, \xHH); everything else, including UTF-8, as is.
std::string display_name(std::string_view bytes);

// A JSON string literal (with quotes). Invalid UTF-8 becomes U+FFFD: JSON is
// for reading; `exigrey dump` is the lossless form.
std::string json_string(std::string_view bytes);

// "512 B", "1.5 KiB", "120.3 MiB", "4.0 GiB".
std::string format_bytes(std::uint64_t bytes);

// Builds one JSON object, fields in insertion order.
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonObject& add(std::string_view key, const std::string& value) {
    return add(key, std::string_view(value));
  }
  JsonObject& add(std::string_view key, std::int64_t value);
  JsonObject& add(std::string_view key, std::uint64_t value);
  JsonObject& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  JsonObject& add(std::string_view key, unsigned value) { return add(key, std::uint64_t{value}); }
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add(std::string_view key, const std::optional<std::string>& value);
  JsonObject& add_null(std::string_view key);
  JsonObject& add_raw(std::string_view key, std::string_view json);
  std::string str() const { return text_ + "}"; }

 private:
  void key(std::string_view k);
  std::string text_ = "{";
};

class Output {
 public:
  Output();
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void set_modes(bool json, bool epoch) {
    json_ = json;
    epoch_ = epoch;
  }
  bool json() const noexcept { return json_; }
  bool epoch() const noexcept { return epoch_; }

  // Local time "2026-11-22 00:01:54", or the epoch seconds with --epoch.
  std::string time(UnixTime t) const;

  // Writes text as is / one line (adds '\n').
  void write(std::string_view text);
  void line(std::string_view text);
  // One line on stderr (an error or warning that does not end the command).
  void error(std::string_view text);
  void json_line(const JsonObject& obj) { line(obj.str()); }
  // Flushes stdout; throws Error(kStore) on a write error.
  void flush();

 private:
  bool json_ = false;
  bool epoch_ = false;
};

// Aligned columns. Widths come from the header and the first kWidthRows
// rows (bounded memory for million-row listings); later, wider cells simply
// push the line. The last column is never padded.
class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
  };
  static constexpr std::size_t kWidthRows = 1000;

  Table(Output& out, std::vector<Column> columns);
  ~Table();  // flushes rows still buffered (call finish() to see errors)
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  void row(std::vector<std::string> cells);
  void finish();

 private:
  void emit(const std::vector<std::string>& cells);
  void settle();

  Output& out_;
  std::vector<Column> columns_;
  std::vector<std::size_t> widths_;
  std::vector<std::vector<std::string>> pending_;
  bool settled_ = false;
};

// Key/value lines with the keys padded to one width: "store    /x/seen".
void print_fields(Output& out, std::span<const std::pair<std::string_view, std::string>> fields);
inline void print_fields(Output& out,
                         std::initializer_list<std::pair<std::string_view, std::string>> fields) {
  print_fields(out, std::span(fields.begin(), fields.size()));
}

}  // namespace exigrey::cli

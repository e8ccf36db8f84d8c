// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/dump.h: the text form of a store, for backup, restore and
// migration, and the importers of the data exigrey replaces.
//
// The dump format (docs/internals-dump.md has the full description):
//
//   exigrey-dump 1
//   item <name> <created> <used> <count> <first>
//   white <suffix> <created> <last_used>
//   end <items> <whitelist entries>
//
// One record per line, fields separated by one space, times in decimal Unix
// seconds. Names are escaped (dump_escape): every byte outside '!'..'~', and
// '%' itself, is written as %XX (upper-case hex), so any byte survives,
// including NUL, newline and space; an empty name, and a missing <first>, is
// a lone '-', and a name that is just "-" is written %2D. The `end` line
// counts the records, so a truncated dump is detected on load.
//
// The importers read (format names as for `exigrey load --format`):
//   exigrey    the format above;
//   exim-grey  the original Perl module Exim::Grey's Berkeley DB file, as
//              printed by `db_dump -p` (or the equivalent Perl one-liner in
//              docs/internals-dump.md, since db_dump is often not installed);
//   exim-seen  Exim's own `seen` hints database as printed by
//              `exim_dumpdb <spool> seen` (Exim 4.96: "KEY<TAB>DD-Mon-YYYY
//              HH:MM:SS" in local time, one line per record).
//
// Errors: malformed input throws Error(kCorrupt) whose message names the
// input and line ("exigrey: <input>:<line>: ..."); StoreError from the store.
// Thread safety: the functions are reentrant; one LineSource per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "exigrey/bulk.h"
#include "exigrey/records.h"
#include "exigrey/store.h"

namespace exigrey {

inline constexpr std::string_view kDumpHeader = "exigrey-dump 1";
// The longest input line accepted by any importer.
inline constexpr std::size_t kMaxDumpLine = 1024 * 1024;

// Escapes a name for a dump field (see above); never empty, never has a blank.
std::string dump_escape(std::string_view bytes);
// Reverses dump_escape (lower-case hex is accepted too). Returns nullopt for
// a field that no escape produces (a bad %XX, a byte outside '!'..'~', "").
std::optional<std::string> dump_unescape(std::string_view field);

// One dump line, with its '\n'.
std::string dump_item_line(std::string_view name, const ItemRecord& record);
std::string dump_whitelist_line(std::string_view suffix, const WhitelistEntry& entry);

struct DumpCounts {
  std::uint64_t items = 0;
  std::uint64_t whitelist = 0;
  friend bool operator==(const DumpCounts&, const DumpCounts&) = default;
};

// Writes the whole store, header to end line, to `out` one line at a time,
// from one read snapshot (a consistent backup; memory does not grow with
// the store). Items first, then whitelist entries, each in storage order.
DumpCounts dump_store(const Store& store, const std::function<void(std::string_view)>& out);

// A source of input lines without their '\n'. A view stays valid until the
// next call. Throws Error(kCorrupt) for a line over kMaxDumpLine bytes.
class LineSource {
 public:
  virtual ~LineSource() = default;
  virtual std::optional<std::string_view> next() = 0;
  virtual std::uint64_t line_number() const = 0;  // of the line last returned
  virtual const std::string& name() const = 0;    // for messages ("-" is stdin)
};

// Lines read from a file descriptor (not closed), in 64 KiB reads.
class FdLineSource final : public LineSource {
 public:
  FdLineSource(int fd, std::string name);
  std::optional<std::string_view> next() override;
  std::uint64_t line_number() const override { return line_; }
  const std::string& name() const override { return name_; }

 private:
  bool fill();
  int fd_;
  std::string name_;
  std::string buf_;
  std::size_t start_ = 0;    // first byte not yet returned
  std::size_t scanned_ = 0;  // bytes from start_ known to hold no '\n'
  bool eof_ = false;
  std::uint64_t line_ = 0;
};

// Lines of a string (tests, small inputs).
class StringLineSource final : public LineSource {
 public:
  explicit StringLineSource(std::string text, std::string name = "input");
  std::optional<std::string_view> next() override;
  std::uint64_t line_number() const override { return line_; }
  const std::string& name() const override { return name_; }

 private:
  std::string text_;
  std::string name_;
  std::size_t pos_ = 0;
  std::uint64_t line_ = 0;
};

enum class DumpFormat { kAuto, kExigrey, kEximGrey, kEximSeen };

// "auto", "exigrey", "exim-grey", "exim-seen"; throws UsageError otherwise.
DumpFormat parse_dump_format(std::string_view text);
std::string_view to_string(DumpFormat format) noexcept;

// One record read from any format.
struct LoadedRecord {
  enum class Kind { kItem, kWhitelist };
  Kind kind = Kind::kItem;
  std::string name;
  ItemRecord item;       // kItem
  WhitelistEntry entry;  // kWhitelist
};

// Reads records from `in`. With kAuto the format is recognised from the
// first line. `warn` receives one-line notes about records an importer
// skips (exim-grey values in no known layout); it may be empty.
class RecordReader {
 public:
  RecordReader(LineSource& in, DumpFormat format, std::function<void(std::string_view)> warn = {});

  // The next record, or false at the end of the input.
  bool next(LoadedRecord& out);
  // The format in use (after the first next(): never kAuto unless the input is empty).
  DumpFormat format() const noexcept { return format_; }
  std::uint64_t skipped() const noexcept { return skipped_; }

 private:
  std::optional<std::string_view> line();  // the held-back first line, then `in_`
  void detect();
  bool next_exigrey(LoadedRecord& out);
  bool next_exim_grey(LoadedRecord& out);
  bool next_exim_seen(LoadedRecord& out);
  [[noreturn]] void fail(std::string_view what) const;

  LineSource& in_;
  DumpFormat format_;
  std::function<void(std::string_view)> warn_;
  std::uint64_t skipped_ = 0;
  std::string held_;  // the first line, read to recognise the format
  bool holding_ = false;
  // exigrey: the header and the end line; exim-grey: inside db_dump's
  // header (started_ && !ended_ && !in_data_) or data section.
  bool started_ = false;
  bool ended_ = false;
  bool in_data_ = false;
  bool bytevalue_ = false;  // db_dump without -p: hex pairs
  DumpCounts counted_;
};

// Parses one "item ..." or "white ..." line of a dump (without its '\n')
// into `out`. Returns an empty string, or what is wrong with the line (one
// line, for an error message). Peer batches carry records this way too.
std::string parse_dump_record(std::string_view line, LoadedRecord& out);

struct LoadOptions {
  DumpFormat format = DumpFormat::kAuto;
  BulkLimits limits;
  std::function<void(std::string_view)> warn;  // see RecordReader
};

struct LoadResult {
  DumpFormat format = DumpFormat::kAuto;
  DumpCounts loaded;
  std::uint64_t skipped = 0;
};

// Writes every record of `in` into `store`, replacing records of the same
// name and keeping the others, in short write transactions (BulkLimits).
// On an error the batches committed so far stay; the message says how many
// records were loaded.
LoadResult load_dump(const Store& store, LineSource& in, const LoadOptions& options = {});

// Exim's print_time() form "22-Nov-2026 00:01:54", in local time (TZ).
std::optional<UnixTime> parse_exim_time(std::string_view text);

// Classifies one Exim::Grey record (key and value with their trailing NUL
// bytes, as in the Berkeley DB file). Values "<created> <used> <count>
// [auto=<suffix>]" (and the older "<created> <used>") are items; values
// whose flag is a bare "auto" are whitelist entries named by the key.
// Returns nullopt for any other value.
std::optional<LoadedRecord> parse_exim_grey_record(std::string_view key, std::string_view value);

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/rbldnsd_zone.h: publishing listings as rbldnsd data files.
//
// Each list (black, white) is three files in one directory:
//   <list>.ip4    ip4trie dataset: IPv4 addresses
//   <list>.ip6    ip6trie dataset: IPv6 addresses
//   <list>.names  dnset dataset:   domain names (exact names, no wildcards)
// Each file starts with $SOA (serial 0: rbldnsd uses the file's mtime), $NS
// and $TTL, then the RFC 5782 test point (127.0.0.2, ::ffff:7f00:2, "test";
// never the unlisted ones), then one line per listing with its A value and a
// TXT saying why and since when, e.g.
//   11.22.33.44 :127.0.0.2:$ reported by 2 exigrey reporters since 2025-01-02T03:04:05Z
// (rbldnsd replaces `$` with the queried address or name).
//
// Reasons (black list only; the white list always answers 127.0.0.2 with
// its fixed text):
// - A value: ZoneOptions::answers maps categories (Listing::categories, the
//   first word of the reports' notes) to codes, in priority order; a listing
//   answers the code of the first configured category it has, else
//   127.0.0.2. The answer for "manual" applies to the operator's listings
//   (Listing::manual), not to reports that say "manual". Priority, not OR-ed
//   bits: an rbldnsd ip4trie/ip6trie/dnset entry has exactly one (A, TXT)
//   value. Exim (the DNS list chapter of its specification;
//   tests/collect/test_reasons.py shows it with 4.96) ignores answers
//   outside 127/8 and tests the returned address: `dnslists = ZONE=127.0.0.3` matches
//   when it equals one of the comma-separated addresses; `ZONE&0.0.0.4` when
//   ALL the bits of the mask are set in it (`&0.0.0.3` wants both bits;
//   `&0.0.0.1,0.0.0.2` either); plain `ZONE` on any answer. For the bitmask
//   style give each category a bit of its own (virus=127.0.0.4,
//   trap=127.0.0.8) and put the more severe first: a listing with both then
//   answers 127.0.0.4, so `&0.0.0.4` matches it and `&0.0.0.8` does not.
// - TXT: ZoneOptions::txt, a template (kDefaultTxt gives the text above).
//   Placeholders: {reporters}; {s} ("s" unless reporters == 1); {since} (ISO
//   UTC); {category} (the category that chose the A value, else the most
//   reported one, else "manual" for an operator's listing, else "listed");
//   {categories} (comma-separated, or "none"); {subject} (the entry:
//   address, network or name). `$` passes through: rbldnsd replaces it with
//   the queried address or name (what a lookup URL wants, "...?q=$"); `$$`
//   is a literal `$`. Refused: a `$` before a digit, `=` or `{` (rbldnsd
//   variables, and `$` + a value starting with a digit would be one), other
//   braces, bytes outside printable ASCII (a line break would end the entry),
//   leading or trailing blanks and a leading `=` (rbldnsd drops them), a `#`
//   at the start or after a blank (a comment in the settings file, so
//   --check-config would not read back; "lookup#$" is fine), and templates
//   over kMaxTxtTemplateBytes. The expanded text is cut to kMaxTxtBytes (one
//   TXT string; rbldnsd warns beyond). Categories that are not
//   [a-z0-9_-]{1,24} are ignored, so a listing cannot inject a line or field.
//
// Files are replaced atomically: written to "<name>.tmp" in the same
// directory, fsynced, given their mtime, renamed over the old file, and the
// directory fsynced. rbldnsd notices a new file by a change of its mtime
// (whole seconds) or of its size, checked every -c interval. A file rewritten
// within the same second as its previous version could therefore go
// unnoticed; ZoneWriter makes every version written within one second
// differ in size from the others of that second (by a padding comment line
// when needed), so rbldnsd sees every change whenever it looks, and files
// keep their true mtime: a publish never has to wait for the clock.
//
// Errors: Error(kStore) with the path and the errno text when a file cannot
// be written (the previous file then stays in place); UsageError from the
// checks of options. Rendering never throws (an unchecked template is
// expanded as far as it makes sense, every byte kept printable).
// Thread safety: the free functions are pure; a ZoneWriter is not
// synchronised; one per directory.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/report.h"
#include "exigrey/reputation_policy.h"

namespace exigrey {

class ListingIndex;  // listing_index.h

inline constexpr std::string_view kDefaultTxt =
    "$ reported by {reporters} exigrey reporter{s} since {since}";
// With the default template, an operator's listing (exigrey-collect ban) says so.
inline constexpr std::string_view kDefaultManualTxt =
    "$ listed by the exigrey operator since {since}";
inline constexpr std::size_t kMaxTxtTemplateBytes = 200;
inline constexpr std::size_t kMaxTxtBytes = 255;  // one TXT character-string
inline constexpr std::size_t kMaxAnswers = 32;
inline constexpr std::string_view kDefaultAnswer = "127.0.0.2";

struct ZoneOptions {
  std::int64_t ttl = 300;                           // $TTL, SOA ttl and negative-caching TTL
  std::string ns = "localhost";                     // $NS and the SOA origin
  std::string hostmaster = "hostmaster.localhost";  // SOA contact, as a DNS name
  // Black list: category -> A value (dotted quad, 127.0.0.2..127.255.255.255),
  // highest priority first; at most kMaxAnswers, each category once.
  std::vector<std::pair<std::string, std::string>> answers;
  std::string txt = std::string(kDefaultTxt);  // TXT template of black listings
  friend bool operator==(const ZoneOptions&, const ZoneOptions&) = default;
};

// Checks the DNS names, the TTL, the answers and the template; throws
// UsageError naming the setting, on one line.
void check_zone_options(const ZoneOptions& options);

// Throws UsageError ("invalid txt ...") unless `tmpl` is a valid TXT template.
void check_txt_template(std::string_view tmpl);

// "virus=127.0.0.4" -> {"virus", "127.0.0.4"} (the address in canonical
// form). Throws UsageError ("invalid answer ...").
std::pair<std::string, std::string> parse_answer_code(std::string_view item);

// The A value of a black listing under `options` (see above).
std::string black_answer(const Listing& listing, const ZoneOptions& options);

// The TXT of a black listing: the template expanded, at most kMaxTxtBytes.
std::string black_txt(const Listing& listing, const ZoneOptions& options);

// The TXT of a white listing ("$ vouched for by 2 exigrey reporters since ...").
std::string white_txt(const Listing& listing);

// The TXT of the RFC 5782 test point in every list.
inline constexpr std::string_view kTestPointTxt = "RFC 5782 test point";

enum class ZoneFileKind : std::uint8_t { kIp4 = 0, kIp6 = 1, kNames = 2 };

// "black.ip4", "white.names", ...
std::string zone_file_name(Verb list, ZoneFileKind kind);

// The text of one file of one list: header, test point, then the listings
// of that kind in the given order (others are ignored).
std::string render_zone_file(Verb list, ZoneFileKind kind, std::span<const Listing> listings,
                             const ZoneOptions& options);

// ISO 8601 UTC, "2025-01-02T03:04:05Z".
std::string format_utc(UnixTime t);

// Writes `content` to dir/name atomically (see above) with the given mtime.
void write_file_atomically(const std::string& dir, const std::string& name,
                           std::string_view content, UnixTime mtime);

// Parts per file at most (rbldnsd_shards).
inline constexpr unsigned kMaxShards = 256;

class ZoneWriter {
 public:
  // `dir` must exist. The mtimes and sizes of files already there count as
  // versions rbldnsd may have loaded. With `shards` > 1 each file is split
  // into that many parts, "black.ip4.0" ... (one rbldnsd dataset each, so
  // that a change rewrites and reloads one part; ListingIndex::shard_of
  // chooses the part; the first carries $SOA, $NS and the test point); the
  // files of another split are removed, so that a server started on the
  // directory (run-rbldnsd.sh) finds only this one's.
  ZoneWriter(std::string dir, ZoneOptions options, unsigned shards = 1);

  const std::string& dir() const noexcept { return dir_; }
  void set_options(ZoneOptions options) { options_ = std::move(options); }
  unsigned shards() const noexcept { return shards_; }
  // "black.ip4", or "black.ip4.3" for a part.
  std::string file_name(Verb list, ZoneFileKind kind, unsigned shard) const;
  const ZoneOptions& options() const noexcept { return options_; }

  struct Result {
    unsigned written = 0;    // files replaced
    unsigned unchanged = 0;  // files whose content was already published
  };

  // Renders both lists and replaces, with mtime `now`, the files whose
  // content changed since this writer last wrote them (all of them the
  // first time).
  Result publish(std::span<const Listing> black, std::span<const Listing> white, UnixTime now);

  // The same from an index (with this writer's shards), rendering only the
  // files marked in `dirty` (by ListingIndex::slot) and those never
  // written; a rendered file whose content is what this writer last wrote
  // is not replaced.
  Result publish(const ListingIndex& index, const std::vector<bool>& dirty, UnixTime now);

 private:
  struct FileState {
    bool published = false;
    std::uint64_t digest = 0;          // of the last content written (without padding)
    UnixTime mtime = 0;                // mtime of the versions in `sizes`
    std::vector<std::uint64_t> sizes;  // sizes of the versions written at `mtime`
  };

  std::string dir_;
  ZoneOptions options_;
  unsigned shards_;
  std::vector<FileState> files_;  // by ListingIndex::slot
};

}  // namespace exigrey

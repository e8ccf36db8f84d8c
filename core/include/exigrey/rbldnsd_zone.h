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
// be written (the previous file then stays in place).
// Thread safety: a ZoneWriter is not synchronised; one per directory.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/report.h"
#include "exigrey/reputation_policy.h"

namespace exigrey {

struct ZoneOptions {
  std::int64_t ttl = 300;                           // $TTL, SOA ttl and negative-caching TTL
  std::string ns = "localhost";                     // $NS and the SOA origin
  std::string hostmaster = "hostmaster.localhost";  // SOA contact, as a DNS name
  friend bool operator==(const ZoneOptions&, const ZoneOptions&) = default;
};

// Checks the DNS names and the TTL; throws UsageError naming the setting.
void check_zone_options(const ZoneOptions& options);

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

class ZoneWriter {
 public:
  // `dir` must exist. The mtimes and sizes of files already there count as
  // versions rbldnsd may have loaded.
  ZoneWriter(std::string dir, ZoneOptions options);

  const std::string& dir() const noexcept { return dir_; }
  void set_options(ZoneOptions options) { options_ = std::move(options); }
  const ZoneOptions& options() const noexcept { return options_; }

  struct Result {
    unsigned written = 0;    // files replaced
    unsigned unchanged = 0;  // files whose content was already published
  };

  // Renders both lists and replaces, with mtime `now`, the files whose
  // content changed since this writer last wrote them (all of them the
  // first time).
  Result publish(std::span<const Listing> black, std::span<const Listing> white, UnixTime now);

 private:
  struct FileState {
    bool published = false;
    std::string content;               // last content written (without padding)
    UnixTime mtime = 0;                // mtime of the versions in `sizes`
    std::vector<std::uint64_t> sizes;  // sizes of the versions written at `mtime`
  };

  std::string dir_;
  ZoneOptions options_;
  std::array<FileState, 6> files_;
};

}  // namespace exigrey

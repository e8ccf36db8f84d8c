// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/collect_config.h: the settings of exigrey-collect.
//
// One file (`exigrey-collect --config FILE`) of `key = value` lines, with the
// same lexical rules as exigrey.conf (config.h): '#' starts a comment at the
// start of a line or after a blank, blanks around keys and values are
// trimmed, at most kMaxCollectConfigBytes. Every key is also a command-line flag
// (`min_reporters` is --min-reporters) and flags override the file; both go
// through apply_collect_setting, so they accept exactly the same values.
// List settings (allow, whitelist, answer) take blank- or comma-separated items; in
// the file, repeating such a key appends, while a flag replaces the list.
// Scalar settings may appear once per file.
//
//   plain          = 127.0.0.1:2525      plain report listener (ADDR:PORT, [v6]:PORT)
//   signed         = 0.0.0.0:8054        signed batches from exigrey-forward (docs/protocol.md)
//   keys           = /etc/exigrey/collect.keys   ID SECRET per line (keys.h), for signed
//   tls_cert       = /etc/exigrey/collect.pem    certificate chain: signed speaks TLS
//   tls_key        = /etc/exigrey/collect.key    its private key
//   metrics        = 127.0.0.1:9464      Prometheus /metrics listener
//   state          = /var/lib/exigrey-collect
//   rbldnsd_dir    = /var/lib/rbldnsd/exigrey
//   dns_primary    = 127.0.0.1:5300      also (or instead) publish by DNS UPDATE (docs/dns.md)
//   dns_key        = /etc/exigrey/dns.key        its TSIG key (keymgr -t output)
//   dns_zones      = black=bl.example.org black_names=dbl.example.org rpz=rpz.example.org
//   dns_split      = black               black's zone delegated to 0.ZONE ... 255.ZONE
//   dns_notify     = 192.0.2.53:53       secondaries sent a NOTIFY right after each change
//   dns_backlog    = 200000              record changes held for dns_primary; beyond,
//                                        the zones are compared whole instead
//   allow          = 127.0.0.0/8 ::1     who may send plain reports (default loopback)
//   min_reporters  = 2                   distinct reporters before a subject is listed
//   ttl            = 1d                  a vote counts this long after its last report
//   decay          = 12h                 half-life of a vote's weight (0: no decay)
//   whitelist      = 192.0.2.0/24 example.org   never black-listed
//   reporter_weight= mx1=2 plain:10.0.0.9=0     a reporter's vote counts this much
//   probation      = 0                   new reporters count probation_weight for this long
//   probation_weight = 0.5
//   hold           = 1h                  a listing lasts at least hold x 2^(n-1)
//   hold_max       = 7d                  ... at most this
//   offense_memory = 30d                 listings further apart start again at n = 1
//   ipv6_prefix    = 64                  IPv6 reports count for their /64
//   escalate_ipv4  = 0                   listed addresses that list their /24 (0: never)
//   escalate_ipv6  = 0                   listed networks that list their /48 (0: never)
//   retention      = 30d                 evidence kept after a subject's last event
//   web            = 127.0.0.1:8080      public lookup page and JSON API (off by default)
//   list_name      = exigrey             shown on the lookup page
//   removal_text   = ...                 how to get removed (shown on the lookup page)
//   max_requests   = 1000                removal requests stored at most
//   max_line       = 512                 bytes per report line
//   idle_timeout   = 30s                 close connections idle this long
//   max_connections= 512                 at the limit the longest-idle one is closed
//   source_rate    = 100                 reports per second per source (0: unlimited)
//   source_burst   = 1000                token-bucket depth per source
//   max_bad_lines  = 100                 bad lines before a connection is closed
//   dns_ttl        = 5m                  $TTL and SOA times of the published zones
//   dns_ns         = localhost           $NS and SOA origin
//   dns_hostmaster = hostmaster.localhost
//   answer         = virus=127.0.0.4 trap=127.0.0.3   black-list A value per
//                                        category, first match wins (default 127.0.0.2)
//   txt            = $ reported by {reporters} exigrey reporter{s} since {since}
//                                        black-list TXT template (rbldnsd_zone.h); '#'
//                                        only inside a word (after a blank it is a comment)
//   sync           = meta                full | meta | none (store_options.h)
//   map_size       = 1G
//   log            = auto                auto | stderr | syslog (auto: stderr unless
//                                        it is closed or /dev/null, then syslog)
//   log_level      = info                error | warning | info | debug
//   user           = exigrey             after binding and reading keys/TLS as root,
//   group          = exigrey             run as this user (group: its primary one)
//
// Errors: UsageError, whose message starts with "<origin>:<line>:" for the
// file and names the flag for flags. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/dns_zone.h"
#include "exigrey/endpoint.h"
#include "exigrey/ip_network.h"
#include "exigrey/log_settings.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation_policy.h"
#include "exigrey/store_options.h"

namespace exigrey {

inline constexpr std::size_t kMaxCollectConfigBytes = 1024 * 1024;
// Record changes held for the name server (about 250 bytes each).
inline constexpr std::size_t kDefaultDnsBacklog = 200'000;

struct ListenerLimits {
  std::size_t max_line = 512;         // bytes per line, without "\n"
  std::int64_t idle_timeout = 30;     // seconds without a complete line
  std::size_t max_connections = 512;  // open plain connections
  std::uint32_t source_rate = 100;    // reports/s per source; 0 = unlimited
  std::uint32_t source_burst = 1000;  // bucket depth
  std::size_t max_bad_lines = 100;    // per connection
  friend bool operator==(const ListenerLimits&, const ListenerLimits&) = default;
};

struct CollectConfig {
  std::string plain;      // endpoint text (endpoint.h, kAddress); empty: no plain listener
  std::string signed_at;  // endpoint text; empty: no signed listener
  std::string keys_file;  // reporters' secrets; required with signed_at
  std::string tls_cert;   // with tls_key: the signed listener speaks TLS
  std::string tls_key;
  std::string metrics;  // endpoint text; empty: no metrics listener
  std::string web;      // endpoint text; empty: no lookup page
  std::string list_name = "exigrey";
  std::string removal_text;         // the operator's "how to get removed"
  std::size_t max_requests = 1000;  // removal requests stored at most
  std::string state_dir;
  std::string rbldnsd_dir;      // empty: no rbldnsd files (dns_primary must be set)
  unsigned rbldnsd_shards = 1;  // parts per file (1..kMaxShards)
  std::string dns_primary;      // endpoint text; empty: no DNS UPDATEs
  std::string dns_key;          // TSIG key file, required with dns_primary
  DnsZoneNames dns_zones;
  std::vector<std::string> dns_notify;           // endpoint texts: secondaries told at once
  std::size_t dns_backlog = kDefaultDnsBacklog;  // pending record changes; beyond: compare whole
  NetworkSet allow = default_allow();
  ListingPolicy policy;
  ListenerLimits limits;
  ZoneOptions zone;
  StoreOptions store{
      .sync = SyncMode::kMeta, .map_size = std::uint64_t{1} << 30, .read_only = false};
  LogTarget log = LogTarget::kAuto;
  LogLevel log_level = LogLevel::kInfo;
  std::string user;   // empty: keep the starting user (exigrey-collect(8), --user)
  std::string group;  // empty: the user's primary group

  static NetworkSet default_allow();
  friend bool operator==(const CollectConfig&, const CollectConfig&) = default;
};

// One setting as the table in collect_config.cpp defines it: that table is
// the only list of settings; parsing, the flags, --check-config, reloads and
// the test against the manual page all read it.
struct CollectSetting {
  std::string_view key;   // "min_reporters" (flag: --min-reporters)
  std::string_view help;  // one line for --help
  bool list = false;      // blank/comma-separated items; repeated keys append
  bool restart = false;   // SIGHUP keeps the running value (restart to apply)
};

// Every setting, in documentation order.
const std::vector<CollectSetting>& collect_settings();
// Their keys, in the same order.
const std::vector<std::string_view>& collect_setting_keys();

// The value of one setting as the settings file would write it ("none" for
// an unset endpoint or path). Throws UsageError for an unknown key.
std::string show_collect_setting(const CollectConfig& cfg, std::string_view key);

// Every setting as `key = value` lines (--check-config).
std::string describe_collect_config(const CollectConfig& cfg);

// Applies one setting to `cfg` (a list setting appends when `append`,
// otherwise replaces). Throws UsageError naming `key`.
void apply_collect_setting(CollectConfig& cfg, std::string_view key, std::string_view value,
                           bool append = false);

// Parses a settings file's text on top of `base`. `origin` names it in errors.
CollectConfig parse_collect_config(std::string_view text, std::string_view origin,
                                   CollectConfig base = {});

// Reads a settings file (it must exist). Throws UsageError.
std::string read_collect_config_file(const std::string& path);

// Cross-setting checks once everything is applied (state and rbldnsd_dir set,
// policy and zone bounds). Throws UsageError.
void check_collect_config(const CollectConfig& cfg);

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/config.h: the settings file shared by the Exim plugin and the tools.
//
// One file, /etc/exigrey/exigrey.conf by default (the environment variable
// EXIGREY_CONFIG names another one), of `key = value` lines:
//
//   # comments start with '#' at the start of a line or after a blank
//   directory = /var/spool/exim4/grey   # where named DBs live (default: Exim's
//                                       # $spool_directory/grey)
//   sync      = precious                # precious | meta | full | none (store_options.h)
//   map_size  = 4G                      # bytes or K/M/G/T (at least 64K)
//   fail_open = no                      # yes | no | true | false
//   log       = none                    # none | defers | decisions
//   boot_id_file = /proc/sys/kernel/random/boot_id   # tells a crash from a clean stop
//   peers     = /etc/exigrey/peers      # share greylisting with the site's other MX hosts
//
// Blank lines are ignored; blanks around keys and values are trimmed. An
// unknown key, a repeated key, a line without '=', or a bad value is a
// UsageError whose message starts with "<file>:<line>:" and says what is
// accepted. A missing file means all defaults; a file that exists but cannot
// be read is a UsageError. Files over kMaxConfigBytes are refused.
//
// Thread and process safety: pure functions apart from reading the file;
// callers that want caching keep the Config themselves.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "exigrey/store_options.h"

namespace exigrey {

inline constexpr std::string_view kDefaultConfigPath = "/etc/exigrey/exigrey.conf";
inline constexpr const char* kConfigPathEnv = "EXIGREY_CONFIG";
inline constexpr std::size_t kMaxConfigBytes = 64 * 1024;

// Which greylist decisions the plugin writes to Exim's main log.
enum class DecisionLog {
  kNone,       // none: no decision lines (errors are always logged by Exim)
  kDefers,     // defers: one line per "greylisted" verdict
  kDecisions,  // decisions: one line per decision
};

std::string_view to_string(DecisionLog log) noexcept;

struct Config {
  // Directory of the named DBs; empty means Exim's $spool_directory/grey.
  // When set it must be an absolute path.
  std::string directory;
  // sync and map_size for every store the plugin opens (read_only is never set here).
  StoreOptions store;
  // Store errors give the pass verdict plus a log line instead of an Exim error.
  bool fail_open = false;
  DecisionLog log = DecisionLog::kNone;
  // The peers file (peers_file.h); set means every decision that writes logs
  // its record for the other MX hosts (store.peer_log). The plugin never
  // reads the file; exigrey-forward does.
  std::string peers_file;

  friend bool operator==(const Config& a, const Config& b) {
    return a.directory == b.directory && a.store.sync == b.store.sync &&
           a.store.map_size == b.store.map_size && a.store.read_only == b.store.read_only &&
           a.store.boot_id_file == b.store.boot_id_file && a.store.peer_log == b.store.peer_log &&
           a.fail_open == b.fail_open && a.log == b.log && a.peers_file == b.peers_file;
  }
};

// Parses the text of a settings file. `origin` names it in error messages.
Config parse_config(std::string_view text, std::string_view origin);

// Reads and parses `path`. A missing file yields the defaults.
Config load_config(const std::string& path);

// The settings file to use: $EXIGREY_CONFIG if set and non-empty, else the default.
std::string config_path();

}  // namespace exigrey

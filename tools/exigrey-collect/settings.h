// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/settings.h: the collector's configuration from its
// settings file and its flags (flags win), read at start and on SIGHUP.
//
// Every setting of collect_config.h is a flag: `--min-reporters 1` sets
// min_reporters. List flags (--allow, --whitelist) may be repeated and
// replace the file's list. Thread safety: plain values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "exigrey/collect_config.h"

namespace exigrey::collect {

struct CommandLine {
  std::string config_file;                     // empty: no settings file
  std::map<std::string, std::string> scalars;  // key -> value, as given
  std::map<std::string, std::vector<std::string>> lists;
};

// The flag that sets `key` ("min_reporters" -> "--min-reporters").
std::string flag_of(std::string_view key);

// Reads the file (if any; else starts from `base`), applies the flags. Does
// not check completeness (check_collect_config does). Throws UsageError
// naming the file line or flag.
CollectConfig load_settings(const CommandLine& cmd, CollectConfig base = {});

}  // namespace exigrey::collect

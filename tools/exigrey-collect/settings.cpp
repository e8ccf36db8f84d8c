// SPDX-License-Identifier: GPL-2.0-or-later
#include "settings.h"

#include <fmt/format.h>

#include "exigrey/error.h"

namespace exigrey::collect {

std::string flag_of(std::string_view key) {
  std::string flag = "--";
  for (char c : key) flag.push_back(c == '_' ? '-' : c);
  return flag;
}

CollectConfig load_settings(const CommandLine& cmd, CollectConfig base) {
  CollectConfig cfg = std::move(base);
  if (!cmd.config_file.empty()) {
    cfg = parse_collect_config(read_collect_config_file(cmd.config_file), cmd.config_file);
  }
  auto apply = [&](const std::string& key, const std::string& value, bool append) {
    try {
      apply_collect_setting(cfg, key, value, append);
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("exigrey-collect: {}: {}", flag_of(key), e.what()));
    }
  };
  for (const auto& [key, value] : cmd.scalars) apply(key, value, false);
  for (const auto& [key, values] : cmd.lists) {
    bool first = true;
    for (const std::string& v : values) {
      apply(key, v, !first);
      first = false;
    }
  }
  return cfg;
}

}  // namespace exigrey::collect

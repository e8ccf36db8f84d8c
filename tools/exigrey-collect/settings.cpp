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

daemon::LogLevel log_level_of(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kError:
      return daemon::LogLevel::kError;
    case LogLevel::kWarning:
      return daemon::LogLevel::kWarning;
    case LogLevel::kInfo:
      return daemon::LogLevel::kInfo;
    case LogLevel::kDebug:
      return daemon::LogLevel::kDebug;
  }
  return daemon::LogLevel::kInfo;
}

daemon::LogTarget log_target_of(LogTarget target) noexcept {
  switch (target) {
    case LogTarget::kSyslog:
      return daemon::LogTarget::kSyslog;
    case LogTarget::kStderr:
      return daemon::LogTarget::kStderr;
    case LogTarget::kAuto:
      break;
  }
  return daemon::auto_log_target();
}

}  // namespace exigrey::collect

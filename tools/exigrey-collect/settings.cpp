#include "settings.h"

#include <fmt/format.h>

#include "exigrey/error.h"

namespace exigrey::collect {
namespace {

std::string join_networks(const NetworkSet& set) {
  std::string out;
  for (const Cidr& c : set.networks()) {
    if (!out.empty()) out += ' ';
    out += c.to_string();
  }
  return out;
}

}  // namespace

std::string flag_of(std::string_view key) {
  std::string flag = "--";
  for (char c : key) flag.push_back(c == '_' ? '-' : c);
  return flag;
}

CollectConfig load_settings(const CommandLine& cmd) {
  CollectConfig cfg;
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

std::string describe(const CollectConfig& c) {
  std::string whitelist = join_networks(c.policy.whitelist_networks);
  for (const std::string& d : c.policy.whitelist_domains) {
    if (!whitelist.empty()) whitelist += ' ';
    whitelist += d;
  }
  return fmt::format(
      "plain = {}\nmetrics = {}\nstate = {}\nrbldnsd_dir = {}\nallow = {}\n"
      "min_reporters = {}\nttl = {}\ndecay = {}\nwhitelist = {}\nmax_line = {}\n"
      "idle_timeout = {}\nmax_connections = {}\nsource_rate = {}\nsource_burst = {}\n"
      "max_bad_lines = {}\ndns_ttl = {}\ndns_ns = {}\ndns_hostmaster = {}\nsync = {}\n"
      "map_size = {}\nlog = {}\nlog_level = {}\nuser = {}\ngroup = {}\n",
      c.plain.empty() ? "none" : c.plain, c.metrics.empty() ? "none" : c.metrics, c.state_dir,
      c.rbldnsd_dir, join_networks(c.allow), c.policy.min_reporters, c.policy.ttl, c.policy.decay,
      whitelist, c.limits.max_line, c.limits.idle_timeout, c.limits.max_connections,
      c.limits.source_rate, c.limits.source_burst, c.limits.max_bad_lines, c.zone.ttl, c.zone.ns,
      c.zone.hostmaster, to_string(c.store.sync), c.store.map_size,
      c.log == LogTarget::kSyslog   ? "syslog"
      : c.log == LogTarget::kStderr ? "stderr"
                                    : "auto",
      to_string(c.log_level),
      c.user.empty() ? "none" : c.user, c.group.empty() ? "none" : c.group);
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
    case LogTarget::kSyslog: return daemon::LogTarget::kSyslog;
    case LogTarget::kStderr: return daemon::LogTarget::kStderr;
    case LogTarget::kAuto: break;
  }
  return daemon::auto_log_target();
}

}  // namespace exigrey::collect

#include "exigrey/collect_config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>

#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/plain_line.h"
#include "settings_text.h"

namespace exigrey {
namespace {

using detail::is_blank;
using detail::strip_comment;
using detail::trim;

std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (is_blank(v[i]) || v[i] == ',')) ++i;
    std::size_t j = i;
    while (j < v.size() && !is_blank(v[j]) && v[j] != ',') ++j;
    if (j > i) out.push_back(v.substr(i, j - i));
    i = j;
  }
  return out;
}

[[noreturn]] void bad(std::string_view key, std::string_view value, std::string_view hint) {
  throw UsageError(fmt::format("invalid {} {:?} ({})", key, value.substr(0, 80), hint));
}

template <typename T>
T parse_uint(std::string_view key, std::string_view value, T min, T max) {
  T out{};
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || out < min ||
      out > max) {
    bad(key, value, fmt::format("use a whole number from {} to {}", min, max));
  }
  return out;
}

std::int64_t parse_seconds(std::string_view key, std::string_view value, std::int64_t min,
                           std::int64_t max) {
  std::int64_t s = 0;
  try {
    s = parse_duration(value, key);
  } catch (const UsageError&) {
    bad(key, value, "use seconds or units such as 30s, 10m, 12h, 1d");
  }
  if (s < min || s > max) {
    bad(key, value, fmt::format("must be from {}s to {}s", min, max));
  }
  return s;
}

std::string endpoint_text(std::string_view key, std::string_view value) {
  if (value.empty() || value == "none" || value == "off") return {};
  return parse_endpoint(value, key).to_string();
}

std::string absolute_dir(std::string_view key, std::string_view value) {
  if (value.empty() || value.front() != '/') bad(key, value, "use an absolute path");
  std::string dir(value);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

enum class Key {
  kPlain,
  kSigned,
  kKeys,
  kTlsCert,
  kTlsKey,
  kMetrics,
  kState,
  kRbldnsdDir,
  kAllow,
  kMinReporters,
  kTtl,
  kDecay,
  kWhitelist,
  kMaxLine,
  kIdleTimeout,
  kMaxConnections,
  kSourceRate,
  kSourceBurst,
  kMaxBadLines,
  kDnsTtl,
  kDnsNs,
  kDnsHostmaster,
  kSync,
  kMapSize,
  kLog,
  kLogLevel,
  kUser,
  kGroup,
};

const std::map<std::string_view, Key, std::less<>>& key_table() {
  static const std::map<std::string_view, Key, std::less<>> table = {
      {"plain", Key::kPlain},
      {"signed", Key::kSigned},
      {"keys", Key::kKeys},
      {"tls_cert", Key::kTlsCert},
      {"tls_key", Key::kTlsKey},
      {"metrics", Key::kMetrics},
      {"state", Key::kState},
      {"rbldnsd_dir", Key::kRbldnsdDir},
      {"allow", Key::kAllow},
      {"min_reporters", Key::kMinReporters},
      {"ttl", Key::kTtl},
      {"decay", Key::kDecay},
      {"whitelist", Key::kWhitelist},
      {"max_line", Key::kMaxLine},
      {"idle_timeout", Key::kIdleTimeout},
      {"max_connections", Key::kMaxConnections},
      {"source_rate", Key::kSourceRate},
      {"source_burst", Key::kSourceBurst},
      {"max_bad_lines", Key::kMaxBadLines},
      {"dns_ttl", Key::kDnsTtl},
      {"dns_ns", Key::kDnsNs},
      {"dns_hostmaster", Key::kDnsHostmaster},
      {"sync", Key::kSync},
      {"map_size", Key::kMapSize},
      {"log", Key::kLog},
      {"log_level", Key::kLogLevel},
      {"user", Key::kUser},
      {"group", Key::kGroup},
  };
  return table;
}

bool is_list(Key k) { return k == Key::kAllow || k == Key::kWhitelist; }

}  // namespace

std::string Endpoint::to_string() const {
  if (address.v6) return fmt::format("[{}]:{}", address.to_string(), port);
  return fmt::format("{}:{}", address.to_string(), port);
}

Endpoint parse_endpoint(std::string_view text, std::string_view what) {
  auto fail = [&]() -> Endpoint {
    throw UsageError(
        fmt::format("invalid {} {:?} (use ADDR:PORT such as 127.0.0.1:2525 or "
                    "[::1]:2525)",
                    what, text.substr(0, 80)));
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return fail();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail();  // IPv6 needs brackets
  }
  const auto addr = parse_ip(host);
  std::uint16_t p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (!addr || port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0) {
    return fail();
  }
  return Endpoint{*addr, p};
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

NetworkSet CollectConfig::default_allow() {
  return NetworkSet({parse_cidr("127.0.0.0/8"), parse_cidr("::1")});
}

const std::vector<std::string_view>& collect_setting_keys() {
  static const std::vector<std::string_view> keys = {
      "plain",       "signed",         "keys",          "tls_cert",      "tls_key",
      "metrics",     "state",          "rbldnsd_dir",
      "allow",       "min_reporters",  "ttl",           "decay",
      "whitelist",   "max_line",       "idle_timeout",  "max_connections",
      "source_rate", "source_burst",   "max_bad_lines", "dns_ttl",
      "dns_ns",      "dns_hostmaster", "sync",          "map_size",
      "log",         "log_level",      "user",          "group"};
  return keys;
}

void apply_collect_setting(CollectConfig& cfg, std::string_view key, std::string_view value,
                           bool append) {
  const auto it = key_table().find(key);
  if (it == key_table().end()) {
    throw UsageError(
        fmt::format("unknown setting {:?} (see exigrey-collect(8))", key.substr(0, 80)));
  }
  value = trim(value);
  switch (it->second) {
    case Key::kPlain:
      cfg.plain = endpoint_text(key, value);
      break;
    case Key::kSigned:
      cfg.signed_at = endpoint_text(key, value);
      break;
    case Key::kKeys:
      if (value.empty() || value.front() != '/') {
        throw UsageError(fmt::format("{}: the keys file must be an absolute path", key));
      }
      cfg.keys_file = std::string(value);
      break;
    case Key::kTlsCert:
    case Key::kTlsKey:
      if (value.empty() || value.front() != '/') {
        throw UsageError(fmt::format("{}: must be an absolute path", key));
      }
      (it->second == Key::kTlsCert ? cfg.tls_cert : cfg.tls_key) = std::string(value);
      break;
    case Key::kMetrics:
      cfg.metrics = endpoint_text(key, value);
      break;
    case Key::kState:
      cfg.state_dir = absolute_dir(key, value);
      break;
    case Key::kRbldnsdDir:
      cfg.rbldnsd_dir = absolute_dir(key, value);
      break;
    case Key::kAllow: {
      NetworkSet set = append ? cfg.allow : NetworkSet{};
      for (std::string_view item : split_list(value)) {
        try {
          set.add(parse_cidr(item));
        } catch (const UsageError& e) {
          throw UsageError(fmt::format("allow: {}", e.what()));
        }
      }
      cfg.allow = std::move(set);
      break;
    }
    case Key::kWhitelist: {
      if (!append) {
        cfg.policy.whitelist_networks = NetworkSet{};
        cfg.policy.whitelist_domains.clear();
      }
      for (std::string_view item : split_list(value)) {
        if (parse_ip(item.substr(0, item.find('/'))).has_value()) {
          try {
            cfg.policy.whitelist_networks.add(parse_cidr(item));
          } catch (const UsageError& e) {
            throw UsageError(fmt::format("whitelist: {}", e.what()));
          }
          continue;
        }
        Subject s{SubjectKind::kDomain, {}};
        try {
          s = parse_subject(item);
        } catch (const UsageError&) {
          bad(key, item, "use networks such as 192.0.2.0/24 and domain names");
        }
        if (s.kind != SubjectKind::kDomain) {
          bad(key, item, "use networks such as 192.0.2.0/24 and domain names");
        }
        cfg.policy.whitelist_domains.push_back(s.text);
      }
      break;
    }
    case Key::kMinReporters:
      cfg.policy.min_reporters =
          parse_uint<unsigned>(key, value, 1, static_cast<unsigned>(kMaxVotesPerSubject));
      break;
    case Key::kTtl:
      cfg.policy.ttl = parse_seconds(key, value, 1, 365 * 86400);
      break;
    case Key::kDecay:
      cfg.policy.decay = parse_seconds(key, value, 0, 365 * 86400);
      break;
    case Key::kMaxLine:
      cfg.limits.max_line = parse_uint<std::size_t>(key, value, 64, kMaxPlainLineLimit);
      break;
    case Key::kIdleTimeout:
      cfg.limits.idle_timeout = parse_seconds(key, value, 1, 86400);
      break;
    case Key::kMaxConnections:
      cfg.limits.max_connections = parse_uint<std::size_t>(key, value, 1, 100000);
      break;
    case Key::kSourceRate:
      cfg.limits.source_rate = parse_uint<std::uint32_t>(key, value, 0, 10'000'000);
      break;
    case Key::kSourceBurst:
      cfg.limits.source_burst = parse_uint<std::uint32_t>(key, value, 1, 100'000'000);
      break;
    case Key::kMaxBadLines:
      cfg.limits.max_bad_lines = parse_uint<std::size_t>(key, value, 1, 1'000'000);
      break;
    case Key::kDnsTtl:
      cfg.zone.ttl = parse_seconds(key, value, 1, 7 * 86400);
      break;
    case Key::kDnsNs:
    case Key::kDnsHostmaster: {
      Subject s{SubjectKind::kDomain, {}};
      try {
        s = parse_subject(value);
      } catch (const UsageError&) {
        bad(key, value, "use a DNS name");
      }
      if (s.kind != SubjectKind::kDomain) bad(key, value, "use a DNS name");
      (it->second == Key::kDnsNs ? cfg.zone.ns : cfg.zone.hostmaster) = s.text;
      break;
    }
    case Key::kSync:
      // `precious` is the greylist stores' mode (a keep file of whitelist
      // entries); the collector's store has no such split.
      try {
        cfg.store.sync = parse_sync_mode(value);
      } catch (const UsageError&) {
        bad(key, value, "use full, meta or none");
      }
      if (cfg.store.sync == SyncMode::kPrecious) bad(key, value, "use full, meta or none");
      break;
    case Key::kMapSize: {
      std::uint64_t size = 0;
      try {
        size = parse_size(value, "map_size");
      } catch (const UsageError&) {
        bad(key, value, "use bytes or a size such as 512M, 4G");
      }
      if (size < kMinMapSize) bad(key, value, "at least 64K");
      cfg.store.map_size = size;
      break;
    }
    case Key::kLog:
      if (value == "auto") {
        cfg.log = LogTarget::kAuto;
      } else if (value == "stderr") {
        cfg.log = LogTarget::kStderr;
      } else if (value == "syslog") {
        cfg.log = LogTarget::kSyslog;
      } else {
        bad(key, value, "use auto, stderr or syslog");
      }
      break;
    case Key::kUser:
    case Key::kGroup: {
      // A name as useradd(8) accepts it; "none" (or empty) means: do not switch.
      const bool ok = !value.empty() && value.size() <= 64 && value.front() != '-' &&
                      value.find_first_not_of(
                          "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$") == std::string_view::npos;
      if (value == "none" || value.empty()) {
        (it->second == Key::kUser ? cfg.user : cfg.group).clear();
      } else if (!ok) {
        bad(key, value,
            it->second == Key::kUser ? "use a user name such as exigrey"
                                     : "use a group name such as exigrey");
      } else {
        (it->second == Key::kUser ? cfg.user : cfg.group) = std::string(value);
      }
      break;
    }
    case Key::kLogLevel:
      if (value == "error") {
        cfg.log_level = LogLevel::kError;
      } else if (value == "warning") {
        cfg.log_level = LogLevel::kWarning;
      } else if (value == "info") {
        cfg.log_level = LogLevel::kInfo;
      } else if (value == "debug") {
        cfg.log_level = LogLevel::kDebug;
      } else {
        bad(key, value, "use error, warning, info or debug");
      }
      break;
  }
}

CollectConfig parse_collect_config(std::string_view text, std::string_view origin,
                                   CollectConfig base) {
  if (text.size() > kMaxCollectConfigBytes) {
    throw UsageError(fmt::format("exigrey-collect: {}: settings file is larger than {} bytes",
                                 origin, kMaxCollectConfigBytes));
  }
  CollectConfig cfg = std::move(base);
  std::map<std::string, std::size_t, std::less<>> first_line;
  std::map<std::string, bool, std::less<>> list_started;
  std::size_t lineno = 0;
  while (!text.empty()) {
    ++lineno;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto fail = [&](const std::string& what) {
      throw UsageError(fmt::format("exigrey-collect: {}:{}: {}", origin, lineno, what));
    };
    if (line.find('\0') != std::string_view::npos) fail("NUL byte in the settings file");
    line = trim(strip_comment(line));
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      fail(fmt::format("expected 'key = value', got {:?}", line.substr(0, 80)));
    }
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    const auto known = key_table().find(key);
    if (known == key_table().end()) {
      fail(fmt::format("unknown setting {:?} (see exigrey-collect(8))", key.substr(0, 80)));
    }
    const bool list = is_list(known->second);
    if (!list) {
      const auto [pos, fresh] = first_line.emplace(std::string(key), lineno);
      if (!fresh) fail(fmt::format("{} is set twice (first on line {})", key, pos->second));
      if (value.empty()) fail(fmt::format("{} has no value", key));
    }
    // The first occurrence of a list key replaces the base's list; later ones append.
    const bool append = list && list_started.contains(key);
    if (list) list_started[std::string(key)] = true;
    try {
      apply_collect_setting(cfg, key, value, append);
    } catch (const UsageError& e) {
      fail(e.what());
    }
  }
  return cfg;
}

std::string read_collect_config_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw UsageError(fmt::format("exigrey-collect: cannot read settings file {}: {}", path,
                                 std::strerror(errno)));
  }
  std::string text;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw UsageError(fmt::format("exigrey-collect: cannot read settings file {}: {}", path,
                                   std::strerror(err)));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxCollectConfigBytes) break;  // parse_collect_config reports it
  }
  ::close(fd);
  return text;
}

void check_collect_config(const CollectConfig& cfg) {
  if (cfg.state_dir.empty()) {
    throw UsageError("exigrey-collect: no state directory (set state or --state DIR)");
  }
  if (cfg.rbldnsd_dir.empty()) {
    throw UsageError(
        "exigrey-collect: no rbldnsd directory (set rbldnsd_dir or --rbldnsd-dir DIR)");
  }
  if (cfg.plain.empty() && cfg.signed_at.empty()) {
    throw UsageError(
        "exigrey-collect: no listener (set plain or --plain ADDR:PORT, or signed and keys)");
  }
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    throw UsageError("exigrey-collect: tls_cert and tls_key go together");
  }
  if (!cfg.signed_at.empty() && cfg.keys_file.empty()) {
    throw UsageError("exigrey-collect: signed needs a keys file (set keys or --keys FILE)");
  }
  if (!cfg.group.empty() && cfg.user.empty()) {
    throw UsageError("exigrey-collect: group needs user (set user or --user NAME)");
  }
  check_policy(cfg.policy);
  check_zone_options(cfg.zone);
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "exigrey/error.h"
#include "exigrey/fd.h"
#include "settings_text.h"

namespace exigrey {
namespace {

using detail::for_each_setting;

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "yes" || v == "true") return true;
  if (v == "no" || v == "false") return false;
  return std::nullopt;
}

std::optional<DecisionLog> parse_log(std::string_view v) {
  if (v == "none") return DecisionLog::kNone;
  if (v == "defers") return DecisionLog::kDefers;
  if (v == "decisions") return DecisionLog::kDecisions;
  return std::nullopt;
}

enum class Key { kDirectory, kSync, kMapSize, kFailOpen, kLog, kBootIdFile, kPeers, kCount };

std::optional<Key> parse_key(std::string_view k) {
  if (k == "directory") return Key::kDirectory;
  if (k == "sync") return Key::kSync;
  if (k == "map_size") return Key::kMapSize;
  if (k == "fail_open") return Key::kFailOpen;
  if (k == "log") return Key::kLog;
  if (k == "boot_id_file") return Key::kBootIdFile;
  if (k == "peers") return Key::kPeers;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(DecisionLog log) noexcept {
  switch (log) {
    case DecisionLog::kNone:
      return "none";
    case DecisionLog::kDefers:
      return "defers";
    case DecisionLog::kDecisions:
      return "decisions";
  }
  return "?";
}

Config parse_config(std::string_view text, std::string_view origin) {
  if (text.size() > kMaxConfigBytes) {
    throw UsageError(
        fmt::format("exigrey: {}: settings file is larger than {} bytes", origin, kMaxConfigBytes));
  }
  Config cfg;
  std::array<std::size_t, static_cast<std::size_t>(Key::kCount)> seen_on{};
  auto fail_at = [&](std::size_t lineno, const std::string& what) {
    throw UsageError(fmt::format("exigrey: {}:{}: {}", origin, lineno, what));
  };
  for_each_setting(
      text,
      [&](std::size_t lineno, std::string_view name, std::string_view value) {
        auto fail = [&](const std::string& what) { fail_at(lineno, what); };
        const auto key = parse_key(name);
        if (!key) {
          fail(
              fmt::format("unknown setting {:?} (known: directory, sync, map_size, fail_open, log, "
                          "boot_id_file, peers)",
                          name));
        }
        auto& first = seen_on[static_cast<std::size_t>(*key)];
        if (first != 0) fail(fmt::format("{} is set twice (first on line {})", name, first));
        first = lineno;
        if (value.empty()) fail(fmt::format("{} has no value", name));

        switch (*key) {
          case Key::kDirectory:
            if (value.front() != '/') {
              fail(fmt::format("directory {:?} must be an absolute path", value));
            }
            cfg.directory = std::string(value);
            break;
          case Key::kSync:
            if (value != "full" && value != "meta" && value != "none" && value != "precious") {
              fail(fmt::format("invalid sync {:?} (use precious, meta, full or none)", value));
            }
            cfg.store.sync = parse_sync_mode(value);
            break;
          case Key::kMapSize: {
            std::uint64_t size = 0;
            try {
              size = parse_size(value, "map_size");
            } catch (const UsageError&) {
              fail(fmt::format("invalid map_size {:?} (use bytes or a size such as 512M, 4G)",
                               value));
            }
            if (size < kMinMapSize) {
              fail(fmt::format("map_size {:?} is below the minimum 64K", value));
            }
            cfg.store.map_size = size;
            break;
          }
          case Key::kFailOpen: {
            const auto b = parse_bool(value);
            if (!b) fail(fmt::format("invalid fail_open {:?} (use yes or no)", value));
            cfg.fail_open = *b;
            break;
          }
          case Key::kLog: {
            const auto l = parse_log(value);
            if (!l) fail(fmt::format("invalid log {:?} (use none, defers or decisions)", value));
            cfg.log = *l;
            break;
          }
          case Key::kBootIdFile:
            if (value.front() != '/') {
              fail(fmt::format("boot_id_file {:?} must be an absolute path", value));
            }
            cfg.store.boot_id_file = std::string(value);
            break;
          case Key::kPeers:
            if (value.front() != '/')
              fail(fmt::format("peers {:?} must be an absolute path", value));
            cfg.peers_file = std::string(value);
            cfg.store.peer_log = true;
            break;
          case Key::kCount:
            break;
        }
      },
      fail_at);
  return cfg;
}

Config load_config(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT) return Config{};  // no file: every setting has its default
    throw UsageError(
        fmt::format("exigrey: cannot read settings file {}: {} (it must be "
                    "readable by the Exim user)",
                    path, std::strerror(err)));
  }
  std::string text;
  // Beyond the limit parse_config reports it.
  if (const int err = read_all(fd.get(), kMaxConfigBytes, &text); err != 0) {
    throw UsageError(
        fmt::format("exigrey: cannot read settings file {}: {}", path, std::strerror(err)));
  }
  return parse_config(text, path);
}

std::string config_path() {
  const char* env = std::getenv(kConfigPathEnv);
  if (env != nullptr && *env != '\0') return env;
  return std::string(kDefaultConfigPath);
}

}  // namespace exigrey

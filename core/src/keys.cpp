// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/keys.h"

#include <fmt/format.h>

#include "exigrey/batch.h"
#include "exigrey/error.h"
#include "exigrey/secret_file.h"
#include "settings_text.h"

namespace exigrey {
namespace {

constexpr std::size_t kMaxKeysFile = 1024 * 1024;

}  // namespace

KeyRing parse_keys(std::string_view text, std::string_view origin) {
  KeyRing keys;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      throw UsageError(fmt::format("{}:{}: expected 'ID SECRET'", origin, number));
    }
    const std::string_view id = line.substr(0, sp);
    const std::string_view secret = trim(line.substr(sp));
    if (secret.find_first_of(" \t") != std::string_view::npos) {
      throw UsageError(
          fmt::format("{}:{}: expected 'ID SECRET', found more fields", origin, number));
    }
    try {
      check_reporter_id(id);
      check_secret(secret);
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}:{}: {}", origin, number, e.what()));
    }
    if (!keys.emplace(std::string(id), std::string(secret)).second) {
      throw UsageError(fmt::format("{}:{}: reporter {} listed twice", origin, number, id));
    }
  }
  return keys;
}

KeyRing load_keys(const std::string& path) {
  return parse_keys(read_secret_file(path, "keys file", kMaxKeysFile), path);
}

}  // namespace exigrey

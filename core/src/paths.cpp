// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/paths.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "exigrey/error.h"
#include "exigrey/outbox.h"

namespace exigrey {
namespace {

constexpr std::string_view kReservedSuffixes[] = {"-lock", ".keep", ".state", ".suspect",
                                                  ".recover"};

bool reserved(std::string_view name) {
  for (const std::string_view s : kReservedSuffixes) {
    if (name.ends_with(s)) return true;
  }
  return false;
}

}  // namespace

std::string resolve_db_path(std::string_view db, std::string_view grey_dir) {
  if (db.empty()) {
    throw UsageError("exigrey: empty DB name (omit the argument for the default \"seen\")");
  }
  if (db.find('\0') != std::string_view::npos) {
    throw UsageError("exigrey: DB name contains a NUL byte");
  }
  if (db.front() == '/' || db.starts_with("./")) return std::string(db);
  if (db.find('/') != std::string_view::npos || db == "." || db == "..") {
    throw UsageError(fmt::format(
        "exigrey: invalid DB name {:?} (use a plain name, an absolute path or ./path)", db));
  }
  if (reserved(db)) {
    throw UsageError(fmt::format(
        "exigrey: invalid DB name {:?}: names ending in -lock, .keep, .state, .suspect or "
        ".recover are a store's own files",
        db));
  }
  std::string path(grey_dir);
  if (!path.empty() && path.back() != '/') path += '/';
  path += db;
  return path;
}

}  // namespace exigrey

namespace exigrey {

std::vector<std::string> stores_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (reserved(name) || name == kOutboxName || !entry.is_regular_file(ec)) continue;
    const std::string path = entry.path().string();
    if (std::filesystem::exists(path + "-lock", ec) ||
        std::filesystem::exists(path + ".state", ec)) {
      out.push_back(path);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace exigrey

#include "exigrey/paths.h"

#include <fmt/format.h>

#include "exigrey/error.h"

namespace exigrey {

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
  std::string path(grey_dir);
  if (!path.empty() && path.back() != '/') path += '/';
  path += db;
  return path;
}

}  // namespace exigrey

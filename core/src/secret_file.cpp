// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/secret_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exigrey/error.h"
#include "exigrey/fd.h"

namespace exigrey {
std::string read_secret_file(const std::string& path, std::string_view what,
                             std::size_t max_bytes) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw UsageError(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw UsageError(fmt::format("{} {} is not a regular file", what, path));
  }
  if ((st.st_mode & 0027) != 0) {
    throw UsageError(fmt::format("{} {} is readable or writable by others: chmod 0600 (or 0640) it",
                                 what, path));
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw UsageError(fmt::format("{} {} is larger than {} bytes", what, path, max_bytes));
  }
  std::string text;
  if (const int err = read_all(fd.get(), max_bytes, &text); err != 0) {
    throw UsageError(fmt::format("cannot read {} {}: {}", what, path, std::strerror(err)));
  }
  if (text.size() > max_bytes) {
    throw UsageError(fmt::format("{} {} is larger than {} bytes", what, path, max_bytes));
  }
  return text;
}

}  // namespace exigrey

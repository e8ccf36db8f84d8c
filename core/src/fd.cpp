// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/fd.h"

#include <unistd.h>

#include <array>
#include <cerrno>

namespace exigrey {

int Fd::close() noexcept {
  if (fd_ < 0) return 0;
  // No retry on EINTR: on Linux the descriptor is gone either way.
  return ::close(release()) == 0 ? 0 : errno;
}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) (void)::close(fd_);
  fd_ = fd;
}

int read_all(int fd, std::size_t max_bytes, std::string* out) {
  std::array<char, 8192> buf;
  while (out->size() <= max_bytes) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    out->append(buf.data(), static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace exigrey

#include "exigrey/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "exigrey/error.h"

namespace exigrey {
namespace {

// Closes the descriptor whatever happens.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

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
    throw UsageError(fmt::format(
        "{} {} is readable or writable by others: chmod 0600 (or 0640) it", what, path));
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw UsageError(fmt::format("{} {} is larger than {} bytes", what, path, max_bytes));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw UsageError(fmt::format("cannot read {} {}: {}", what, path, std::strerror(errno)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      throw UsageError(fmt::format("{} {} is larger than {} bytes", what, path, max_bytes));
    }
  }
  return text;
}

}  // namespace exigrey

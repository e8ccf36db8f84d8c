// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/fd.h: one owner for a file descriptor, and one bounded read of a
// whole file, for every file core and the tools read or write by hand.
//
// Fd closes what it owns when it goes (errors of that close are lost: call
// close() where they matter, e.g. after writing a file that is renamed into
// place). read_all() retries EINTR and never returns a shorter text than
// the file has: a read error is an error.
//
// Errors: read_all and Fd::close return an errno value, 0 on success; they
// throw nothing. Thread safety: an Fd is one owner's; read_all is pure.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

namespace exigrey {

class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes now; 0 or the errno of close(2).
  int close() noexcept;
  // Closes (ignoring errors) and owns `fd` instead.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Appends the rest of `fd` to `*out`, stopping once `*out` holds more than
// `max_bytes` (so the caller can say "too long" without reading a huge
// file). Returns 0, or the errno of the failed read.
int read_all(int fd, std::size_t max_bytes, std::string* out);

}  // namespace exigrey

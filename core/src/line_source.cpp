// SPDX-License-Identifier: GPL-2.0-or-later
// Line sources for the dump importers (dump.h).
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exigrey/dump.h"
#include "exigrey/error.h"

namespace exigrey {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;

[[noreturn]] void too_long(const std::string& name, std::uint64_t line) {
  throw Error(ErrorKind::kCorrupt,
              fmt::format("exigrey: {}:{}: line longer than {} bytes", name, line, kMaxDumpLine));
}

}  // namespace

FdLineSource::FdLineSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

bool FdLineSource::fill() {
  // Drop what was returned already, then append one read.
  if (start_ > 0) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  const std::size_t old = buf_.size();
  buf_.resize(old + kReadSize);
  for (;;) {
    const ssize_t n = ::read(fd_, buf_.data() + old, kReadSize);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      buf_.resize(old);
      throw Error(ErrorKind::kStore,
                  fmt::format("exigrey: cannot read {}: {}", name_, std::strerror(err)));
    }
    buf_.resize(old + static_cast<std::size_t>(n));
    return n > 0;
  }
}

std::optional<std::string_view> FdLineSource::next() {
  for (;;) {
    const std::size_t nl = buf_.find('\n', start_ + scanned_);
    if (nl != std::string::npos) {
      const std::string_view line(buf_.data() + start_, nl - start_);
      if (line.size() > kMaxDumpLine) too_long(name_, line_ + 1);
      start_ = nl + 1;
      scanned_ = 0;
      ++line_;
      return line;
    }
    scanned_ = buf_.size() - start_;
    if (scanned_ > kMaxDumpLine) too_long(name_, line_ + 1);
    if (eof_ || !fill()) {
      eof_ = true;
      if (start_ == buf_.size()) return std::nullopt;
      // A last line without '\n'.
      const std::string_view line(buf_.data() + start_, buf_.size() - start_);
      start_ = buf_.size();
      scanned_ = 0;
      ++line_;
      return line;
    }
  }
}

StringLineSource::StringLineSource(std::string text, std::string name)
    : text_(std::move(text)), name_(std::move(name)) {}

std::optional<std::string_view> StringLineSource::next() {
  if (pos_ >= text_.size()) return std::nullopt;
  std::size_t nl = text_.find('\n', pos_);
  if (nl == std::string::npos) nl = text_.size();
  const std::string_view line(text_.data() + pos_, nl - pos_);
  if (line.size() > kMaxDumpLine) too_long(name_, line_ + 1);
  pos_ = nl + 1;
  ++line_;
  return line;
}

}  // namespace exigrey

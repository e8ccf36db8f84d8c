// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/fd.h: the descriptor owner and the bounded whole-file read.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <fstream>
#include <string>

#include "exigrey/fd.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("Fd closes what it owns once: on scope exit, reset, move and close()", "[fd]") {
  int raw = -1;
  {
    const Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    REQUIRE(fd.valid());
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));

  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  raw = a.get();
  Fd b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  CHECK(b.get() == raw);
  CHECK(is_open(raw));
  CHECK(b.close() == 0);
  CHECK_FALSE(b.valid());
  CHECK_FALSE(is_open(raw));
  CHECK(b.close() == 0);  // nothing left to close

  Fd c(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  raw = c.get();
  const int kept = c.release();
  CHECK(kept == raw);
  CHECK_FALSE(c.valid());
  CHECK(is_open(kept));
  c.reset(kept);
  c.reset();
  CHECK_FALSE(is_open(kept));
}

TEST_CASE("read_all reads a whole file, stops past the limit, and reports read errors", "[fd]") {
  test::TempDir dir;
  const std::string path = dir.file("f");
  const std::string body(20000, 'x');
  std::ofstream(path) << body;

  std::string text = "prefix:";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(read_all(fd.get(), 1 << 20, &text) == 0);
  CHECK(text == "prefix:" + body);

  // Past the limit it stops: more than max_bytes, less than the whole file.
  std::string bounded;
  fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(read_all(fd.get(), 100, &bounded) == 0);
  CHECK(bounded.size() > 100);
  CHECK(bounded.size() < body.size());

  // A directory cannot be read: the errno, never a short text taken as whole.
  std::string none;
  fd.reset(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  CHECK(read_all(fd.get(), 100, &none) == EISDIR);
  CHECK(read_all(-1, 100, &none) == EBADF);
  CHECK(none.empty());
}

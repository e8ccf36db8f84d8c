// SPDX-License-Identifier: GPL-2.0-or-later
#include "support/temp_dir.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace exigrey::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/exigrey-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  // Only the process that made it removes it (forked children exit with _exit).
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace exigrey::test

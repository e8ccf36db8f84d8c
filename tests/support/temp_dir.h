// SPDX-License-Identifier: GPL-2.0-or-later
// A temporary directory for one test case, removed with everything in it.
#pragma once

#include <string>

namespace exigrey::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace exigrey::test

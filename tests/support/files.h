// SPDX-License-Identifier: GPL-2.0-or-later
// Whole-file reads and writes for tests (bytes as they are; no error
// handling: a test checks what it read).
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace exigrey::test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace exigrey::test

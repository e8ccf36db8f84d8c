// SPDX-License-Identifier: GPL-2.0-or-later
// Shared by the fuzz targets: expected refusals are exigrey::Error (a clear
// message); anything else escaping a parser is a bug, so it aborts.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string_view>

#include "exigrey/error.h"

namespace exigrey::fuzz {

template <typename F>
void expect_only_exigrey_errors(F&& f) {
  try {
    f();
  } catch (const exigrey::Error& e) {
    // A refusal must be one line that says something.
    const std::string_view msg = e.what();
    if (msg.empty() || msg.find('\n') != std::string_view::npos) {
      std::fprintf(stderr, "bad error message: [%s]\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    std::abort();
  }
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace exigrey::fuzz

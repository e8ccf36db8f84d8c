// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the lexical rules every exigrey settings file shares
// (exigrey.conf, the collector's settings, the keys file): blanks are
// exigrey/text.h's (space, tab and a stray CR); a '#' starts a comment at
// the start of a line or after a blank, so that a value may still contain
// '#' (a directory name, say).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "exigrey/text.h"

namespace exigrey::detail {

constexpr std::string_view strip_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

// Reads "key = value" lines: for each, on_setting(lineno, key, value) with
// both trimmed (the value may be empty; the caller says whether it may).
// Blank and comment-only lines are skipped. A NUL byte or a line without
// '=' calls fail(lineno, what), which must throw; so may on_setting.
template <typename OnSetting, typename Fail>
void for_each_setting(std::string_view text, OnSetting&& on_setting, Fail&& fail) {
  std::size_t lineno = 0;
  while (!text.empty()) {
    ++lineno;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.find('\0') != std::string_view::npos) fail(lineno, "NUL byte in the settings file");
    line = trim(strip_comment(line));
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      fail(lineno, fmt::format("expected 'key = value', got {:?}", line.substr(0, 80)));
    }
    on_setting(lineno, trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
}

}  // namespace exigrey::detail

// Private to core: the lexical rules every exigrey settings file shares
// (exigrey.conf, the collector's settings, the keys file): blanks are space,
// tab and a stray CR; a '#' starts a comment at the start of a line or after
// a blank, so that a value may still contain '#' (a directory name, say).
#pragma once

#include <string_view>

namespace exigrey::detail {

constexpr bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

constexpr std::string_view strip_comment(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

}  // namespace exigrey::detail

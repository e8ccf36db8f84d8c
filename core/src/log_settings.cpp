// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/log_settings.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "exigrey/error.h"

namespace exigrey {
namespace {

template <typename E, std::size_t N>
using Words = std::array<std::pair<std::string_view, E>, N>;

constexpr Words<LogTarget, 3> kTargets = {
    {{"auto", LogTarget::kAuto}, {"stderr", LogTarget::kStderr}, {"syslog", LogTarget::kSyslog}}};
constexpr Words<LogLevel, 4> kLevels = {{{"error", LogLevel::kError},
                                         {"warning", LogLevel::kWarning},
                                         {"info", LogLevel::kInfo},
                                         {"debug", LogLevel::kDebug}}};

template <typename E, std::size_t N>
E parse_word(std::string_view text, std::string_view what, const Words<E, N>& words) {
  std::string hint;
  for (std::size_t i = 0; i < N; ++i) {
    if (text == words[i].first) return words[i].second;
    if (i > 0) hint += i + 1 == N ? " or " : ", ";
    hint += words[i].first;
  }
  throw UsageError(fmt::format("invalid {} {:?} (use {})", what, text.substr(0, 80), hint));
}

template <typename E, std::size_t N>
std::string_view word_of(E e, const Words<E, N>& words) noexcept {
  for (const auto& [word, value] : words) {
    if (value == e) return word;
  }
  return "?";
}

}  // namespace

std::string_view to_string(LogTarget target) noexcept { return word_of(target, kTargets); }
std::string_view to_string(LogLevel level) noexcept { return word_of(level, kLevels); }

LogTarget parse_log_target(std::string_view text, std::string_view what) {
  return parse_word(text, what, kTargets);
}

LogLevel parse_log_level(std::string_view text, std::string_view what) {
  return parse_word(text, what, kLevels);
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exim_stubs.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

namespace exigrey::test {
namespace {
std::vector<std::unique_ptr<char[]>>& pool() {
  static std::vector<std::unique_ptr<char[]>> p;
  return p;
}

std::string vformat(const char* format, va_list ap) {
  va_list again;
  va_copy(again, ap);
  const int n = std::vsnprintf(nullptr, 0, format, ap);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, format, again);
  va_end(again);
  return out;
}
}  // namespace

EximStubs& exim_stubs() {
  static EximStubs s;
  return s;
}

void reset_exim_stubs() {
  exim_stubs() = EximStubs{};
  pool().clear();
  debug_selector = 0;
  expand_string_message = nullptr;
}

bool is_exim_memory(const void* p) {
  for (const auto& block : pool()) {
    if (block.get() == p) return true;
  }
  return false;
}

}  // namespace exigrey::test

using exigrey::test::exim_stubs;

extern "C" {

unsigned int debug_selector = 0;
unsigned char* expand_string_message = nullptr;

unsigned char* string_copy_function(const unsigned char* s) {
  const char* text = reinterpret_cast<const char*>(s);
  const std::size_t n = std::strlen(text);
  auto block = std::make_unique<char[]>(n + 1);
  std::memcpy(block.get(), text, n + 1);
  auto* out = reinterpret_cast<unsigned char*>(block.get());
  exim_stubs().copies.emplace_back(text, n);
  exigrey::test::pool().push_back(std::move(block));
  return out;
}

unsigned char* expand_string(unsigned char* s) {
  static std::string failure;
  const std::string name(reinterpret_cast<const char*>(s));
  const auto& vars = exim_stubs().variables;
  if (auto it = vars.find(name); it != vars.end()) {
    return string_copy_function(reinterpret_cast<const unsigned char*>(it->second.c_str()));
  }
  failure = "unknown variable name \"" + name.substr(1) + "\"";
  expand_string_message = reinterpret_cast<unsigned char*>(failure.data());
  return nullptr;
}

void log_write(unsigned int, int flags, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  exim_stubs().main_log.push_back(exigrey::test::vformat(format, ap));
  exim_stubs().log_flags.push_back(flags);
  va_end(ap);
}

void debug_printf(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  exim_stubs().debug_output += exigrey::test::vformat(format, ap);
  va_end(ap);
}

}  // extern "C"

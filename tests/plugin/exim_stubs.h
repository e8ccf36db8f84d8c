// SPDX-License-Identifier: GPL-2.0-or-later
// Stand-ins for the Exim functions and variables libexigrey.so uses, so that
// the harness can dlopen the real module without Exim. The harness executable
// exports them (ENABLE_EXPORTS), as the exim binary exports the real ones.
//
// Memory from string_copy_function lives until reset_exim_stubs(), as Exim's
// pool memory lives until Exim resets the pool.
#pragma once

#include <map>
#include <string>
#include <vector>

extern "C" {
extern unsigned int debug_selector;
extern unsigned char* expand_string_message;
unsigned char* string_copy_function(const unsigned char* s);
unsigned char* expand_string(unsigned char* s);
void log_write(unsigned int selector, int flags, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
void debug_printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
}

namespace exigrey::test {

struct EximStubs {
  std::map<std::string, std::string> variables;  // "$spool_directory" -> value
  std::vector<std::string> main_log;             // one entry per log_write
  std::vector<int> log_flags;
  std::string debug_output;         // everything debug_printf wrote
  std::vector<std::string> copies;  // what string_copy_function handed out
  std::vector<const void*> copy_addresses;
};

EximStubs& exim_stubs();
void reset_exim_stubs();
// True if `p` was returned by string_copy_function since the last reset.
bool is_exim_memory(const void* p);

}  // namespace exigrey::test

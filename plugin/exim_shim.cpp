// SPDX-License-Identifier: GPL-2.0-or-later
// The C ABI that Exim's ${dlfunc} calls: the only file that includes Exim's
// local_scan.h. It converts arguments, calls the Exim-free logic in
// dlfunc.cpp, copies the answer into Exim's memory and returns Exim's code.
// Nothing may escape it: every entry point catches everything.

#include <array>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dlfunc.h"

#define DLFUNC_IMPL
extern "C" {
#include <local_scan.h>
}

// local_scan.h defines short macros (OK, FAIL, US, ...): turn the codes into
// constants here and use no other macro of it below (string_copy excepted,
// which local_scan.h maps to the exported string_copy_function).
namespace {
constexpr int kEximOk = OK;
constexpr int kEximFail = FAIL;
constexpr int kLogMain = LOG_MAIN;
}  // namespace

#define EXIGREY_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using exigrey::plugin::Function;
using exigrey::plugin::Outcome;
using exigrey::plugin::SuffixFunction;

uschar* exim_copy(const char* text) { return string_copy(reinterpret_cast<const uschar*>(text)); }

class EximHost final : public exigrey::plugin::Host {
 public:
  std::optional<std::string> expand(const char* text, std::string* error) override {
    // expand_string wants a writable string; it never keeps the pointer.
    std::string buf(text);
    const uschar* out = expand_string(reinterpret_cast<uschar*>(buf.data()));
    if (out == nullptr) {
      *error = expand_string_message != nullptr
                   ? reinterpret_cast<const char*>(expand_string_message)
                   : "expansion failed";
      return std::nullopt;
    }
    return std::string(reinterpret_cast<const char*>(out));
  }
  void log(const std::string& line) override { log_write(0, kLogMain, "%s", line.c_str()); }
  bool debugging() const override { return debug_selector != 0; }
  void debug(const std::string& line) override { debug_printf("%s\n", line.c_str()); }
};

// Runs one entry point: `logic` gets the arguments as string_views and the
// host, and returns an Outcome. No exception crosses this frame, and `*yield`
// is always Exim memory.
template <typename Logic>
int run(uschar** yield, int argc, uschar* argv[], Logic logic) noexcept {
  if (yield == nullptr) return kEximFail;
  try {
    // The usual few arguments live on the stack: no allocation per call.
    const std::size_t n = argc > 0 && argv != nullptr ? static_cast<std::size_t>(argc) : 0;
    std::array<std::string_view, 8> small;
    std::vector<std::string_view> big;
    std::string_view* args = small.data();
    if (n > small.size()) {
      big.resize(n);
      args = big.data();
    }
    for (std::size_t i = 0; i < n; ++i) {
      args[i] = argv[i] != nullptr ? reinterpret_cast<const char*>(argv[i]) : "";
    }
    EximHost host;
    const Outcome outcome = logic(std::span<const std::string_view>(args, n), host);
    *yield = exim_copy(outcome.text.c_str());
    return outcome.ok ? kEximOk : kEximFail;
  } catch (const std::bad_alloc&) {
    *yield = exim_copy("exigrey: out of memory");
  } catch (...) {
    *yield = exim_copy("exigrey: internal error");
  }
  return kEximFail;
}

}  // namespace

// The entry points. A new one is one more function like these
// and its name in exports.map.

// ${dlfunc{libexigrey.so}{unseen}{KEY[/SUFFIX]}{DELAY}{DB}}: "yes" = defer.
EXIGREY_EXPORT int unseen(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv, [](auto args, auto& host) {
    return exigrey::plugin::greylist(Function::kUnseen, args, host);
  });
}

// ${dlfunc{libexigrey.so}{seen}{KEY[/SUFFIX]}{DELAY}{DB}}: the reverse answer.
EXIGREY_EXPORT int seen(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv, [](auto args, auto& host) {
    return exigrey::plugin::greylist(Function::kSeen, args, host);
  });
}

// ${dlfunc{libexigrey.so}{decide}{KEY[/SUFFIX]}{DELAY}{DB}}: the decision as fields.
EXIGREY_EXPORT int decide(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv, [](auto args, auto& host) {
    return exigrey::plugin::greylist(Function::kDecide, args, host);
  });
}

// ${dlfunc{libexigrey.so}{whitelist}{SUFFIX}{DB}}: adds or refreshes SUFFIX.
EXIGREY_EXPORT int whitelist(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv, [](auto args, auto& host) {
    return exigrey::plugin::suffix_function(SuffixFunction::kWhitelist, args, host);
  });
}

// ${dlfunc{libexigrey.so}{whitelisted}{SUFFIX}{DB}}: "yes" when SUFFIX is whitelisted.
EXIGREY_EXPORT int whitelisted(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv, [](auto args, auto& host) {
    return exigrey::plugin::suffix_function(SuffixFunction::kWhitelisted, args, host);
  });
}

// ${dlfunc{libexigrey.so}{report}{black|white}{SUBJECT}{NOTE}}: "yes" once queued.
EXIGREY_EXPORT int report(uschar** yield, int argc, uschar* argv[]) {
  return run(yield, argc, argv,
             [](auto args, auto& host) { return exigrey::plugin::report(args, host); });
}

// The entry points must match Exim's dlfunc type exactly.
static_assert(std::is_same_v<decltype(&unseen), exim_dlfunc_t*>);
static_assert(std::is_same_v<decltype(&seen), exim_dlfunc_t*>);
static_assert(std::is_same_v<decltype(&report), exim_dlfunc_t*>);
static_assert(std::is_same_v<decltype(&decide), exim_dlfunc_t*>);
static_assert(std::is_same_v<decltype(&whitelist), exim_dlfunc_t*>);
static_assert(std::is_same_v<decltype(&whitelisted), exim_dlfunc_t*>);

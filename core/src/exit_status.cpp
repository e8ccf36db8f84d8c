// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/exit_status.h"

#include <new>
#include <string>
#include <system_error>

#include "exigrey/error.h"

namespace exigrey {

int exit_status_of(const std::exception& e) noexcept {
  if (dynamic_cast<const NotFound*>(&e) != nullptr) return kExitNotFound;
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    return err->kind() == ErrorKind::kUsage ? kExitUsage : kExitFailure;
  }
  return kExitFailure;
}

int run_program(const std::function<int()>& body,
                const std::function<void(std::string_view line)>& report) noexcept {
  // A report that throws (stderr gone, out of memory) must not escape main.
  auto say = [&](std::string_view line) noexcept {
    try {
      report(line);
    } catch (...) {
    }
  };
  try {
    return body();
  } catch (const NotFound& e) {
    say(e.what());
    return kExitNotFound;
  } catch (const Error& e) {
    say(e.what());
    return exit_status_of(e);
  } catch (const std::bad_alloc&) {
    say("out of memory");
  } catch (const std::system_error& e) {
    say(e.what());  // a bind, connect or I/O failure: not a bug
  } catch (const std::exception& e) {
    try {
      say(std::string("internal error: ") + e.what());
    } catch (...) {
      say("internal error");
    }
  } catch (...) {
    say("internal error");
  }
  return kExitFailure;
}

}  // namespace exigrey

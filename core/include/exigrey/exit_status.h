// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/exit_status.h: how every exigrey program ends. exigrey,
// exigrey-forward and exigrey-collect share one convention (their man
// pages' EXIT STATUS sections say it):
//   0  success (or stopped by a signal, for a daemon)
//   1  what was asked for does not exist (a store, key, entry, subject)
//   2  usage: a bad argument, option or setting; nothing was done
//   3  failure at run time: a store, file or network error
//
// run_program() is each main()'s top level: it runs the program's body and
// turns an exception that escapes it into one line (through `report`) and
// the status above. Thread safety: none needed (one per process).
#pragma once

#include <exception>
#include <functional>
#include <stdexcept>
#include <string_view>

namespace exigrey {

enum ExitStatus : int {
  kExitOk = 0,
  kExitNotFound = 1,
  kExitUsage = 2,
  kExitFailure = 3,
};

// What was asked for does not exist: exit status 1.
class NotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// NotFound 1, an Error of kind kUsage 2, anything else 3.
int exit_status_of(const std::exception& e) noexcept;

// Returns body(), or, when it throws, reports one line (the error's text;
// "internal error: ..." for exceptions that are neither exigrey's nor a
// std::system_error) and returns the status for it. Never throws.
int run_program(const std::function<int()>& body,
                const std::function<void(std::string_view line)>& report) noexcept;

}  // namespace exigrey

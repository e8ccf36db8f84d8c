// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/exit_status.h: the one ending every program shares.
#include <catch2/catch.hpp>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/exit_status.h"

using namespace exigrey;

namespace {

struct Ending {
  int status;
  std::vector<std::string> lines;
};

template <typename Body>
Ending end_of(Body body) {
  Ending e{0, {}};
  e.status = run_program(body, [&](std::string_view line) { e.lines.emplace_back(line); });
  return e;
}

}  // namespace

TEST_CASE("run_program maps what escapes a program to one line and the shared status", "[exit]") {
  CHECK(end_of([] { return 0; }).status == kExitOk);
  CHECK(end_of([] { return 7; }).status == 7);  // the body's own status stands
  CHECK(end_of([] { return 7; }).lines.empty());

  const Ending missing = end_of([]() -> int { throw NotFound("exigrey: no item \"x\""); });
  CHECK(missing.status == kExitNotFound);
  CHECK(missing.lines == std::vector<std::string>{"exigrey: no item \"x\""});

  const Ending usage = end_of([]() -> int { throw UsageError("exigrey: bad --top"); });
  CHECK(usage.status == kExitUsage);
  CHECK(usage.lines == std::vector<std::string>{"exigrey: bad --top"});

  const Ending store =
      end_of([]() -> int { throw StoreError(ErrorKind::kMapFull, "exigrey: store is full"); });
  CHECK(store.status == kExitFailure);
  CHECK(store.lines == std::vector<std::string>{"exigrey: store is full"});

  const Ending bind = end_of([]() -> int {
    throw std::system_error(std::make_error_code(std::errc::address_in_use), "bind");
  });
  CHECK(bind.status == kExitFailure);
  REQUIRE(bind.lines.size() == 1);
  CHECK(bind.lines[0].starts_with("bind: "));  // a system error is not a bug

  const Ending bug = end_of([]() -> int { throw std::logic_error("oops"); });
  CHECK(bug.status == kExitFailure);
  CHECK(bug.lines == std::vector<std::string>{"internal error: oops"});

  CHECK(end_of([]() -> int { throw std::bad_alloc(); }).lines ==
        std::vector<std::string>{"out of memory"});
  CHECK(end_of([]() -> int { throw 42; }).lines == std::vector<std::string>{"internal error"});

  // A reporter that throws does not take the program down with it.
  CHECK(run_program([]() -> int { throw UsageError("x"); },
                    [](std::string_view) { throw std::runtime_error("stderr is gone"); }) ==
        kExitUsage);
}

TEST_CASE("exit_status_of classifies without a report", "[exit]") {
  CHECK(exit_status_of(NotFound("n")) == 1);
  CHECK(exit_status_of(UsageError("u")) == 2);
  CHECK(exit_status_of(Error(ErrorKind::kCorrupt, "c")) == 3);
  CHECK(exit_status_of(std::runtime_error("r")) == 3);
}

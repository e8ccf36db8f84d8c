// SPDX-License-Identifier: GPL-2.0-or-later
// Report fields as the plugin's `report` and the collectors receive them.
// A subject that parses must normalise to a fixed point.
#include "exigrey/report.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  const std::string_view in = fuzz::as_view(data, size);
  fuzz::expect_only_exigrey_errors([&] { (void)parse_verb(in); });
  fuzz::expect_only_exigrey_errors([&] { (void)parse_note(in); });
  fuzz::expect_only_exigrey_errors([&] {
    const Subject s = parse_subject(in);
    if (!(parse_subject(s.text) == s)) std::abort();
  });
  return 0;
}

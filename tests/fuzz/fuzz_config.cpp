// SPDX-License-Identifier: GPL-2.0-or-later
// The settings file (/etc/exigrey/exigrey.conf).
#include "exigrey/config.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exigrey::fuzz::expect_only_exigrey_errors(
      [&] { (void)exigrey::parse_config(exigrey::fuzz::as_view(data, size), "fuzz.conf"); });
  return 0;
}

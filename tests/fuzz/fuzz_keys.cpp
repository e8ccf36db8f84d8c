// SPDX-License-Identifier: GPL-2.0-or-later
// The collector's keys file. A refusal must never quote a secret.
#include "exigrey/keys.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exigrey::fuzz::expect_only_exigrey_errors(
      [&] { (void)exigrey::parse_keys(exigrey::fuzz::as_view(data, size), "keys"); });
  return 0;
}

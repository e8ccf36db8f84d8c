// SPDX-License-Identifier: GPL-2.0-or-later
// Record values read back from a store file that may be damaged.
#include "exigrey/records.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  if (size == 0) return 0;
  const bool hashed = (data[0] & 1) != 0;
  const std::span<const std::byte> value(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  std::string name;
  fuzz::expect_only_exigrey_errors([&] {
    const ItemRecord r = decode_item(value, hashed, &name);
    // What decodes must encode back to the same bytes.
    const std::string again = encode_item(r, hashed, name);
    if (again.size() != value.size() ||
        std::memcmp(again.data(), value.data(), again.size()) != 0) {
      std::abort();
    }
  });
  fuzz::expect_only_exigrey_errors([&] { (void)decode_whitelist(value, hashed, &name); });
  return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
// The plugin's ACL arguments: KEY split, DELAY parsing and DB path rules.
// Input: up to three NUL-separated arguments.
#include "exigrey/duration.h"
#include "exigrey/key.h"
#include "exigrey/paths.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  std::string_view in = fuzz::as_view(data, size);
  std::string_view args[3];
  for (auto& a : args) {
    const auto nul = in.find('\0');
    a = in.substr(0, nul);
    in = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  }
  const KeyParts parts = split_key(args[0]);
  if (parts.item.size() + (parts.suffix ? parts.suffix->size() + 1 : 0) != args[0].size()) {
    std::abort();
  }
  if (parts.suffix && parts.suffix->empty()) std::abort();
  fuzz::expect_only_exigrey_errors([&] { (void)parse_duration(args[1]); });
  fuzz::expect_only_exigrey_errors([&] {
    const std::string path = resolve_db_path(args[2], "/var/spool/exim4/grey");
    if (path.empty()) std::abort();
  });
  return 0;
}

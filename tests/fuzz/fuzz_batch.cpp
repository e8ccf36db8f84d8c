// SPDX-License-Identifier: GPL-2.0-or-later
// A signed batch as the collector reads it: header line, body, MAC line;
// and the forwarder's reading of an answer line.
#include "exigrey/batch.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  const std::string_view in = fuzz::as_view(data, size);
  const std::string secret(32, 's');
  fuzz::expect_only_exigrey_errors([&] { (void)parse_answer(in.substr(0, in.find('\n'))); });
  fuzz::expect_only_exigrey_errors([&] {
    const auto nl = in.find('\n');
    if (nl == std::string_view::npos) return;
    const BatchHeader h = parse_batch_header(in.substr(0, nl));
    const std::string_view rest = in.substr(nl + 1);
    const std::string_view body = rest.substr(0, h.length);
    const auto items = parse_batch_body(body, h);
    if (items.size() != h.count || items.back().id != h.seq) std::abort();
    verify_batch_mac(rest.substr(body.size()), secret, in.substr(0, nl + 1), body);
  });
  return 0;
}

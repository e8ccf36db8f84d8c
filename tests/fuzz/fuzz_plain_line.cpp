// SPDX-License-Identifier: GPL-2.0-or-later
// The collector's plain protocol: a stream split into lines with a limit,
// each line parsed. Good lines must carry a normalised subject.
#include "exigrey/plain_line.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  const std::string_view in = fuzz::as_view(data, size);
  LineFramer framer(64);
  // Feed in two pieces, as TCP may split it anywhere.
  const std::size_t cut = size > 0 ? data[0] % (size + 1) : 0;
  auto on_line = [](std::string_view line, bool too_long) {
    if (too_long) {
      if (!line.empty()) std::abort();
      return;
    }
    if (line.size() > 64) std::abort();
    const PlainLine p = parse_plain_line(line);
    if (p.error == LineError::kNone &&
        !(parse_subject(p.report.subject.text) == p.report.subject)) {
      std::abort();
    }
    if (p.message.find('\n') != std::string::npos) std::abort();
  };
  fuzz::expect_only_exigrey_errors([&] {
    framer.feed(in.substr(0, cut), on_line);
    framer.feed(in.substr(cut), on_line);
  });
  return 0;
}

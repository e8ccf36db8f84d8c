// SPDX-License-Identifier: GPL-2.0-or-later
// The collector's per-subject records (votes, evidence, history) read back
// from a reputation store that may be damaged.
#include "exigrey/reputation.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_exigrey_errors([&] {
    const SubjectRecord r = decode_subject_record(bytes);
    // What decodes (either version) must survive the current encoding.
    if (!(decode_subject_record(encode_subject_record(r)) == r)) std::abort();
  });
  return 0;
}

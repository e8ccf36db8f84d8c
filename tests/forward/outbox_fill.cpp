// SPDX-License-Identifier: GPL-2.0-or-later
// outbox_fill DIR COUNT [FIRST]: appends COUNT black reports about distinct
// public-looking IPv4 addresses (23.x.y.z, numbered from FIRST) to DIR/outbox,
// as the plugin's `report` would. Only DNS names of these addresses are ever
// queried, from the tests' own rbldnsd on 127.0.0.1.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "exigrey/outbox.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: outbox_fill DIR COUNT [FIRST]\n");
    return 2;
  }
  exigrey::Outbox box(exigrey::Outbox::path_in(argv[1]));
  const long count = std::atol(argv[2]);
  const long first = argc > 3 ? std::atol(argv[3]) : 0;
  const auto now = static_cast<exigrey::UnixTime>(std::time(nullptr));
  for (long i = first; i < first + count; ++i) {
    const std::string ip = "23." + std::to_string((i >> 16) & 255) + "." +
                           std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
    box.append(exigrey::Report{exigrey::Verb::kBlack, exigrey::parse_subject(ip), "test", now});
  }
  return 0;
}

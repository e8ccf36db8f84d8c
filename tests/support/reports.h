// SPDX-License-Identifier: GPL-2.0-or-later
// Reports as the collector's tests build them: one helper for every test file.
#pragma once

#include <string>
#include <string_view>

#include "exigrey/report.h"
#include "exigrey/reputation.h"

namespace exigrey::test {

// `verb` `subject` from `reporter`, seen at `t` (0: "now"), with `note`.
inline IncomingReport incoming(Verb verb, std::string_view subject, std::string reporter,
                               UnixTime t = 0, std::string_view note = {}) {
  return IncomingReport{Report{verb, parse_subject(subject), std::string(note), t},
                        std::move(reporter)};
}

}  // namespace exigrey::test

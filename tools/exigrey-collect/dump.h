// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/dump.h: `exigrey-collect --dump`, the status command.
//
// Opens the reputation store read-only (safe while the daemon runs) and
// prints one line per subject, then a totals line:
//   11.22.33.44 black=3 white=0 votes=2 first=2025-...Z last=2025-...Z listed=black
//   # subjects=1 black_reports=3 white_reports=0
// `listed` applies the configured policy at the current time.
#pragma once

#include <cstdio>

#include "exigrey/collect_config.h"

namespace exigrey::collect {

// Returns the exit status. Throws exigrey::Error on store failures.
int dump_state(const CollectConfig& cfg, std::FILE* out);

}  // namespace exigrey::collect

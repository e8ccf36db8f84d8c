// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/clock.h"

#include <ctime>

namespace exigrey {

UnixTime SystemClock::now() const { return static_cast<UnixTime>(std::time(nullptr)); }

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace exigrey

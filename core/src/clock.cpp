// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/clock.h"

#include <ctime>

namespace exigrey {

// Not time(2): glibc answers it from the kernel's coarse clock, which moves
// to the next second only at the next tick, so just after a second boundary
// it lags CLOCK_REALTIME by up to a tick (2.4 ms measured here, more on a
// loaded tickless CPU). A report that a client timed at second N+1 was then
// stored at N, the second of an operator's delisting, and did not count.
UnixTime SystemClock::now() const {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<UnixTime>(ts.tv_sec);
}

const SystemClock& SystemClock::instance() {
  // Never destroyed: the store's exit-time flush (Env::flush_at_exit, run by
  // atexit) reads the clock after function-local statics are gone.
  static const SystemClock* const clock = new SystemClock;
  return *clock;
}

}  // namespace exigrey

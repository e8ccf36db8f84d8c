// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/clock.h: where exigrey learns the time.
//
// Every decision takes `now` from a Clock so that tests can inject time
// (ManualClock) while production uses the system clock. Times are integer
// Unix seconds, as in the original Exim::Grey records.
//
// Thread safety: SystemClock is stateless; ManualClock is not synchronised
// (tests drive it from one thread).
#pragma once

#include <cstdint>

namespace exigrey {

using UnixTime = std::int64_t;  // seconds since the epoch

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixTime now() const = 0;
};

// The real wall clock (CLOCK_REALTIME, the clock other programs read).
class SystemClock final : public Clock {
 public:
  UnixTime now() const override;
  // One shared instance; it has no state, and lives until the process ends
  // (atexit handlers may use it).
  static const SystemClock& instance();
};

// A clock that only moves when told to. For tests and for `check --at`.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixTime start) : now_(start) {}
  UnixTime now() const override { return now_; }
  void set(UnixTime t) { now_ = t; }
  void advance(std::int64_t seconds) { now_ += seconds; }

 private:
  UnixTime now_;
};

}  // namespace exigrey

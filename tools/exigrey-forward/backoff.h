// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward/backoff.h: how long to wait before retrying a collector or
// a peer after `failures` failed exchanges in a row.
//
// Capped exponential (min, 2 min, 4 min, ... up to max) with jitter in
// [50%, 100%], so many forwarders that lost the same collector do not come
// back in lockstep. Thread safety: uses the caller's generator.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace exigrey::forward {

inline std::chrono::milliseconds backoff(std::chrono::milliseconds min,
                                         std::chrono::milliseconds max, int failures,
                                         std::mt19937& rng) {
  const int shift = std::clamp(failures - 1, 0, 20);
  using std::chrono::milliseconds;
  const milliseconds base = std::min<milliseconds>(max, min * (1LL << shift));
  std::uniform_int_distribution<long long> jitter(base.count() / 2, base.count());
  return milliseconds(jitter(rng));
}

}  // namespace exigrey::forward

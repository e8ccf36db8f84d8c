// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: bounds how long a bulk operation (purge, load) holds the
// store's single writer lock, so that Exim's deciders never wait long.
#pragma once

#include <chrono>
#include <cstddef>

#include "exigrey/bulk.h"

namespace exigrey::detail {

// Counts the operations of one write transaction and tells when to commit.
class WriteBudget {
 public:
  explicit WriteBudget(const BulkLimits& limits) : limits_(limits) {}

  // Call right after the write transaction began.
  void start() {
    start_ = std::chrono::steady_clock::now();
    ops_ = 0;
  }
  void count() { ++ops_; }
  // True once the transaction should be committed: the operation count or
  // the time is used up. Always lets at least one operation through.
  bool spent() const {
    if (ops_ == 0) return false;
    if (ops_ >= limits_.max_ops) return true;
    return std::chrono::steady_clock::now() - start_ >= limits_.max_hold;
  }

 private:
  BulkLimits limits_;
  std::chrono::steady_clock::time_point start_{};
  std::size_t ops_ = 0;
};

}  // namespace exigrey::detail

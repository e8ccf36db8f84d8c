// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/bulk.h: limits for operations that touch many records (purge,
// load, long listings).
//
// A store has one writer at a time across all processes, and every Exim
// process that greylists a new sender needs it. Bulk writers therefore work
// in short write transactions: each commits after `max_ops` changes or
// `max_hold` of holding the writer lock, whichever comes first, then lets
// the lock go before the next one. Bulk readers likewise renew their
// snapshot every `scan_chunk` entries, so a long listing never pins old
// pages (an open snapshot stops LMDB from reusing freed pages).
//
// Thread safety: a plain value type.
#pragma once

#include <chrono>
#include <cstddef>

namespace exigrey {

struct BulkLimits {
  std::chrono::microseconds max_hold = std::chrono::milliseconds(10);
  std::size_t max_ops = 1000;
  std::size_t scan_chunk = 20000;
};

}  // namespace exigrey

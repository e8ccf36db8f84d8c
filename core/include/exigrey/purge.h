// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/purge.h: removing greylist records that are no longer used, while
// Exim keeps deciding.
//
// An item is removed when its `used` time is before the cutoff, a whitelist
// entry when its `last_used` is. (A whitelist entry is refreshed at most once
// a minute, kWhitelistRefreshAfter, so cutoffs closer to now than that may
// remove entries in use; real purges use days.)
//
// The purge never holds the writer lock long: candidates are found in short
// read snapshots, then removed in write transactions that commit after
// BulkLimits::max_ops removals or BulkLimits::max_hold, whichever comes
// first. Inside the write transaction every candidate is read again and is
// removed only if it is still older than the cutoff, so a record that a
// decider used in the meantime survives. Memory is bounded by one batch.
//
// Errors: StoreError from the store; a failure leaves the batches committed
// so far in place (a purge can simply be run again).
// Thread and process safety: as Store; any number of deciders may run.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "exigrey/bulk.h"
#include "exigrey/clock.h"
#include "exigrey/store.h"

namespace exigrey {

struct PurgeOptions {
  UnixTime cutoff = 0;    // remove what was last used strictly before this time
  bool dry_run = false;   // report what would go, change nothing (read-only)
  bool items = true;      // purge items
  bool whitelist = true;  // purge whitelist entries
  BulkLimits limits;
};

struct PurgeProgress {
  std::uint64_t scanned = 0;        // entries looked at so far
  std::uint64_t removed_items = 0;  // (or, in a dry run, that would be removed)
  std::uint64_t removed_whitelist = 0;
  std::uint64_t batches = 0;  // write transactions committed
};

// Callbacks; any may be empty. on_item/on_whitelist run after the removal
// has been committed (in a dry run: as the candidate is found); on_progress
// after each read chunk and each committed batch.
struct PurgeEvents {
  std::function<void(std::string_view name, const ItemRecord& record)> on_item;
  std::function<void(std::string_view suffix, const WhitelistEntry& entry)> on_whitelist;
  std::function<void(const PurgeProgress& progress)> on_progress;
};

PurgeProgress purge(const Store& store, const PurgeOptions& options,
                    const PurgeEvents& events = {});

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/listing.h: filtered walks over a whole store, and its summary.
//
// A walk reads the store in chunks of BulkLimits::scan_chunk entries, each
// chunk in its own short snapshot, so that listing millions of entries never
// pins old pages and memory stays flat: nothing is collected, every match is
// handed to the visitor and forgotten. A walk is therefore not one
// point-in-time view: an entry changed during the walk may be seen before or
// after the change (never twice, never torn).
//
// Order: names stored verbatim (up to kMaxPlainName bytes) in byte order,
// then longer names (stored under a digest) in digest order. A prefix filter
// seeks straight to the matching names.
//
// Errors: StoreError from the store (see store.h); nothing else.
// Thread and process safety: as Store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "exigrey/bulk.h"
#include "exigrey/clock.h"
#include "exigrey/store.h"

namespace exigrey {

enum class ItemState {
  kAny,
  kWaiting,  // never passed (count == 0): still greylisted or never retried
  kPassed,   // passed at least once
};

struct ListFilter {
  std::string prefix;                   // names starting with these bytes
  std::optional<UnixTime> used_before;  // last use (item `used`, entry `last_used`) < this
  std::optional<UnixTime> used_since;   // last use >= this
  ItemState state = ItemState::kAny;    // items only; ignored for whitelist entries
};

// Visits the matching items; `fn` returns false to stop. Returns the number
// of matches visited.
std::size_t for_each_item(const Store& store, const ListFilter& filter, const ItemVisitor& fn,
                          const BulkLimits& limits = {});
// The same for whitelist entries.
std::size_t for_each_whitelisted(const Store& store, const ListFilter& filter,
                                 const WhitelistVisitor& fn, const BulkLimits& limits = {});

struct TimeRange {
  UnixTime oldest = 0;
  UnixTime newest = 0;
  void add(UnixTime t) noexcept;
  friend bool operator==(const TimeRange&, const TimeRange&) = default;
};

struct StoreSummary {
  std::uint64_t items = 0;
  std::uint64_t waiting = 0;  // items with count == 0
  std::uint64_t passed = 0;   // items with count > 0
  std::uint64_t whitelist = 0;
  std::optional<TimeRange> item_created;
  std::optional<TimeRange> item_used;
  std::optional<TimeRange> whitelist_used;  // by last_used
};

// Counts everything in one chunked walk (see above).
StoreSummary summarize(const Store& store, const BulkLimits& limits = {});

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/peers.h: greylisting shared by the MX hosts of a site
// (docs/multi-mx.md). Decisions stay local; what each host learns travels
// to the others in signed batches and is merged there.
//
//   - Change capture: a store opened with StoreOptions::peer_log appends the
//     key of every record a decision writes (items, whitelist entries) to its
//     peer log, namespace 0x06, in the same transaction. Records merged from
//     a peer are not logged again.
//   - read_peer_log() gives exigrey-forward the current state of the logged
//     records, in log order, with the log's ids; drop_peer_log() removes what
//     every peer acknowledged; bound_peer_log() keeps the log bounded.
//   - merge_from_peer() applies a peer's batch: every record is joined with
//     the local one (merge_item / merge_whitelist: commutative, associative,
//     idempotent), and the peer's last id is committed in the same
//     transaction, so a retransmitted or replayed batch changes nothing.
//
// Errors: StoreError / UsageError as in store.h; merge_from_peer throws
// UsageError for a record outside the bounds (nothing is applied then).
// Process safety: as Store.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/dump.h"
#include "exigrey/store.h"

namespace exigrey {

// One record of a peer batch: the sender's log id and the record's state.
struct PeerRecord {
  std::uint64_t id = 0;
  LoadedRecord record;
};

// The join of two states of one item (docs/multi-mx.md, the merge rule).
ItemRecord merge_item(const ItemRecord& local, const ItemRecord& remote);
// The join of two states of one whitelist entry.
WhitelistEntry merge_whitelist(const WhitelistEntry& local, const WhitelistEntry& remote);

// Up to `max` logged records with ids above `after`, each with the record's
// current state; a logged record that no longer exists (purged, deleted) is
// left out, but `*last_id` (if given) still moves past it.
std::vector<PeerRecord> read_peer_log(const Store& store, std::uint64_t after, std::size_t max,
                                      std::uint64_t* last_id = nullptr);

// The highest id in the log (0: empty). One short read: cheap to poll.
std::uint64_t peer_log_last(const Store& store);

// Removes the log entries with ids up to `upto` (acknowledged by every peer).
std::size_t drop_peer_log(const Store& store, std::uint64_t upto);

struct PeerLogStats {
  std::uint64_t entries = 0;
  std::optional<UnixTime> oldest;  // when the oldest entry was logged
  std::uint64_t dropped = 0;       // entries dropped by bound_peer_log, ever
};
PeerLogStats peer_log_stats(const Store& store);

// Drops the oldest entries beyond `max_entries` (a peer down for long) and
// counts them; returns how many it dropped now.
std::uint64_t bound_peer_log(const Store& store, std::uint64_t max_entries);

struct MergeResult {
  bool duplicate = false;       // every record was at or below the peer's last id
  std::uint64_t applied = 0;    // records merged
  std::uint64_t unchanged = 0;  // records the local store already had as merged
};

// The peer's last committed id (0: none yet).
std::uint64_t peer_cursor(const Store& store, std::string_view peer);

// Applies the records of `peer` whose ids are above its cursor, and sets the
// cursor to `seq`, in one transaction. Times more than kFutureTolerance
// ahead of `now` are clamped to `now`.
MergeResult merge_from_peer(const Store& store, std::string_view peer, std::uint64_t seq,
                            std::span<const PeerRecord> records, UnixTime now);

}  // namespace exigrey

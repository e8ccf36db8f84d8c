// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/listing_index.h: what the collector publishes, kept in memory.
//
// A publish used to rescan the whole store and re-render every file and
// zone; at a million listings that took seconds for a single new report.
// The index holds the current listings (black and white, by file kind, in
// text order), so that a publish evaluates only the subjects that changed
// (evaluate_subjects), learns from update() which listings differ, and
// rewrites only what those touch (docs/dns.md, "What grows with the list").
// ExpiryIndex holds each subject's next change, so that listings still end
// on time without a rescan.
//
// Errors: none (allocation failures throw std::bad_alloc).
// Thread safety: not synchronised; the publisher guards it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation_policy.h"

namespace exigrey {

// A subject as one string (kind byte, then text): the key of both indexes'
// lookups.
std::string index_key(const Subject& s);

class ListingIndex {
 public:
  // `shards`: each file is split in that many parts (rbldnsd_shards), a
  // listing's part chosen by a hash of its subject (shard_of).
  explicit ListingIndex(unsigned shards = 1);

  // One subject whose listing in one list differs from what was published.
  struct Change {
    Verb list = Verb::kBlack;
    std::optional<Listing> before;  // what was published (none: not listed)
    std::optional<Listing> after;   // what is published now
  };

  // Everything at once (a full publish): the index becomes `black` and
  // `white`; returns the differences from before.
  std::vector<Change> replace(std::span<const Listing> black, std::span<const Listing> white);

  // The subjects in `evaluated` were looked at again; `black` and `white`
  // are their listings now (subjects of `evaluated` missing from them are
  // not listed). Returns the differences.
  std::vector<Change> update(std::span<const Subject> evaluated, std::span<const Listing> black,
                             std::span<const Listing> white);

  // The listings of one file (list, kind, shard), in text order.
  const std::map<std::string, Listing>& file(Verb list, ZoneFileKind kind,
                                             unsigned shard = 0) const noexcept {
    return files_[slot(list, kind, shard)];
  }
  // All listings of a list: IPv4, IPv6, then names.
  std::vector<Listing> listings(Verb list) const;

  std::size_t size(Verb list) const noexcept;
  std::size_t size(Verb list, ZoneFileKind kind) const noexcept;
  // Black listings by their rule (kVotes, kHeld, kBanned, kEscalated).
  std::uint64_t black_by(Rule rule) const noexcept;

  unsigned shards() const noexcept { return shards_; }
  // 0 .. shards()-1: where a subject's listing goes.
  unsigned shard_of(const Subject& subject) const noexcept;
  // The position of a file (list, kind, shard) among the 6 x shards().
  std::size_t slot(Verb list, ZoneFileKind kind, unsigned shard = 0) const noexcept {
    return ((list == Verb::kBlack ? 0 : 3) + static_cast<std::size_t>(kind)) * shards_ + shard;
  }
  std::size_t slot(Verb list, const Subject& subject) const noexcept {
    return slot(list, kind_of(subject), shard_of(subject));
  }
  static ZoneFileKind kind_of(const Subject& subject) noexcept;

 private:
  void set(Verb list, const Subject& subject, const Listing* now, std::vector<Change>& changes);
  void count(const Listing& l, int delta) noexcept;

  unsigned shards_;
  std::vector<std::map<std::string, Listing>> files_;  // by slot()
  std::array<std::int64_t, 9> by_rule_{};              // black listings per Rule value
};

// Each subject's next change (a vote expiring, a hold, ban or exemption
// ending), and which are due.
class ExpiryIndex {
 public:
  // Sets (or with none, clears) the time of one subject.
  void set(const Subject& subject, std::optional<UnixTime> at);
  void clear();
  // Removes and returns the subjects whose time is at or before `now`.
  std::vector<Subject> due(UnixTime now);
  std::optional<UnixTime> earliest() const;
  std::size_t size() const noexcept { return at_.size(); }

 private:
  std::unordered_map<std::string, UnixTime> at_;      // key -> time
  std::set<std::pair<UnixTime, std::string>> order_;  // (time, key)
};

}  // namespace exigrey

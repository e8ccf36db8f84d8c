// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/greylist.h: the greylisting decision of Exim::Grey's unseen/seen.
//
// decide() implements exigrey-grey-behaviour.md section 3 exactly:
//   1. split KEY at the first '/' into item and suffix;
//   2. a whitelisted suffix passes at once (the item is not touched; the
//      entry's last_used is refreshed only when older than 60 s);
//   3. an unknown item is recorded (created = used = now, count 0, first =
//      suffix) and deferred, whatever the delay;
//   4. too early (now - created < delay) defers and changes nothing (a
//      record more than kFutureTolerance in the future is re-anchored to now);
//   5. otherwise it passes: used = now, count + 1, first dropped, and both the
//      current suffix and the recorded first suffix are whitelisted. The
//      pass that ends the item's delay (count was 0) reports how long the
//      item was held back (`delayed`, now - created); later passes of a known
//      item report none.
// The whole check-and-update is one write transaction; when nothing changes
// (whitelisted and fresh, too early) only a read transaction is taken.
//
// Errors: StoreError / UsageError from the store (see store.h); nothing else.
// Process safety: as Store; concurrent deciders on one key are serialised by
// LMDB's writer lock, so exactly one of them creates the record.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "exigrey/clock.h"
#include "exigrey/store.h"

namespace exigrey {

inline constexpr std::int64_t kDefaultDelay = 600;          // seconds, as Exim::Grey
inline constexpr std::int64_t kWhitelistRefreshAfter = 60;  // seconds
// Clock steps (docs/reliability.md): a record created up to this far in the
// future counts as too early and is left alone (Exim::Grey's rule); one
// further in the future (the clock ran years ahead, then was put right) is
// re-anchored: created = now, so the sender waits `delay` from now instead of
// being deferred until the clock catches up. A whitelist entry last used this
// far in the future is refreshed to now, so that purge can age it again.
inline constexpr std::int64_t kFutureTolerance = 24 * 3600;  // seconds

enum class Verdict {
  kDefer,  // "unseen": yes
  kPass,   // "unseen": no
};

enum class Reason {
  kWhitelisted,  // the suffix is whitelisted
  kNew,          // first sighting: record created
  kTooEarly,     // seen before, delay not yet over
  kPassed,       // delay over: record updated, suffixes whitelisted
};

struct Decision {
  Verdict verdict;
  Reason reason;
  std::int64_t wait = 0;  // seconds until a retry passes (kNew, kTooEarly)
  bool wrote = false;     // whether a write transaction was committed
  // kPassed only: seconds from the first sighting to this pass when this
  // pass ended the delay; nullopt when the item had passed before.
  std::optional<std::int64_t> delayed = std::nullopt;
  std::uint32_t passes = 0;  // kPassed: the item's pass count after this one
};

std::string_view to_string(Reason reason) noexcept;

// The decision `unseen` makes, with its side effects. A negative delay acts as 0.
Decision decide(const Store& store, std::string_view key, std::int64_t delay, UnixTime now);

// The decision `unseen` would make now, from a read transaction; changes nothing.
Decision check(const Store& store, std::string_view key, std::int64_t delay, UnixTime now);

// What whitelist_suffix() did.
enum class WhitelistChange {
  kAdded,      // a new entry
  kRefreshed,  // an existing entry, its last use set to now
  kFresh,      // an existing entry used less than kWhitelistRefreshAfter ago: untouched
};
std::string_view to_string(WhitelistChange change) noexcept;

// The rules for a SUFFIX given on its own: not empty, at most
// kMaxNameBytes. Throws UsageError naming `who` (the ACL function).
void check_suffix(std::string_view suffix, std::string_view who);

// Whitelists `suffix` (the ACL's `whitelist` function): adds the entry, or
// refreshes its last use as a decision would. Only kAdded and kRefreshed
// write. A suffix check_suffix() refuses is a UsageError.
WhitelistChange whitelist_suffix(const Store& store, std::string_view suffix, UnixTime now);

// Whether `suffix` is whitelisted (the ACL's `whitelisted` function); a hit
// is refreshed as a whitelisted decision refreshes it, so entries that keep
// letting mail through are not purged. Errors as whitelist_suffix().
bool whitelisted_suffix(const Store& store, std::string_view suffix, UnixTime now);

// The Exim-facing answers: unseen() is "yes" on kDefer, seen() the reverse.
inline bool unseen(const Decision& d) noexcept { return d.verdict == Verdict::kDefer; }
inline bool seen(const Decision& d) noexcept { return d.verdict == Verdict::kPass; }

}  // namespace exigrey

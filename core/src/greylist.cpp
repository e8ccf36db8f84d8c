// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/greylist.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "exigrey/error.h"
#include "exigrey/key.h"
#include "exigrey/records.h"

namespace exigrey {
namespace {

bool too_early(const ItemRecord& rec, std::int64_t delay, UnixTime now) {
  // A record from the future (clock stepped back) is too early as well.
  return now - rec.created < delay;
}

std::int64_t wait_for(const ItemRecord& rec, std::int64_t delay, UnixTime now) {
  return std::max<std::int64_t>(0, rec.created + delay - now);
}

bool needs_refresh(const WhitelistEntry& w, UnixTime now) {
  return now - w.last_used > kWhitelistRefreshAfter || w.last_used - now > kFutureTolerance;
}

// Created so far in the future that the clock must have been wrong then.
bool from_far_future(const ItemRecord& rec, UnixTime now) {
  return rec.created - now > kFutureTolerance;
}

// What a read-only look at the store says: either a final decision (nothing
// to write) or "go and write".
std::optional<Decision> decide_without_writing(const TxnView& txn, const KeyParts& parts,
                                               std::int64_t delay, UnixTime now, bool for_check) {
  if (parts.suffix) {
    if (auto w = txn.whitelisted(*parts.suffix)) {
      if (for_check || !needs_refresh(*w, now))
        return Decision{Verdict::kPass, Reason::kWhitelisted};
      return std::nullopt;
    }
  }
  const auto rec = txn.item(parts.item);
  if (!rec) {
    if (for_check) return Decision{Verdict::kDefer, Reason::kNew, delay};
    return std::nullopt;
  }
  if (from_far_future(*rec, now)) {
    if (for_check) return Decision{Verdict::kDefer, Reason::kTooEarly, delay};
    return std::nullopt;  // re-anchored in the write transaction
  }
  if (too_early(*rec, delay, now)) {
    return Decision{Verdict::kDefer, Reason::kTooEarly, wait_for(*rec, delay, now)};
  }
  if (for_check) {
    Decision d{Verdict::kPass, Reason::kPassed};
    if (rec->count == 0) d.delayed = std::max<std::int64_t>(0, now - rec->created);
    d.passes = rec->count < std::numeric_limits<std::uint32_t>::max() ? rec->count + 1 : rec->count;
    return d;
  }
  return std::nullopt;
}

void whitelist(WriteTxn& txn, std::string_view suffix, UnixTime now) {
  const auto existing = txn.whitelisted(suffix);
  txn.put_whitelist(suffix, WhitelistEntry{existing ? existing->created : now, now});
}

}  // namespace

std::string_view to_string(Reason reason) noexcept {
  switch (reason) {
    case Reason::kWhitelisted:
      return "whitelisted";
    case Reason::kNew:
      return "new";
    case Reason::kTooEarly:
      return "too-early";
    case Reason::kPassed:
      return "passed";
  }
  return "?";
}

std::string_view to_string(WhitelistChange change) noexcept {
  switch (change) {
    case WhitelistChange::kAdded:
      return "added";
    case WhitelistChange::kRefreshed:
      return "refreshed";
    case WhitelistChange::kFresh:
      return "fresh";
  }
  return "?";
}

void check_suffix(std::string_view suffix, std::string_view who) {
  if (suffix.empty()) {
    throw UsageError(fmt::format(
        "exigrey: {}: empty SUFFIX: give what a KEY's suffix holds, e.g. $sender_address or "
        "$sender_host_address",
        who));
  }
  if (suffix.size() > kMaxNameBytes) {
    throw UsageError(fmt::format("exigrey: {}: SUFFIX of {} bytes is longer than the limit of {}",
                                 who, suffix.size(), kMaxNameBytes));
  }
}

WhitelistChange whitelist_suffix(const Store& store, std::string_view suffix, UnixTime now) {
  check_suffix(suffix, "whitelist");
  {
    ReadTxn txn = store.read();
    if (auto w = txn.whitelisted(suffix); w && !needs_refresh(*w, now)) {
      return WhitelistChange::kFresh;
    }
  }
  WriteTxn txn = store.write();
  const auto w = txn.whitelisted(suffix);
  if (w && !needs_refresh(*w, now)) return WhitelistChange::kFresh;
  txn.put_whitelist(suffix, WhitelistEntry{w ? w->created : now, now});
  txn.commit();
  return w ? WhitelistChange::kRefreshed : WhitelistChange::kAdded;
}

bool whitelisted_suffix(const Store& store, std::string_view suffix, UnixTime now) {
  check_suffix(suffix, "whitelisted");
  {
    ReadTxn txn = store.read();
    const auto w = txn.whitelisted(suffix);
    if (!w) return false;
    if (!needs_refresh(*w, now)) return true;
  }
  WriteTxn txn = store.write();
  const auto w = txn.whitelisted(suffix);
  if (!w) return false;  // purged between the two transactions
  if (needs_refresh(*w, now)) {
    txn.put_whitelist(suffix, WhitelistEntry{w->created, now});
    txn.commit();
  }
  return true;
}

Decision check(const Store& store, std::string_view key, std::int64_t delay, UnixTime now) {
  delay = std::max<std::int64_t>(delay, 0);
  const KeyParts parts = split_key(key);
  ReadTxn txn = store.read();
  return *decide_without_writing(txn, parts, delay, now, /*for_check=*/true);
}

Decision decide(const Store& store, std::string_view key, std::int64_t delay, UnixTime now) {
  delay = std::max<std::int64_t>(delay, 0);
  const KeyParts parts = split_key(key);
  {
    // Most calls (whitelisted, too early) end here without the writer lock.
    ReadTxn txn = store.read();
    if (auto d = decide_without_writing(txn, parts, delay, now, /*for_check=*/false)) return *d;
  }  // the snapshot is released before the write transaction starts

  // Decide again inside the write transaction: another process may have
  // changed the records between the two transactions.
  WriteTxn txn = store.write();
  Decision d{Verdict::kPass, Reason::kPassed, 0, true};
  if (parts.suffix) {
    if (auto w = txn.whitelisted(*parts.suffix)) {
      if (!needs_refresh(*w, now)) return Decision{Verdict::kPass, Reason::kWhitelisted};
      txn.put_whitelist(*parts.suffix, WhitelistEntry{w->created, now});
      txn.commit();
      return Decision{Verdict::kPass, Reason::kWhitelisted, 0, true};
    }
  }
  auto rec = txn.item(parts.item);
  if (!rec) {
    ItemRecord fresh{now, now, 0, std::nullopt};
    if (parts.suffix) fresh.first = std::string(*parts.suffix);
    txn.put_item(parts.item, fresh);
    txn.commit();
    return Decision{Verdict::kDefer, Reason::kNew, delay, true};
  }
  if (from_far_future(*rec, now)) {
    rec->created = now;
    rec->used = std::min(rec->used, now);
    txn.put_item(parts.item, *rec);
    txn.commit();
    return Decision{Verdict::kDefer, Reason::kTooEarly, delay, true};
  }
  if (too_early(*rec, delay, now)) {
    return Decision{Verdict::kDefer, Reason::kTooEarly, wait_for(*rec, delay, now)};
  }
  const std::optional<std::string> first = std::move(rec->first);
  if (rec->count == 0) d.delayed = std::max<std::int64_t>(0, now - rec->created);
  rec->used = now;
  if (rec->count < std::numeric_limits<std::uint32_t>::max()) ++rec->count;
  rec->first.reset();
  d.passes = rec->count;
  txn.put_item(parts.item, *rec);
  if (parts.suffix) whitelist(txn, *parts.suffix, now);
  if (first && (!parts.suffix || *first != *parts.suffix)) whitelist(txn, *first, now);
  txn.commit();
  return d;
}

}  // namespace exigrey

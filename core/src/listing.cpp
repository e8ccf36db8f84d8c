// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/listing.h"

#include <algorithm>
#include <functional>

namespace exigrey {
namespace {

// A prefix walk has up to three phases: the exact name (scan positions are
// exclusive, so it is looked up on its own), the verbatim names from there
// on while they still match, then every digest-keyed name (their order says
// nothing about their names).
enum class Phase { kExact, kPlain, kHashed, kDone };

template <typename View>
using Visitor = std::function<bool(const View&)>;

std::string_view name_of(const ItemView& v) { return v.name; }
std::string_view name_of(const WhitelistView& v) { return v.suffix; }

template <typename View, typename ScanFn, typename ExactFn>
void walk(const Store& store, Namespace plain, std::string_view prefix, const BulkLimits& limits,
          ScanFn scan, ExactFn exact, const Visitor<View>& fn) {
  const char hashed_byte = static_cast<char>(static_cast<std::uint8_t>(plain) + 1);
  const std::size_t chunk = std::max<std::size_t>(limits.scan_chunk, 1);
  std::string after;
  Phase phase = Phase::kPlain;
  if (prefix.size() > kMaxPlainName) {
    phase = Phase::kHashed;
    after.assign(1, hashed_byte);  // no key is this short: resumes at the first digest key
  } else if (!prefix.empty()) {
    phase = Phase::kExact;
  }
  bool stopped = false;
  while (phase != Phase::kDone && !stopped) {
    ReadTxn txn = store.read();
    if (phase == Phase::kExact) {
      exact(txn, prefix, [&](const View& v) { stopped = !fn(v); });
      after = encode_key(plain, prefix);
      phase = Phase::kPlain;
      continue;
    }
    std::size_t seen = 0;
    bool chunk_full = false;
    bool left_plain = false;
    scan(txn, after, [&](const View& v) {
      if (seen == chunk) {
        chunk_full = true;  // not consumed: the next chunk starts with it
        return false;
      }
      ++seen;
      const bool hashed = !v.position.empty() && v.position.front() == hashed_byte;
      if (!prefix.empty() && !hashed && !name_of(v).starts_with(prefix)) {
        left_plain = true;  // past the matching verbatim names
        return false;
      }
      after.assign(v.position);
      if (!name_of(v).starts_with(prefix)) return true;
      if (!fn(v)) {
        stopped = true;
        return false;
      }
      return true;
    });
    if (left_plain) {
      phase = Phase::kHashed;
      after.assign(1, hashed_byte);
    } else if (!chunk_full) {
      phase = Phase::kDone;
    }
  }
}

bool in_window(const ListFilter& f, UnixTime used) {
  if (f.used_before && !(used < *f.used_before)) return false;
  if (f.used_since && !(used >= *f.used_since)) return false;
  return true;
}

bool item_matches(const ListFilter& f, const ItemRecord& r) {
  if (!in_window(f, r.used)) return false;
  if (f.state == ItemState::kWaiting) return r.count == 0;
  if (f.state == ItemState::kPassed) return r.count != 0;
  return true;
}

}  // namespace

std::size_t for_each_item(const Store& store, const ListFilter& filter, const ItemVisitor& fn,
                          const BulkLimits& limits) {
  std::size_t visited = 0;
  const Visitor<ItemView> counting = [&](const ItemView& v) {
    if (!item_matches(filter, v.record)) return true;
    ++visited;
    return fn(v);
  };
  walk<ItemView>(
      store, Namespace::kItem, filter.prefix, limits,
      [](const TxnView& t, std::string_view after, const ItemVisitor& f) {
        return t.scan_items(after, f);
      },
      [](const TxnView& t, std::string_view name, const auto& emit) {
        const auto rec = t.item(name);
        if (!rec) return false;
        const std::string pos = encode_key(Namespace::kItem, name);
        emit(ItemView{pos, name, *rec});
        return true;
      },
      counting);
  return visited;
}

std::size_t for_each_whitelisted(const Store& store, const ListFilter& filter,
                                 const WhitelistVisitor& fn, const BulkLimits& limits) {
  std::size_t visited = 0;
  const Visitor<WhitelistView> counting = [&](const WhitelistView& v) {
    if (!in_window(filter, v.entry.last_used)) return true;
    ++visited;
    return fn(v);
  };
  walk<WhitelistView>(
      store, Namespace::kWhitelist, filter.prefix, limits,
      [](const TxnView& t, std::string_view after, const WhitelistVisitor& f) {
        return t.scan_whitelist(after, f);
      },
      [](const TxnView& t, std::string_view suffix, const auto& emit) {
        const auto w = t.whitelisted(suffix);
        if (!w) return false;
        const std::string pos = encode_key(Namespace::kWhitelist, suffix);
        emit(WhitelistView{pos, suffix, *w});
        return true;
      },
      counting);
  return visited;
}

void TimeRange::add(UnixTime t) noexcept {
  oldest = std::min(oldest, t);
  newest = std::max(newest, t);
}

StoreSummary summarize(const Store& store, const BulkLimits& limits) {
  StoreSummary s;
  auto widen = [](std::optional<TimeRange>& r, UnixTime t) {
    if (r) {
      r->add(t);
    } else {
      r = TimeRange{t, t};
    }
  };
  for_each_item(
      store, {},
      [&](const ItemView& v) {
        ++s.items;
        ++(v.record.count == 0 ? s.waiting : s.passed);
        widen(s.item_created, v.record.created);
        widen(s.item_used, v.record.used);
        return true;
      },
      limits);
  for_each_whitelisted(
      store, {},
      [&](const WhitelistView& v) {
        ++s.whitelist;
        widen(s.whitelist_used, v.entry.last_used);
        return true;
      },
      limits);
  return s;
}

}  // namespace exigrey

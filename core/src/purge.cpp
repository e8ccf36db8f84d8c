// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/purge.h"

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "write_budget.h"

namespace exigrey {
namespace {

template <typename Record>
struct Candidate {
  std::string position;
  std::string name;
  Record record;
};

// What differs between the two namespaces.
struct ItemSpace {
  using Record = ItemRecord;
  using View = ItemView;
  static UnixTime last_use(const ItemRecord& r) { return r.used; }
  static const ItemRecord& record(const ItemView& v) { return v.record; }
  static std::string_view name(const ItemView& v) { return v.name; }
  static std::size_t scan(const TxnView& t, std::string_view after,
                          const std::function<bool(const ItemView&)>& fn) {
    return t.scan_items(after, fn);
  }
  static std::optional<ItemRecord> lookup(const TxnView& t, std::string_view name) {
    return t.item(name);
  }
  static void report(const PurgeEvents& ev, std::string_view name, const ItemRecord& r) {
    if (ev.on_item) ev.on_item(name, r);
  }
  static std::uint64_t& counter(PurgeProgress& p) { return p.removed_items; }
};

struct WhitelistSpace {
  using Record = WhitelistEntry;
  using View = WhitelistView;
  static UnixTime last_use(const WhitelistEntry& w) { return w.last_used; }
  static const WhitelistEntry& record(const WhitelistView& v) { return v.entry; }
  static std::string_view name(const WhitelistView& v) { return v.suffix; }
  static std::size_t scan(const TxnView& t, std::string_view after,
                          const std::function<bool(const WhitelistView&)>& fn) {
    return t.scan_whitelist(after, fn);
  }
  static std::optional<WhitelistEntry> lookup(const TxnView& t, std::string_view suffix) {
    return t.whitelisted(suffix);
  }
  static void report(const PurgeEvents& ev, std::string_view suffix, const WhitelistEntry& w) {
    if (ev.on_whitelist) ev.on_whitelist(suffix, w);
  }
  static std::uint64_t& counter(PurgeProgress& p) { return p.removed_whitelist; }
};

template <typename Space>
void purge_space(const Store& store, const PurgeOptions& o, const PurgeEvents& ev,
                 PurgeProgress& progress) {
  using Record = typename Space::Record;
  const std::size_t max_ops = std::max<std::size_t>(o.limits.max_ops, 1);
  const std::size_t chunk = std::max<std::size_t>(o.limits.scan_chunk, 1);
  std::vector<Candidate<Record>> candidates;
  std::vector<const Candidate<Record>*> removed;
  candidates.reserve(max_ops);
  removed.reserve(max_ops);
  std::string after;
  for (bool more = true; more;) {
    // 1. Find up to max_ops candidates in one short snapshot.
    candidates.clear();
    more = false;
    {
      ReadTxn txn = store.read();
      std::size_t seen = 0;
      Space::scan(txn, after, [&](const typename Space::View& v) {
        if (seen == chunk || candidates.size() == max_ops) {
          more = true;  // not consumed: the next round starts with it
          return false;
        }
        ++seen;
        after.assign(v.position);
        const Record& r = Space::record(v);
        if (Space::last_use(r) < o.cutoff) {
          candidates.push_back({std::string(v.position), std::string(Space::name(v)), r});
        }
        return true;
      });
      progress.scanned += seen;
    }
    if (o.dry_run) {
      for (const auto& c : candidates) {
        ++Space::counter(progress);
        Space::report(ev, c.name, c.record);
      }
      if (ev.on_progress) ev.on_progress(progress);
      continue;
    }
    // 2. Remove them in write transactions of bounded length, deciding each
    // again on the current record: a decider may have used it since step 1.
    for (std::size_t i = 0; i < candidates.size();) {
      removed.clear();
      WriteTxn txn = store.write();
      detail::WriteBudget budget(o.limits);
      budget.start();
      for (; i < candidates.size() && !budget.spent(); ++i) {
        auto& c = candidates[i];
        budget.count();
        const auto now = Space::lookup(txn, c.name);
        if (!now || !(Space::last_use(*now) < o.cutoff)) continue;
        if (txn.erase_at(c.position)) {
          c.record = *now;
          removed.push_back(&c);
        }
      }
      txn.commit();
      ++progress.batches;
      for (const auto* c : removed) {
        ++Space::counter(progress);
        Space::report(ev, c->name, c->record);
      }
      if (ev.on_progress) ev.on_progress(progress);
    }
    if (candidates.empty() && ev.on_progress) ev.on_progress(progress);
  }
}

}  // namespace

PurgeProgress purge(const Store& store, const PurgeOptions& options, const PurgeEvents& events) {
  PurgeProgress progress;
  if (options.items) purge_space<ItemSpace>(store, options, events, progress);
  if (options.whitelist) purge_space<WhitelistSpace>(store, options, events, progress);
  if (!options.dry_run && progress.removed_items + progress.removed_whitelist > 0) {
    // Pages the last batch freed go to commits from two later on: two
    // small commits make all of them usable by the next decision, which on
    // a store that was full needs them (docs/reliability.md, "Full map").
    for (int i = 0; i < 2; ++i) {
      WriteTxn txn = store.write();
      txn.put_meta(kPurgedKey, static_cast<std::int64_t>(std::time(nullptr)) + i);
      txn.commit();
    }
  }
  return progress;
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// Batched purge and chunked listings (purge.h, listing.h).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "exigrey/greylist.h"
#include "exigrey/listing.h"
#include "exigrey/purge.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

void put_items(const Store& s, int n, const std::string& prefix, UnixTime used) {
  WriteTxn t = s.write();
  for (int i = 0; i < n; ++i) t.put_item(prefix + std::to_string(i), ItemRecord{used, used, 0, {}});
  t.commit();
}

std::set<std::string> item_names(const Store& s, const ListFilter& f = {},
                                 const BulkLimits& limits = {}) {
  std::set<std::string> names;
  for_each_item(
      s, f,
      [&](const ItemView& v) {
        CHECK(names.insert(std::string(v.name)).second);  // never twice
        return true;
      },
      limits);
  return names;
}

}  // namespace

TEST_CASE("Purge removes exactly what was last used before the cutoff", "[purge]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  put_items(s, 2500, "old-", 100);
  put_items(s, 30, "new-", 1000);
  {
    WriteTxn t = s.write();
    t.put_item("edge", ItemRecord{1, 500, 1, {}});  // used == cutoff: kept
    t.put_whitelist("w-old", WhitelistEntry{1, 499});
    t.put_whitelist("w-new", WhitelistEntry{1, 500});
    t.put_whitelist(std::string(600, 'h'), WhitelistEntry{1, 2});  // a digest key
    t.commit();
  }
  PurgeOptions o;
  o.cutoff = 500;
  std::set<std::string> reported;
  PurgeEvents ev;
  ev.on_item = [&](std::string_view n, const ItemRecord& r) {
    CHECK(r.used < 500);
    reported.insert(std::string(n));
  };
  ev.on_whitelist = [&](std::string_view n, const WhitelistEntry&) {
    reported.insert("w:" + std::string(n));
  };

  SECTION("a dry run reports and changes nothing") {
    o.dry_run = true;
    const PurgeProgress p = purge(s, o, ev);
    CHECK(p.removed_items == 2500);
    CHECK(p.removed_whitelist == 2);
    CHECK(p.batches == 0);
    CHECK(reported.size() == 2502);
    CHECK(item_names(s).size() == 2531);
  }
  SECTION("a real run removes in batches of at most max_ops") {
    const PurgeProgress p = purge(s, o, ev);
    CHECK(p.removed_items == 2500);
    CHECK(p.removed_whitelist == 2);
    CHECK(p.scanned == 2531 + 3);
    CHECK(p.batches >= 4);  // 2500 items in batches of <= 1000, then the whitelist
    CHECK(reported.size() == 2502);
    CHECK(reported.count("w:w-old") == 1);
    CHECK(reported.count("w:" + std::string(600, 'h')) == 1);
    const auto left = item_names(s);
    CHECK(left.size() == 31);
    CHECK(left.count("edge") == 1);
    ReadTxn t = s.read();
    CHECK(t.whitelisted("w-new"));
    CHECK_FALSE(t.whitelisted("w-old"));
  }
  SECTION("small batches and chunks give the same result") {
    o.limits.max_ops = 7;
    o.limits.scan_chunk = 13;
    const PurgeProgress p = purge(s, o, ev);
    CHECK(p.removed_items == 2500);
    CHECK(p.batches >= 2500 / 7);
    CHECK(item_names(s).size() == 31);
  }
}

TEST_CASE("Purge keeps a record that a decider used after it was found", "[purge]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  put_items(s, 50, "k", 100);
  PurgeOptions o;
  o.cutoff = 500;
  o.limits.max_ops = 10;                             // ten candidates per snapshot...
  o.limits.max_hold = std::chrono::microseconds(0);  // ...removed one per write transaction
  int progress_calls = 0;
  PurgeEvents ev;
  // After the first removal, every key is used, as Exim would in between:
  // the nine candidates already found must be checked again and kept.
  ev.on_progress = [&](const PurgeProgress&) {
    if (++progress_calls != 1) return;
    for (int i = 0; i < 50; ++i) decide(s, fmt::format("k{}", i), 0, 1000);
  };
  const PurgeProgress p = purge(s, o, ev);
  CHECK(p.removed_items == 1);
  CHECK(p.batches == 10);             // one per candidate of the first snapshot
  CHECK(item_names(s).size() == 50);  // the removed one was recreated by its decider
  ReadTxn t = s.read();
  for (int i = 0; i < 50; ++i) CHECK(t.item(fmt::format("k{}", i))->used == 1000);
}

TEST_CASE("Purge runs while other processes decide", "[purge][multiprocess]") {
  test::TempDir dir;
  const std::string path = dir.file("s");
  put_items(Store(path), 3000, "old-", 100);
  pid_t kids[2];
  for (int k = 0; k < 2; ++k) {
    kids[k] = test::spawn_child([&] {
      const Store mine(path);
      for (int i = 0; i < 1500; ++i) decide(mine, "old-" + std::to_string(k * 1500 + i), 0, 1000);
    });
    REQUIRE(kids[k] >= 0);
  }
  PurgeOptions o;
  o.cutoff = 500;
  purge(Store(path), o);
  for (pid_t k : kids) CHECK(test::wait_child(k) == 0);
  // Every key was used at 1000 by a decider: whether purge came first (and
  // the decider recreated it) or second (and purge kept it), it is there.
  ReadTxn t = Store(path).read();
  for (int i = 0; i < 3000; ++i) {
    const auto r = t.item("old-" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->used == 1000);
  }
}

TEST_CASE("Listings filter by prefix, age and state, across chunks", "[listing]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  put_items(s, 120, "a", 100);
  put_items(s, 5, "b", 300);
  const std::string long_b = "b" + std::string(600, 'x');
  {
    WriteTxn t = s.write();
    t.put_item("", ItemRecord{1, 1, 0, {}});
    t.put_item(long_b, ItemRecord{1, 700, 2, {}});
    t.put_item(std::string(600, 'a'), ItemRecord{1, 700, 0, {}});
    t.commit();
  }
  const BulkLimits tiny{std::chrono::milliseconds(10), 1000, 3};
  CHECK(item_names(s, {}, tiny).size() == 128);
  ListFilter f;
  f.prefix = "b";
  auto b = item_names(s, f, tiny);
  CHECK(b.size() == 6);
  CHECK(b.count(long_b) == 1);
  f.prefix = "b1";
  CHECK(item_names(s, f, tiny) == std::set<std::string>{"b1"});
  f.prefix = "a1";
  CHECK(item_names(s, f, tiny).size() == 31);  // a1, a10..a19, a100..a119
  f.prefix = long_b;                           // longer than a verbatim key can be
  CHECK(item_names(s, f) == std::set<std::string>{long_b});
  f = {};
  f.used_before = 300;
  CHECK(item_names(s, f).size() == 121);
  f = {};
  f.used_since = 300;
  f.state = ItemState::kPassed;
  CHECK(item_names(s, f) == std::set<std::string>{long_b});
  // Stopping early stops.
  int seen = 0;
  for_each_item(
      s, {}, [&](const ItemView&) { return ++seen < 10; }, tiny);
  CHECK(seen == 10);

  const StoreSummary sum = summarize(s, tiny);
  CHECK(sum.items == 128);
  CHECK(sum.passed == 1);
  CHECK(sum.waiting == 127);
  CHECK(sum.whitelist == 0);
  CHECK(sum.item_used == TimeRange{1, 700});
  CHECK_FALSE(sum.whitelist_used);
}

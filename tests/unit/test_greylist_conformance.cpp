// SPDX-License-Identifier: GPL-2.0-or-later
// The conformance cases of the Perl module Exim::Grey's behaviour (the cases
// exigrey-acl(7) describes under unseen and COMPATIBILITY),
// one TEST_CASE per case, with an injected clock.
#include <catch2/catch.hpp>

#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1700000000;

struct Grey {
  test::TempDir dir;
  Store store{dir.file("seen")};
  ManualClock clock{t0};

  bool unseen(std::string_view key, std::int64_t delay = 600) {
    return exigrey::unseen(decide(store, key, delay, clock.now()));
  }
  bool seen(std::string_view key, std::int64_t delay = 600) {
    return exigrey::seen(decide(store, key, delay, clock.now()));
  }
  std::optional<ItemRecord> item(std::string_view name) { return store.read().item(name); }
  std::optional<WhitelistEntry> wl(std::string_view s) { return store.read().whitelisted(s); }
  void at(UnixTime t) { clock.set(t); }
};

ItemRecord rec(UnixTime c, UnixTime u, std::uint32_t n, std::optional<std::string> first = {}) {
  return ItemRecord{c, u, n, std::move(first)};
}

}  // namespace

TEST_CASE("1: a first sighting defers and records now now 0", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k"));
  CHECK(g.item("k") == rec(t0, t0, 0));
}

TEST_CASE("2: a retry before the delay defers and leaves the record unchanged", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k"));
  g.at(t0 + 599);
  CHECK(g.unseen("k"));
  CHECK(g.item("k") == rec(t0, t0, 0));
}

TEST_CASE("3: a retry at exactly the delay passes and counts the pass", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k"));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen("k"));
  CHECK(g.item("k") == rec(t0, t0 + 600, 1));
}

TEST_CASE("4: there is no retry window; a much later call passes again", "[conformance]") {
  Grey g;
  g.unseen("k");
  g.at(t0 + 600);
  g.unseen("k");
  g.at(t0 + 10'000'000);
  CHECK_FALSE(g.unseen("k"));
  CHECK(g.item("k") == rec(t0, t0 + 10'000'000, 2));
}

TEST_CASE("5: delay 0 defers the first sighting only", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k", 0));
  CHECK_FALSE(g.unseen("k", 0));
}

TEST_CASE("6: a negative delay acts as 0", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k", -5));
  CHECK_FALSE(g.unseen("k", -5));
}

TEST_CASE("7: seen is unseen reversed", "[conformance]") {
  Grey g;
  CHECK_FALSE(g.seen("k"));
  g.at(t0 + 600);
  CHECK(g.seen("k"));
}

TEST_CASE("8: unseen and seen share one record", "[conformance]") {
  Grey g;
  CHECK(g.unseen("k"));
  g.at(t0 + 600);
  CHECK(g.seen("k"));
}

TEST_CASE("9: a key with several slashes splits at the first", "[conformance]") {
  Grey g;
  CHECK(g.unseen("a/b/c"));
  CHECK(g.item("a") == rec(t0, t0, 0, "b/c"));
}

TEST_CASE("10: a trailing slash is part of the item", "[conformance]") {
  Grey g;
  CHECK(g.unseen("a/"));
  CHECK(g.item("a/") == rec(t0, t0, 0));
  CHECK_FALSE(g.item("a"));
}

TEST_CASE("11: the empty item is a valid record", "[conformance]") {
  Grey g;
  CHECK(g.unseen("/x"));
  CHECK(g.item("") == rec(t0, t0, 0, "x"));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen("/x"));
}

TEST_CASE("12: a pass whitelists the first and the current suffix", "[conformance]") {
  Grey g;
  CHECK(g.unseen("a->b/x"));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen("a->b/y"));
  g.at(t0 + 601);
  CHECK_FALSE(g.unseen("c->b/x"));
  g.at(t0 + 602);
  CHECK_FALSE(g.unseen("d->b/y"));
  CHECK_FALSE(g.item("c->b"));
  CHECK_FALSE(g.item("d->b"));
  CHECK(g.wl("x") == WhitelistEntry{t0 + 600, t0 + 600});
  CHECK(g.wl("y") == WhitelistEntry{t0 + 600, t0 + 600});
}

TEST_CASE("13: nothing is whitelisted before a pass", "[conformance]") {
  Grey g;
  CHECK(g.unseen("a->b/x"));
  g.at(t0 + 1);
  CHECK(g.unseen("c->d/x"));
  CHECK_FALSE(g.wl("x"));
}

TEST_CASE("13b: too-early retries do not whitelist their suffix", "[conformance]") {
  Grey g;
  g.unseen("a->b/x");
  g.at(t0 + 10);
  g.unseen("a->b/z");
  g.at(t0 + 600);
  g.unseen("a->b/y");
  CHECK(g.wl("x"));
  CHECK(g.wl("y"));
  CHECK_FALSE(g.wl("z"));
}

TEST_CASE("14: an item without a suffix is never checked against the whitelist", "[conformance]") {
  Grey g;
  g.unseen("a->b/x");
  g.at(t0 + 600);
  g.unseen("a->b/y");
  CHECK_FALSE(g.unseen("e->f/x"));
  CHECK_FALSE(g.item("e->f"));
  CHECK(g.unseen("e->f"));
  CHECK(g.item("e->f") == rec(t0 + 600, t0 + 600, 0));
}

TEST_CASE("15: a pass drops the recorded first suffix", "[conformance]") {
  Grey g;
  g.unseen("a->b/x");
  g.at(t0 + 600);
  g.unseen("a->b/y");
  CHECK(g.item("a->b") == rec(t0, t0 + 600, 1));
}

TEST_CASE("16: a pass without a suffix still whitelists the first suffix", "[conformance]") {
  Grey g;
  CHECK(g.unseen("a->b/x"));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen("a->b"));
  CHECK(g.wl("x") == WhitelistEntry{t0 + 600, t0 + 600});
}

TEST_CASE("17: separate DBs keep separate records", "[conformance]") {
  test::TempDir dir;
  Store one(dir.file("one")), two(dir.file("two"));
  CHECK(unseen(decide(one, "k", 600, t0)));
  CHECK(unseen(decide(two, "k", 600, t0)));
  CHECK(one.read().item("k"));
  CHECK(two.read().item("k"));
}

TEST_CASE("19: a store that cannot be opened is an error, never a verdict", "[conformance]") {
  test::TempDir dir;
  Store missing_dir(dir.file("no/such/dir/seen"));
  CHECK_THROWS_AS(decide(missing_dir, "k", 600, t0), StoreError);
}

TEST_CASE("20 (in-process part): concurrent first sightings create one record", "[conformance]") {
  // The multi-process version is in test_multiprocess.cpp.
  Grey g;
  CHECK(g.unseen("k"));
  CHECK(g.unseen("k"));
  CHECK(g.item("k") == rec(t0, t0, 0));
}

TEST_CASE("21: a delay of 10m is 600 seconds", "[conformance]") {
  Grey g;
  const auto d = parse_duration("10m");
  CHECK(g.unseen("k", d));
  g.at(t0 + 599);
  CHECK(g.unseen("k", d));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen("k", d));
}

TEST_CASE("22: a delay of 1h30m is 5400 seconds", "[conformance]") {
  Grey g;
  const auto d = parse_duration("1h30m");
  CHECK(g.unseen("k", d));
  g.at(t0 + 5399);
  CHECK(g.unseen("k", d));
  g.at(t0 + 5400);
  CHECK_FALSE(g.unseen("k", d));
}

TEST_CASE("23: a garbage or empty delay is an error and writes no record", "[conformance]") {
  // The delay is parsed before the store is touched (the plugin parses
  // its arguments first); here: parsing fails, so decide() is never called.
  CHECK_THROWS_AS(parse_duration("abc"), UsageError);
  CHECK_THROWS_AS(parse_duration(""), UsageError);
}

TEST_CASE("24: a whitelist hit refreshes last_used only when older than 60 s", "[conformance]") {
  Grey g;
  g.unseen("a->b/x");
  g.at(t0 + 600);
  g.unseen("a->b/y");
  g.at(t0 + 620);
  const auto r1 = decide(g.store, "g->h/x", 600, g.clock.now());
  CHECK_FALSE(unseen(r1));
  CHECK_FALSE(r1.wrote);  // read transaction only
  CHECK(g.wl("x")->last_used == t0 + 600);
  g.at(t0 + 660);  // exactly 60 s: not more than 60
  CHECK_FALSE(g.unseen("g->h/x"));
  CHECK(g.wl("x")->last_used == t0 + 600);
  g.at(t0 + 661);
  const auto r2 = decide(g.store, "g->h/x", 600, g.clock.now());
  CHECK_FALSE(unseen(r2));
  CHECK(r2.wrote);
  CHECK(g.wl("x") == WhitelistEntry{t0 + 600, t0 + 661});
  CHECK_FALSE(g.item("g->h"));
}

TEST_CASE("A record from the future (clock stepped back) counts as too early", "[conformance]") {
  Grey g;
  g.unseen("k");
  g.at(t0 - 100);
  CHECK(g.unseen("k", 0));
  CHECK(g.item("k") == rec(t0, t0, 0));
}

TEST_CASE("Too-early and fresh whitelisted decisions take no write transaction", "[conformance]") {
  Grey g;
  const auto first = decide(g.store, "a/x", 600, g.clock.now());
  CHECK(first.reason == Reason::kNew);
  CHECK(first.wrote);
  CHECK(first.wait == 600);
  g.at(t0 + 100);
  const auto early = decide(g.store, "a/x", 600, g.clock.now());
  CHECK(early.reason == Reason::kTooEarly);
  CHECK_FALSE(early.wrote);
  CHECK(early.wait == 500);
  g.at(t0 + 600);
  const auto pass = decide(g.store, "a/x", 600, g.clock.now());
  CHECK(pass.reason == Reason::kPassed);
  CHECK(pass.wrote);
  const auto wl = decide(g.store, "b/x", 600, g.clock.now());
  CHECK(wl.reason == Reason::kWhitelisted);
  CHECK_FALSE(wl.wrote);
}

TEST_CASE("check() gives unseen's verdict without changing anything", "[conformance]") {
  Grey g;
  CHECK(check(g.store, "a/x", 600, t0).reason == Reason::kNew);
  CHECK_FALSE(g.item("a"));
  g.unseen("a/x");
  CHECK(check(g.store, "a/x", 600, t0 + 599).reason == Reason::kTooEarly);
  CHECK(check(g.store, "a/x", 600, t0 + 600).reason == Reason::kPassed);
  CHECK(g.item("a") == rec(t0, t0, 0, "x"));
  CHECK_FALSE(g.wl("x"));
}

TEST_CASE("Keys longer than LMDB's key limit work like any other", "[conformance]") {
  Grey g;
  const std::string item(5000, 'i');
  const std::string suffix(3000, 's');
  const std::string key = item + "/" + suffix;
  CHECK(g.unseen(key));
  CHECK(g.item(item) == rec(t0, t0, 0, suffix));
  g.at(t0 + 600);
  CHECK_FALSE(g.unseen(key));
  CHECK(g.wl(suffix));
  CHECK_FALSE(g.unseen("other/" + suffix));
  // Both appear in a scan under their full names.
  std::vector<std::string> names;
  g.store.read().scan_items("", [&](const ItemView& v) {
    names.emplace_back(v.name);
    return true;
  });
  CHECK(names == std::vector<std::string>{item});
}

// Beyond Exim::Grey: what the plugin's `decide`, its log lines and
// `exigrey report` need.
TEST_CASE("The pass that ends the delay says how long; later passes do not", "[conformance]") {
  Grey g;
  decide(g.store, "a/x", 600, g.clock.now());
  g.at(t0 + 372);
  const auto early = check(g.store, "a/y", 300, g.clock.now());
  CHECK(early.reason == Reason::kPassed);
  CHECK(early.delayed == 372);  // check() says what a decision would
  CHECK(early.passes == 1);
  const auto pass = decide(g.store, "a/y", 300, g.clock.now());
  CHECK(pass.reason == Reason::kPassed);
  CHECK(pass.delayed == 372);
  CHECK(pass.passes == 1);
  g.at(t0 + 5000);
  const auto again = decide(g.store, "a/z", 300, g.clock.now());
  CHECK(again.reason == Reason::kPassed);
  CHECK_FALSE(again.delayed.has_value());
  CHECK(again.passes == 2);
  const auto wl = decide(g.store, "b/z", 300, g.clock.now());
  CHECK(wl.reason == Reason::kWhitelisted);
  CHECK_FALSE(wl.delayed.has_value());
}

TEST_CASE("whitelist_suffix adds, refreshes after 60 s, and whitelisted_suffix refreshes hits",
          "[conformance]") {
  Grey g;
  CHECK_FALSE(whitelisted_suffix(g.store, "bob@example.org", g.clock.now()));
  CHECK_FALSE(g.wl("bob@example.org"));
  CHECK(whitelist_suffix(g.store, "bob@example.org", g.clock.now()) == WhitelistChange::kAdded);
  CHECK(g.wl("bob@example.org") == WhitelistEntry{t0, t0});
  g.at(t0 + 60);
  CHECK(whitelist_suffix(g.store, "bob@example.org", g.clock.now()) == WhitelistChange::kFresh);
  CHECK(g.wl("bob@example.org") == WhitelistEntry{t0, t0});
  g.at(t0 + 61);
  CHECK(whitelist_suffix(g.store, "bob@example.org", g.clock.now()) == WhitelistChange::kRefreshed);
  CHECK(g.wl("bob@example.org") == WhitelistEntry{t0, t0 + 61});
  g.at(t0 + 200);
  CHECK(whitelisted_suffix(g.store, "bob@example.org", g.clock.now()));
  CHECK(g.wl("bob@example.org") == WhitelistEntry{t0, t0 + 200});
  // The entry passes a decision at once and the item is not touched.
  CHECK_FALSE(g.unseen("anything/bob@example.org"));
  CHECK_FALSE(g.item("anything"));
  CHECK_THROWS_AS(whitelist_suffix(g.store, "", g.clock.now()), UsageError);
  CHECK_THROWS_AS(whitelisted_suffix(g.store, std::string(kMaxNameBytes + 1, 's'), g.clock.now()),
                  UsageError);
}

// SPDX-License-Identifier: GPL-2.0-or-later
// The clock jumping backwards and forwards, with the
// injected clock. The rule (docs/reliability.md, "Clock steps"):
//   - a pass needs now - created >= delay on the stored timestamps; nothing
//     else can tell how much real time went by;
//   - a record created in the future by up to kFutureTolerance is too early
//     and left alone (Exim::Grey's rule); further in the future it is
//     re-anchored to now, so the sender waits `delay` from now, not years;
//   - a whitelist entry last used far in the future is refreshed to now;
//   - listings, summaries and purge work with any timestamps; purge never
//     removes what was used after the cutoff, future times included;
//   - the collector clamps stored vote times to now when it applies a
//     report, and a vote more than `ttl` in the future does not count.
#include <catch2/catch.hpp>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <random>

#include "exigrey/clock.h"
#include "exigrey/greylist.h"
#include "exigrey/listing.h"
#include "exigrey/purge.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1'700'000'000;
constexpr std::int64_t kYear = 365 * 24 * 3600;
constexpr std::int64_t kDelay = 600;

struct Grey {
  test::TempDir dir;
  Store store{dir.file("seen")};
  Decision at(UnixTime now, std::string_view key, std::int64_t delay = kDelay) {
    return decide(store, key, delay, now);
  }
  std::optional<ItemRecord> item(std::string_view name) { return store.read().item(name); }
  std::optional<WhitelistEntry> wl(std::string_view s) { return store.read().whitelisted(s); }
};

}  // namespace

TEST_CASE("Clock stepped back an hour: too early until the stored delay is over, record kept",
          "[clock]") {
  Grey g;
  CHECK(g.at(t0, "k").reason == Reason::kNew);
  const auto d = g.at(t0 - 3600, "k");
  CHECK(d.reason == Reason::kTooEarly);
  CHECK_FALSE(d.wrote);
  CHECK(d.wait == 3600 + kDelay);
  CHECK(g.item("k") == ItemRecord{t0, t0, 0, std::nullopt});
  CHECK(g.at(t0 + kDelay - 1, "k").reason == Reason::kTooEarly);
  CHECK(g.at(t0 + kDelay, "k").reason == Reason::kPassed);
}

TEST_CASE("Forward ten years and back: the future record is re-anchored, not stuck for years",
          "[clock]") {
  Grey g;
  const UnixTime future = t0 + 10 * kYear;
  CHECK(g.at(future, "k/net").reason == Reason::kNew);
  // The clock is put right: the record is ten years ahead.
  const auto back = g.at(t0, "k/net");
  CHECK(back.verdict == Verdict::kDefer);
  CHECK(back.reason == Reason::kTooEarly);
  CHECK(back.wait == kDelay);
  CHECK(back.wrote);
  CHECK(g.item("k") == ItemRecord{t0, t0, 0, std::string("net")});
  // check() (the CLI's read-only verdict) agrees, and changes nothing.
  CHECK(check(g.store, "k/net", kDelay, t0 + 1).reason == Reason::kTooEarly);
  // From now on, the ordinary rule: it passes after `delay` of the new clock.
  CHECK(g.at(t0 + kDelay - 1, "k/net").reason == Reason::kTooEarly);
  CHECK(g.at(t0 + kDelay, "k/net").reason == Reason::kPassed);
  CHECK(g.wl("net"));
}

TEST_CASE("A whitelist entry from the far future is refreshed to now and can be purged later",
          "[clock]") {
  Grey g;
  const UnixTime future = t0 + 5 * kYear;
  g.at(future, "a/net");
  CHECK(g.at(future + kDelay, "a/net").reason == Reason::kPassed);
  REQUIRE(g.wl("net")->last_used == future + kDelay);
  const auto d = g.at(t0, "b/net");
  CHECK(d.reason == Reason::kWhitelisted);
  CHECK(d.wrote);
  CHECK(g.wl("net")->last_used == t0);
  // A month later a purge of what was unused for a week removes it.
  PurgeOptions o;
  o.cutoff = t0 + 30 * 86400 - 7 * 86400;
  const auto p = purge(g.store, o);
  CHECK(p.removed_whitelist == 1);
  CHECK_FALSE(g.wl("net"));
}

TEST_CASE("Listing, summary and purge with timestamps years ahead and behind", "[clock]") {
  Grey g;
  g.at(t0 - 20 * kYear, "old");
  g.at(t0, "now");
  g.at(t0 + 20 * kYear, "ahead");
  g.at(t0 + 100, "soon");
  const StoreSummary s = summarize(g.store);
  CHECK(s.items == 4);
  REQUIRE(s.item_created);
  CHECK(s.item_created->oldest == t0 - 20 * kYear);
  CHECK(s.item_created->newest == t0 + 20 * kYear);
  ListFilter f;
  f.used_before = t0;
  std::vector<std::string> names;
  for_each_item(g.store, f, [&](const ItemView& v) {
    names.emplace_back(v.name);
    return true;
  });
  CHECK(names == std::vector<std::string>{"old"});
  // purge --older-than 30d at t0: only what was used before t0 - 30d goes;
  // records "from the future" stay (they may be in use).
  PurgeOptions o;
  o.cutoff = t0 - 30 * 86400;
  CHECK(purge(g.store, o).removed_items == 1);
  CHECK_FALSE(g.item("old"));
  CHECK(g.item("ahead"));
  CHECK(g.item("soon"));
  // Once the record from the future is used again, it is re-anchored and
  // ages like any other.
  g.at(t0 + 200, "ahead");
  CHECK(g.item("ahead")->created == t0 + 200);
  o.cutoff = t0 + 1000;
  CHECK(purge(g.store, o).removed_items == 3);
}

TEST_CASE("Random clock walk: decisions stay within the rule, stepping back never passes early",
          "[clock]") {
  // Real time only moves forward; the wall clock is real time plus an offset
  // that jumps. Two runs: offsets that only step back (then a pass implies
  // `delay` of real time since the first sighting, whatever happened), and
  // offsets that jump both ways by up to years (then the stored-timestamp
  // rule holds, and no deferral is ever longer than delay + kFutureTolerance).
  for (const bool only_back : {true, false}) {
    INFO((only_back ? "steps back only" : "jumps both ways"));
    Grey g;
    std::mt19937_64 rng(only_back ? 1 : 2);
    UnixTime real = t0;
    std::int64_t offset = 0;
    std::map<std::string, UnixTime> first_real;  // key -> real time of its creation/re-anchor
    int passes = 0;
    for (int i = 0; i < 3000; ++i) {
      real += static_cast<std::int64_t>(rng() % 120);
      if (rng() % 50 == 0) {
        const std::int64_t sizes[] = {1, 60, 3600, 86400, 30 * 86400, kYear, 20 * kYear};
        const std::int64_t step = sizes[rng() % 7] * static_cast<std::int64_t>(1 + rng() % 3);
        offset += (only_back || rng() % 2 == 0) ? -step : step;
      }
      const UnixTime now = real + offset;
      const std::string key = "k" + std::to_string(rng() % 40);
      const auto before = g.item(key);
      const Decision d = g.at(now, key);
      const auto after = g.item(key);
      REQUIRE(after);
      switch (d.reason) {
        case Reason::kNew:
          CHECK_FALSE(before);
          first_real[key] = real;
          break;
        case Reason::kTooEarly:
          REQUIRE(before);
          CHECK(d.wait <= kDelay + kFutureTolerance);
          CHECK(d.wait > 0);
          if (d.wrote) first_real[key] = real;  // re-anchored
          CHECK(after->created <= now + kFutureTolerance);
          break;
        case Reason::kPassed:
          ++passes;
          REQUIRE(before);
          CHECK(now - before->created >= kDelay);
          if (only_back) CHECK(real - first_real[key] >= kDelay);
          break;
        case Reason::kWhitelisted:
          FAIL("no suffixes in this test");
      }
    }
    CHECK(passes > 100);  // the walk did exercise passes
    // And everything still lists and purges.
    CHECK(summarize(g.store).items == 40);
    PurgeOptions o;
    o.cutoff = std::numeric_limits<UnixTime>::max();
    CHECK(purge(g.store, o).removed_items == 40);
  }
}

TEST_CASE("Collector: votes cast while the clock ran years ahead do not list after it is put right",
          "[clock][reputation]") {
  ListingPolicy policy;
  policy.min_reporters = 2;
  const Subject s = parse_subject("23.45.67.89");
  const UnixTime future = t0 + 10 * kYear;
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "mx1", 0, future, policy.ttl);
  apply_report(r, Verb::kBlack, "mx2", 0, future, policy.ttl);
  CHECK(assess(s, r, policy, future).black_listed);
  // Back to the right time: these votes are ten years ahead.
  const Assessment back = assess(s, r, policy, t0);
  CHECK_FALSE(back.black_listed);
  CHECK(back.black_votes == 0);
  // A vote a little ahead (less than ttl) still counts, with weight at most 1.
  SubjectRecord near;
  apply_report(near, Verb::kBlack, "mx1", 0, t0 + 600, policy.ttl);
  apply_report(near, Verb::kBlack, "mx2", 0, t0 + 600, policy.ttl);
  const Assessment a = assess(s, near, policy, t0);
  CHECK(a.black_listed);
  CHECK(a.black_weight <= 2.0);
  // A new report re-anchors the stored times to now: the old votes then
  // expire ttl after now, not ten years later.
  apply_report(r, Verb::kBlack, "mx3", 0, t0, policy.ttl);
  for (const Vote& v : r.votes) CHECK(v.last_black <= t0);
  CHECK(r.last_seen <= t0);
  CHECK(assess(s, r, policy, t0).black_listed);
  CHECK_FALSE(assess(s, r, policy, t0 + policy.ttl + 1).black_listed);
}

TEST_CASE("Collector: a jump forward of years expires every vote, weights stay finite",
          "[clock][reputation]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ListingPolicy policy;
  policy.min_reporters = 1;
  std::vector<IncomingReport> reports;
  for (int i = 0; i < 3; ++i) {
    reports.push_back({Report{Verb::kBlack, parse_subject("23.45.67." + std::to_string(i)), "", t0},
                       "mx" + std::to_string(i)});
  }
  store.apply(reports, t0, policy.ttl);
  CHECK(collect_listings(store, policy, t0).black.size() == 3);
  const ListingSet later = collect_listings(store, policy, t0 + 30 * kYear);
  CHECK(later.black.empty());
  CHECK(later.subjects == 3);
  // Back again: listed as before (the votes are exactly as old as they were).
  CHECK(collect_listings(store, policy, t0 + 10).black.size() == 3);
  // Far behind (the votes are more than ttl in the future): not listed.
  CHECK(collect_listings(store, policy, t0 - kYear).black.empty());
  for (const UnixTime now : {t0 - 50 * kYear, t0, t0 + 50 * kYear}) {
    const auto rec = store.get(parse_subject("23.45.67.0"));
    REQUIRE(rec);
    const Assessment a = assess(parse_subject("23.45.67.0"), *rec, policy, now);
    CHECK(std::isfinite(a.black_weight));
    CHECK(a.black_weight <= 1.0);
  }
  // Pruning by a cutoff years ahead removes everything, and nothing breaks.
  CHECK(store.prune(t0 + 30 * kYear, t0 + 30 * kYear, 100) == 3);
  CHECK(collect_listings(store, policy, t0).subjects == 0);
}

// SystemClock must never be behind CLOCK_REALTIME, the clock other programs
// (Python's time.time(), date, a client's own timestamps) read: time(2) is,
// for up to a tick after each second boundary. Watched across one boundary.
TEST_CASE("SystemClock is never behind CLOCK_REALTIME, across a second boundary", "[clock]") {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const std::time_t start = ts.tv_sec;
  long behind = 0;
  long reads = 0;
  // Until 50 ms past the next boundary: at most 1.05 s.
  while (ts.tv_sec == start || ts.tv_nsec < 50'000'000) {
    ::clock_gettime(CLOCK_REALTIME, &ts);
    const UnixTime ours = SystemClock::instance().now();
    ++reads;
    if (ours < ts.tv_sec) ++behind;
  }
  INFO(reads << " reads");
  CHECK(behind == 0);
}

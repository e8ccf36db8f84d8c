// SPDX-License-Identifier: GPL-2.0-or-later
// The incremental publish (listing_index.h, evaluate_subjects, the store's
// touch log): what it keeps in memory must always equal what a full scan of
// the store would publish. Driven by an explicit clock.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "exigrey/listing_index.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"
#include "support/reports.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'700'000'000;

Listing listing(std::string_view subject, unsigned reporters, Rule rule = Rule::kVotes) {
  return Listing{parse_subject(subject), reporters, kT0, {}, rule == Rule::kBanned, rule};
}

std::vector<std::string> texts(const std::vector<Listing>& ls) {
  std::vector<std::string> out;
  for (const Listing& l : ls) out.push_back(l.subject.text);
  return out;
}

}  // namespace

TEST_CASE("ListingIndex: update reports what changed, and only that", "[index]") {
  ListingIndex index;
  const Subject a = parse_subject("11.22.33.44");
  const Subject n = parse_subject("bad.example.net");
  const Subject v6 = parse_subject("2001:db8::1");
  std::vector<Subject> both = {a, n};
  auto c =
      index.update(both, std::vector{listing("11.22.33.44", 2), listing("bad.example.net", 3)}, {});
  REQUIRE(c.size() == 2);
  CHECK(!c[0].before);
  CHECK(c[0].after->subject == a);
  CHECK(index.size(Verb::kBlack) == 2);
  CHECK(index.size(Verb::kBlack, ZoneFileKind::kIp4) == 1);
  CHECK(index.size(Verb::kBlack, ZoneFileKind::kNames) == 1);
  // The same again: nothing changed.
  CHECK(
      index.update(both, std::vector{listing("11.22.33.44", 2), listing("bad.example.net", 3)}, {})
          .empty());
  // One changes, one is no longer listed, a third is not looked at.
  std::vector<Subject> three = {a, n, v6};
  c = index.update(std::vector<Subject>{a, n}, std::vector{listing("11.22.33.44", 3)},
                   std::vector{listing("bad.example.net", 2)});
  REQUIRE(c.size() == 3);  // a changed; n left black and entered white
  CHECK(c[0].list == Verb::kBlack);
  CHECK(c[0].before->reporters == 2);
  CHECK(c[0].after->reporters == 3);
  CHECK(c[1].list == Verb::kBlack);
  CHECK(!c[1].after);
  CHECK(c[2].list == Verb::kWhite);
  CHECK(index.size(Verb::kBlack) == 1);
  CHECK(index.size(Verb::kWhite) == 1);
  // Counts by rule follow.
  index.update(
      three,
      std::vector{listing("11.22.33.44", 3, Rule::kHeld), listing("2001:db8::1", 1, Rule::kBanned)},
      {});
  CHECK(index.black_by(Rule::kHeld) == 1);
  CHECK(index.black_by(Rule::kBanned) == 1);
  CHECK(index.black_by(Rule::kVotes) == 0);
  CHECK(index.size(Verb::kWhite) == 0);
}

TEST_CASE("ListingIndex: replace finds every difference by one merge", "[index]") {
  ListingIndex index;
  index.replace(
      std::vector{listing("1.2.3.4", 2), listing("1.2.3.5", 2), listing("x.example.net", 2)}, {});
  const auto c = index.replace(
      std::vector{listing("1.2.3.5", 3), listing("1.2.3.6", 2), listing("x.example.net", 2)},
      std::vector{listing("9.9.9.9", 2)});
  REQUIRE(c.size() == 4);  // 1.2.3.4 gone, 1.2.3.5 changed, 1.2.3.6 new, white 9.9.9.9 new
  CHECK(c[0].before->subject.text == "1.2.3.4");
  CHECK(!c[0].after);
  CHECK(c[1].after->reporters == 3);
  CHECK(!c[2].before);
  CHECK(c[3].list == Verb::kWhite);
  CHECK(texts(index.listings(Verb::kBlack)) ==
        std::vector<std::string>{"1.2.3.5", "1.2.3.6", "x.example.net"});
  CHECK(index.black_by(Rule::kVotes) == 3);
}

TEST_CASE("ExpiryIndex: the due subjects in time order, each once", "[index]") {
  ExpiryIndex e;
  const Subject a = parse_subject("1.2.3.4");
  const Subject b = parse_subject("b.example.net");
  const Subject c = parse_subject("2001:db8::1");
  e.set(a, kT0 + 10);
  e.set(b, kT0 + 5);
  e.set(c, kT0 + 20);
  e.set(a, kT0 + 30);      // moved
  e.set(c, std::nullopt);  // cleared
  CHECK(e.size() == 2);
  CHECK(e.earliest() == kT0 + 5);
  CHECK(e.due(kT0 + 4).empty());
  CHECK(e.due(kT0 + 29) == std::vector<Subject>{b});
  CHECK(e.earliest() == kT0 + 30);
  CHECK(e.due(kT0 + 100) == std::vector<Subject>{a});
  CHECK(!e.earliest());
  CHECK(e.size() == 0);
}

TEST_CASE("The touch log names what operator commands changed, and says when it is lost",
          "[index]") {
  test::TempDir dir;
  ReputationStore store(dir.file("reputation"));
  const auto g0 = store.generation();
  store.update(parse_subject("1.2.3.4"), [](SubjectRecord& r) { r.ban_until = kT0; });
  store.update(parse_subject("x.example.net"), [](SubjectRecord& r) { r.ban_until = kT0; });
  auto t = store.touched_since(g0);
  CHECK(t.complete);
  CHECK(t.generation == g0 + 2);
  CHECK(t.subjects ==
        std::vector<Subject>{parse_subject("1.2.3.4"), parse_subject("x.example.net")});
  CHECK(store.touched_since(t.generation).subjects.empty());
  CHECK(store.touched_since(g0 + 1).subjects ==
        std::vector<Subject>{parse_subject("x.example.net")});
  for (int i = 0; i < 4100; ++i) {
    store.update(parse_subject("1.2.3.5"), [](SubjectRecord& r) { r.ban_until = kT0; });
  }
  CHECK(!store.touched_since(g0).complete);  // the oldest entries are gone
  const auto recent = store.touched_since(store.generation() - 10);
  CHECK(recent.complete);
  CHECK(recent.subjects.size() == 10);
  // The log is not counted as subjects.
  CHECK(store.totals().subjects == 3);
}

TEST_CASE("An incremental publish always equals a full scan of the store", "[index]") {
  // Random reports, white and black, from a few reporters, operator bans and
  // delistings, the clock moving on: after every step, what the incremental
  // publisher keeps must be exactly what a full scan would publish, and the
  // full scan must find no transition left to record.
  const std::uint32_t seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  std::mt19937 rng(seed);
  test::TempDir dir;
  ReputationStore store(dir.file("reputation"));
  ListingPolicy p;
  p.min_reporters = 2;
  p.ttl = 600;
  p.decay = 300;
  p.hold = 100;
  p.hold_max = 800;
  p.offense_memory = 3000;
  const std::vector<std::string> subjects = {
      "11.0.0.1",    "11.0.0.2",      "11.0.0.3",      "12.1.1.1",      "2001:db8::1",
      "2001:db8::2", "a.example.net", "b.example.net", "c.example.net", "13.0.0.9"};
  const std::vector<std::string> reporters = {"r1", "r2", "r3", "r4"};
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };

  ListingIndex index;
  ExpiryIndex expiry;
  UnixTime now = kT0;
  std::uint64_t generation = store.generation();
  std::size_t incremental_changes = 0;
  for (int step = 0; step < 300; ++step) {
    now += static_cast<UnixTime>(pick(150));
    std::vector<Subject> dirty;
    std::vector<IncomingReport> reports;
    const std::size_t n = pick(4);
    for (std::size_t i = 0; i < n; ++i) {
      const Verb verb = pick(5) == 0 ? Verb::kWhite : Verb::kBlack;
      reports.push_back(
          test::incoming(verb, subjects[pick(subjects.size())], reporters[pick(4)], now));
      dirty.push_back(reports.back().report.subject);
    }
    if (!reports.empty()) store.apply(reports, now, p.ttl);
    if (pick(20) == 0) {  // the operator
      const Subject s = parse_subject(subjects[pick(subjects.size())]);
      const bool ban = pick(2) == 0;
      const UnixTime until = now + static_cast<UnixTime>(pick(400));
      store.update(s, [&](SubjectRecord& r) {
        if (ban) {
          r.ban_until = until;
        } else {
          r.ban_until = 0;
          r.delisted_at = now;
          r.exempt_until = until;
        }
      });
    }
    const auto touched = store.touched_since(generation);
    REQUIRE(touched.complete);
    generation = touched.generation;
    dirty.insert(dirty.end(), touched.subjects.begin(), touched.subjects.end());

    // The incremental publish, as the publisher does it.
    for (Subject& s : expiry.due(now)) dirty.push_back(std::move(s));
    std::sort(dirty.begin(), dirty.end(), [](const Subject& x, const Subject& y) {
      return std::tie(x.kind, x.text) < std::tie(y.kind, y.text);
    });
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    const ListingSet set = evaluate_subjects(store, dirty, p, now);
    for (const Subject& s : dirty) expiry.set(s, std::nullopt);
    for (const auto& [s, at] : set.timers) expiry.set(s, at);
    incremental_changes += index.update(dirty, set.black, set.white).size();
    record_transitions(store, set.transitions, p, now);

    // The full scan.
    const ListingSet full = collect_listings(store, p, now);
    INFO("seed " << seed << " step " << step << " at +" << (now - kT0) << " s");
    CHECK(full.transitions.empty());
    CHECK(index.listings(Verb::kBlack) == full.black);
    CHECK(index.listings(Verb::kWhite) == full.white);
    // (The timers may differ: a full scan also names the hold that a
    // listing by votes has just been given, which matters only once the
    // votes expire; the evaluation at that expiry sets it.)
  }
  CHECK(incremental_changes > 20);  // the walk did list and unlist
}

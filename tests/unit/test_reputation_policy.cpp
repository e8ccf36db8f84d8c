// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/error.h"
#include "exigrey/reputation_policy.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'700'000'000;

ListingPolicy policy(unsigned min_reporters = 2, std::int64_t ttl = 3600,
                     std::int64_t decay = 1800) {
  ListingPolicy p;
  p.min_reporters = min_reporters;
  p.ttl = ttl;
  p.decay = decay;
  return p;
}

// Drives a record the way the store does, with a manual clock.
struct Subjectish {
  Subject subject;
  SubjectRecord record;
  void report(Verb verb, std::string_view reporter, const Clock& clock, std::int64_t ttl) {
    apply_report(record, verb, reporter, clock.now(), clock.now(), ttl);
  }
};

}  // namespace

TEST_CASE("A subject is listed once enough distinct reporters say black", "[policy]") {
  ManualClock clock(kT0);
  const ListingPolicy p = policy();
  Subjectish s{parse_subject("11.22.33.44"), {}};
  s.report(Verb::kBlack, "plain:127.0.0.2", clock, p.ttl);
  s.report(Verb::kBlack, "plain:127.0.0.2", clock, p.ttl);
  Assessment a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_votes == 1);
  CHECK_FALSE(a.black_listed);
  clock.advance(10);
  s.report(Verb::kBlack, "plain:127.0.0.3", clock, p.ttl);
  a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_votes == 2);
  CHECK(a.black_listed);
  CHECK_FALSE(a.white_listed);
  CHECK(a.next_change == kT0 + p.ttl + 1);  // the first vote expires first

  // A single-site setup lists on one reporter.
  CHECK(assess(s.subject, s.record, policy(1), clock.now()).black_listed);
}

TEST_CASE("Listings expire ttl after the last report that counts", "[policy]") {
  ManualClock clock(kT0);
  const ListingPolicy p = policy(2, 600, 0);
  Subjectish s{parse_subject("2a00:1450:4001::99"), {}};
  s.report(Verb::kBlack, "a", clock, p.ttl);
  clock.advance(100);
  s.report(Verb::kBlack, "b", clock, p.ttl);
  clock.set(kT0 + 600);
  CHECK(assess(s.subject, s.record, p, clock.now()).black_listed);
  clock.set(kT0 + 601);  // a's vote has expired
  Assessment a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_votes == 1);
  CHECK_FALSE(a.black_listed);
  CHECK(a.next_change == kT0 + 100 + 601);
  clock.set(kT0 + 100 + 601);
  a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_votes == 0);
  CHECK_FALSE(a.next_change.has_value());
}

TEST_CASE("White reports count against a black listing", "[policy]") {
  ManualClock clock(kT0);
  const ListingPolicy p = policy(2, 86400, 3600);
  Subjectish s{parse_subject("bad-sender.xyz"), {}};
  s.report(Verb::kBlack, "a", clock, p.ttl);
  s.report(Verb::kBlack, "b", clock, p.ttl);
  s.report(Verb::kWhite, "c", clock, p.ttl);
  Assessment a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_listed);  // 2 against 1
  CHECK(a.black_weight == Approx(2.0));
  CHECK(a.white_weight == Approx(1.0));
  s.report(Verb::kWhite, "d", clock, p.ttl);
  a = assess(s.subject, s.record, p, clock.now());
  CHECK_FALSE(a.black_listed);  // 2 against 2
  CHECK_FALSE(a.white_listed);

  // An hour later (one half-life) two fresh white votes outweigh two old black ones.
  ManualClock later(kT0);
  Subjectish t{parse_subject("11.22.33.45"), {}};
  t.report(Verb::kBlack, "a", later, p.ttl);
  t.report(Verb::kBlack, "b", later, p.ttl);
  later.advance(3600);
  t.report(Verb::kWhite, "c", later, p.ttl);
  t.report(Verb::kWhite, "d", later, p.ttl);
  a = assess(t.subject, t.record, p, later.now());
  CHECK(a.black_weight == Approx(1.0));
  CHECK(a.white_weight == Approx(2.0));
  CHECK_FALSE(a.black_listed);
  CHECK(a.white_listed);
}

TEST_CASE("A reporter that changes its mind votes once, for its latest verb", "[policy]") {
  ManualClock clock(kT0);
  const ListingPolicy p = policy(1);
  Subjectish s{parse_subject("11.22.33.44"), {}};
  s.report(Verb::kBlack, "a", clock, p.ttl);
  CHECK(assess(s.subject, s.record, p, clock.now()).black_listed);
  clock.advance(5);
  s.report(Verb::kWhite, "a", clock, p.ttl);
  const Assessment a = assess(s.subject, s.record, p, clock.now());
  CHECK(a.black_votes == 0);
  CHECK(a.white_votes == 1);
  CHECK_FALSE(a.black_listed);
  CHECK(a.white_listed);
}

TEST_CASE("Reserved and whitelisted subjects are never black-listed", "[policy]") {
  ListingPolicy p = policy(1);
  p.whitelist_networks.add(parse_cidr("11.22.0.0/16"));
  p.whitelist_domains.push_back("good.org");
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "a", kT0, kT0, p.ttl);
  for (const char* reserved :
       {"10.1.2.3", "192.0.2.77", "127.0.0.2", "::1", "fd00::5", "2001:db8::1", "localhost", "com",
        "foo.test", "x.example.com", "a.invalid", "printer.local", "4.3.2.1.in-addr.arpa"}) {
    INFO(reserved);
    const Subject s = parse_subject(reserved);
    CHECK(is_reserved(s));
    CHECK(exclusion_of(s, p) == Exclusion::kReserved);
    CHECK_FALSE(assess(s, r, p, kT0).black_listed);
  }
  for (const char* white : {"11.22.33.44", "good.org", "mail.good.org"}) {
    INFO(white);
    const Subject s = parse_subject(white);
    CHECK_FALSE(is_reserved(s));
    CHECK(exclusion_of(s, p) == Exclusion::kWhitelisted);
    CHECK_FALSE(assess(s, r, p, kT0).black_listed);
  }
  for (const char* listed : {"11.23.0.1", "notgood.org", "good.org.evil.xyz", "2a00:1450::1"}) {
    INFO(listed);
    CHECK(assess(parse_subject(listed), r, p, kT0).black_listed);
  }
  // Whitelisted subjects may still be white-listed; reserved ones may not.
  SubjectRecord w;
  apply_report(w, Verb::kWhite, "a", kT0, kT0, p.ttl);
  CHECK(assess(parse_subject("11.22.33.44"), w, p, kT0).white_listed);
  CHECK_FALSE(assess(parse_subject("10.0.0.1"), w, p, kT0).white_listed);
  CHECK(to_string(Exclusion::kWhitelisted) == "whitelisted");
}

TEST_CASE("IPv4-mapped subjects become IPv4 subjects", "[policy]") {
  CHECK(canonical_subject(parse_subject("::ffff:11.22.33.44")) ==
        Subject{SubjectKind::kIPv4, "11.22.33.44"});
  CHECK(canonical_subject(parse_subject("2a00::1")) == parse_subject("2a00::1"));
  CHECK(canonical_subject(parse_subject("a.xyz")) == parse_subject("a.xyz"));
}

TEST_CASE("Policies out of bounds are refused", "[policy]") {
  CHECK_NOTHROW(check_policy(policy()));
  CHECK_THROWS_AS(check_policy(policy(0)), UsageError);
  CHECK_THROWS_AS(check_policy(policy(kMaxVotesPerSubject + 1)), UsageError);
  CHECK_THROWS_AS(check_policy(policy(2, 0)), UsageError);
  CHECK_THROWS_AS(check_policy(policy(2, 60, -1)), UsageError);
}

TEST_CASE("Listings come from the store with the earliest expiry", "[policy]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ManualClock clock(kT0);
  const ListingPolicy p = policy(2, 600, 0);
  auto rep = [&](Verb v, const char* subject, const char* who) {
    const std::vector<IncomingReport> one = {
        IncomingReport{Report{v, parse_subject(subject), {}, 0}, who}};
    store.apply(one, clock.now(), p.ttl);
  };
  rep(Verb::kBlack, "11.22.33.44", "a");
  rep(Verb::kBlack, "10.0.0.1", "a");
  rep(Verb::kBlack, "10.0.0.1", "b");
  clock.advance(30);
  rep(Verb::kBlack, "11.22.33.44", "b");
  rep(Verb::kBlack, "bad-sender.xyz", "a");
  rep(Verb::kBlack, "bad-sender.xyz", "b");
  rep(Verb::kWhite, "8.8.4.4", "a");
  rep(Verb::kWhite, "8.8.4.4", "c");
  ListingSet set = collect_listings(store, p, clock.now());
  REQUIRE(set.black.size() == 2);
  CHECK(set.black[0] == Listing{parse_subject("11.22.33.44"), 2, kT0, {}, false});
  CHECK(set.black[1] == Listing{parse_subject("bad-sender.xyz"), 2, kT0 + 30, {}, false});
  REQUIRE(set.white.size() == 1);
  CHECK(set.white[0].subject.text == "8.8.4.4");
  CHECK(set.subjects == 4);
  CHECK(set.excluded == 1);
  CHECK(set.next_change == kT0 + 601);
  clock.set(kT0 + 601);
  set = collect_listings(store, p, clock.now());
  REQUIRE(set.black.size() == 1);
  CHECK(set.black[0].subject.text == "bad-sender.xyz");
  CHECK(set.next_change == kT0 + 631);
}

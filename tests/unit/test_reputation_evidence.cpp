// SPDX-License-Identifier: GPL-2.0-or-later
// Evidence, operator actions and the anti-poisoning policy of the collector
// (reputation.h, reputation_policy.h, reputation_lookup.h), driven by an
// explicit clock: every `now` below is a value, never the wall clock.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_lookup.h"
#include "exigrey/reputation_policy.h"
#include "support/reports.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'700'000'000;

ListingPolicy one_reporter() {
  ListingPolicy p;
  p.min_reporters = 1;
  p.ttl = 3600;
  p.decay = 0;
  p.hold = 0;
  return p;
}

IncomingReport black(std::string_view subject, std::string_view reporter, UnixTime at,
                     std::string_view note = {}) {
  return test::incoming(Verb::kBlack, subject, std::string(reporter), at, note);
}

// Publishes as the collector does: computes, then records the transitions.
ListingSet publish(ReputationStore& store, const ListingPolicy& p, UnixTime now) {
  ListingSet set = collect_listings(store, p, now);
  record_transitions(store, set.transitions, p, now);
  return set;
}

bool listed(const ListingSet& set, std::string_view subject) {
  for (const Listing& l : set.black) {
    if (l.subject.text == subject) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("A note's first word is its category, bounded and sanitised", "[evidence]") {
  CHECK(category_of_note("virus Eicar-Test-Signature") == "virus");
  CHECK(category_of_note("  Trap: hit spamtrap") == "trap");
  CHECK(category_of_note("dictionary, 40 unknown users") == "dictionary");
  CHECK(category_of_note("") == "");
  CHECK(category_of_note("<script>alert(1)</script>") == "other");
  CHECK(category_of_note(std::string(25, 'a')) == "other");
  CHECK(category_of_note(std::string(24, 'a')) == std::string(24, 'a'));
  CHECK(sanitize_text("a\x01"
                      "b\nc") == "a?b?c");
  // Cut at a character boundary: "é" is two bytes.
  CHECK(sanitize_text("ab\xc3\xa9", 3) == "ab");
  CHECK(sanitize_text(std::string(500, 'x')).size() == kMaxEvidenceTextBytes);
}

TEST_CASE("Evidence accumulates per subject and survives encoding", "[evidence]") {
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "mx1", kT0, kT0, 3600, "virus Eicar");
  apply_report(r, Verb::kBlack, "mx2", kT0 + 5, kT0 + 5, 3600, "virus W32/Bad");
  apply_report(r, Verb::kBlack, "mx3", kT0 + 9, kT0 + 9, 3600, "trap");
  apply_report(r, Verb::kWhite, "mx4", kT0 + 9, kT0 + 9, 3600, "authenticated");
  REQUIRE(r.categories.size() == 2);
  CHECK(categories_of(r) == std::vector<std::string>{"virus", "trap"});
  CHECK(r.last_note == "trap");
  for (int i = 0; i < 20; ++i) {
    add_event(r, kT0 + i, EventKind::kListed, "listed " + std::to_string(i));
  }
  CHECK(r.history.size() == kMaxHistory);
  CHECK(r.history.front().text == "listed 4");  // the oldest made room
  for (int i = 0; i < 12; ++i) {
    apply_report(r, Verb::kBlack, "mx1", kT0 + 20 + i, kT0 + 20 + i, 3600,
                 "cat" + std::to_string(i));
  }
  CHECK(r.categories.size() == kMaxCategories);
  r.ban_until = kT0 + 99;
  r.ban_reason = "manual";
  r.delisted_at = 3;
  r.exempt_until = 4;
  r.delist_reason = "mistake";
  r.listed_since = 5;
  r.hold_until = 6;
  r.offenses = 7;
  r.last_offense = 8;
  r.network = true;
  CHECK(decode_subject_record(encode_subject_record(r)) == r);
  // A truncated record is corrupt, never a crash.
  const std::string bytes = encode_subject_record(r);
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    CHECK_THROWS_AS(decode_subject_record(std::string_view(bytes).substr(0, n)), StoreError);
  }
}

TEST_CASE("Records of the first format still read", "[evidence]") {
  // Version 1: the fixed fields and one vote, as exigrey 0.x wrote them.
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "mx1", kT0, kT0, 3600);
  std::string v2 = encode_subject_record(r);
  // Cut the version-2 tail and mark the record as version 1.
  const std::size_t v1_size = 1 + 8 + 8 + 8 * 4 + 1 + (1 + 3 + 16);
  std::string v1 = v2.substr(0, v1_size);
  v1[0] = 1;
  CHECK(decode_subject_record(v1) == r);
}

TEST_CASE("Reporter weights and probation", "[policy]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ListingPolicy p = one_reporter();
  p.min_reporters = 2;
  p.reporter_weights = {{"trusted", 2.0}, {"noisy", 0.0}};
  store.apply(std::vector{black("11.0.0.1", "noisy", kT0), black("11.0.0.1", "other", kT0)}, kT0,
              p.ttl);
  CHECK_FALSE(listed(publish(store, p, kT0), "11.0.0.1"));  // a weight of 0 does not count
  store.apply(std::vector{black("11.0.0.2", "trusted", kT0)}, kT0, p.ttl);
  CHECK(listed(publish(store, p, kT0), "11.0.0.2"));  // one reporter worth two

  // Probation: reporters first seen within `probation` count half.
  p.reporter_weights.clear();
  p.probation = 86400;
  store.apply(std::vector{black("11.0.0.3", "new1", kT0), black("11.0.0.3", "new2", kT0)}, kT0,
              p.ttl);
  const auto before = lookup(store, p, parse_subject("11.0.0.3"), kT0 + 10);
  CHECK_FALSE(before.listed());
  CHECK(before.assessment.black_score == Approx(1.0));
  CHECK(before.explanation.find("score 1.00 < min_reporters 2") != std::string::npos);
  // A day later the same reporters are trusted in full (their votes renewed).
  const UnixTime later = kT0 + 86400 + 10;
  store.apply(std::vector{black("11.0.0.3", "new1", later), black("11.0.0.3", "new2", later)},
              later, p.ttl);
  CHECK(lookup(store, p, parse_subject("11.0.0.3"), later).listed());
  ListingPolicy bad = p;
  bad.probation_weight = 1.5;
  CHECK_THROWS_AS(check_policy(bad), UsageError);
}

TEST_CASE("Repeat offenders are held listed longer, doubling up to hold_max", "[policy]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ListingPolicy p = one_reporter();
  p.ttl = 600;
  p.hold = 3600;
  p.hold_max = 3 * 3600;
  p.offense_memory = 30 * 86400;
  const char* s = "11.0.1.1";
  UnixTime now = kT0;
  std::vector<std::int64_t> listed_for;
  for (int round = 0; round < 4; ++round) {
    store.apply(std::vector{black(s, "mx1", now)}, now, p.ttl);
    REQUIRE(listed(publish(store, p, now), s));
    const UnixTime start = now;
    // Step a minute at a time until it is no longer published.
    while (listed(publish(store, p, now), s)) now += 60;
    listed_for.push_back(now - start);
    now += 3600;
  }
  // 1h, 2h, then the 3h cap (4h doubled is beyond hold_max).
  CHECK(listed_for == std::vector<std::int64_t>{3600, 7200, 10800, 10800});
  const auto r = store.get(parse_subject(s));
  REQUIRE(r);
  CHECK(r->offenses == 4);
  CHECK(r->history.size() == 8);  // 4 listed, 4 unlisted
  CHECK(r->history.back().kind == EventKind::kUnlisted);

  // Beyond offense_memory the count starts again.
  now += 31 * 86400;
  store.apply(std::vector{black(s, "mx1", now)}, now, p.ttl);
  publish(store, p, now);
  CHECK(store.get(parse_subject(s))->hold_until == now + 3600);

  // A white majority ends a hold at once.
  const UnixTime w = now + 700;  // the black vote expired; only the hold lists it
  CHECK(listed(publish(store, p, w), s));
  Report white{Verb::kWhite, parse_subject(s), "", w};
  store.apply(std::vector{IncomingReport{white, "mx2"}}, w, p.ttl);
  CHECK_FALSE(listed(publish(store, p, w), s));
}

TEST_CASE("The operator bans, unbans and delists; each is recorded", "[policy]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ListingPolicy p = one_reporter();
  p.whitelist_networks.add(parse_cidr("11.9.0.0/16"));
  const std::uint64_t g0 = store.generation();

  ban(store, p, parse_subject("11.0.2.1"), 3600, "spam run seen by hand", kT0);
  CHECK(store.generation() == g0 + 1);
  ListingSet set = publish(store, p, kT0);
  REQUIRE(listed(set, "11.0.2.1"));
  CHECK(set.banned == 1);
  CHECK(set.black.front().manual);
  const auto l = lookup(store, p, parse_subject("11.0.2.1"), kT0);
  CHECK(l.assessment.rule == Rule::kBanned);
  CHECK(l.explanation.find("banned by the operator until") != std::string::npos);
  CHECK(l.explanation.find("spam run seen by hand") != std::string::npos);
  // Bans end on time.
  CHECK_FALSE(listed(publish(store, p, kT0 + 3601), "11.0.2.1"));
  // A ban lists even a whitelisted address, never a reserved one.
  ban(store, p, parse_subject("11.9.1.1"), 60, "operator knows better", kT0);
  CHECK(listed(publish(store, p, kT0), "11.9.1.1"));
  CHECK_THROWS_WITH(ban(store, p, parse_subject("192.0.2.1"), 60, "x", kT0),
                    Catch::Contains("reserved"));
  CHECK_THROWS_WITH(ban(store, p, parse_subject("11.0.2.2"), 60, "", kT0),
                    Catch::Contains("reason is required"));
  CHECK_THROWS_WITH(ban(store, p, parse_subject("11.0.2.2"), 60, "a\nb", kT0),
                    Catch::Contains("control byte"));
  CHECK_THROWS_WITH(ban(store, p, parse_subject("11.0.2.2"), 0, "x", kT0),
                    Catch::Contains("duration"));
  CHECK(unban(store, p, parse_subject("11.9.1.1"), "lifted", kT0 + 1));
  CHECK_FALSE(unban(store, p, parse_subject("11.9.1.1"), "again", kT0 + 2));
  CHECK_FALSE(listed(publish(store, p, kT0 + 2), "11.9.1.1"));

  // Delisting discards the votes so far; new evidence lists again...
  store.apply(std::vector{black("11.0.2.3", "mx1", kT0)}, kT0, p.ttl);
  CHECK(listed(publish(store, p, kT0), "11.0.2.3"));
  delist(store, p, parse_subject("11.0.2.3"), 0, "false positive", kT0 + 10);
  CHECK_FALSE(listed(publish(store, p, kT0 + 10), "11.0.2.3"));
  store.apply(std::vector{black("11.0.2.3", "mx1", kT0 + 20)}, kT0 + 20, p.ttl);
  CHECK(listed(publish(store, p, kT0 + 20), "11.0.2.3"));
  // ...unless it is exempt for a while.
  delist(store, p, parse_subject("11.0.2.3"), 600, "customer fixed it", kT0 + 30);
  store.apply(std::vector{black("11.0.2.3", "mx1", kT0 + 40)}, kT0 + 40, p.ttl);
  const auto exempt = lookup(store, p, parse_subject("11.0.2.3"), kT0 + 40);
  CHECK_FALSE(exempt.listed());
  CHECK(exempt.assessment.rule == Rule::kExempt);
  CHECK(exempt.explanation.find("customer fixed it") != std::string::npos);
  CHECK_FALSE(listed(publish(store, p, kT0 + 40), "11.0.2.3"));
  CHECK(listed(publish(store, p, kT0 + 631), "11.0.2.3"));
  const auto r = store.get(parse_subject("11.0.2.3"));
  REQUIRE(r);
  std::vector<EventKind> kinds;
  for (const HistoryEvent& e : r->history) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<EventKind>{EventKind::kListed, EventKind::kDelisted,
                                        EventKind::kUnlisted, EventKind::kListed,
                                        EventKind::kDelisted, EventKind::kUnlisted,
                                        EventKind::kListed});
}

TEST_CASE("Removal requests: one per subject, bounded, resolved by a delisting", "[evidence]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  const ListingPolicy p = one_reporter();
  store.apply(std::vector{black("11.0.3.1", "mx1", kT0), black("11.0.3.2", "mx1", kT0)}, kT0,
              p.ttl);
  RemovalRequest req{parse_subject("11.0.3.1"), kT0, "198.51.100.9", "admin@example.net",
                     std::string(2000, 'm') + "\x01"};
  CHECK(store.add_request(req, 2) == RequestResult::kRecorded);
  CHECK(store.add_request(req, 2) == RequestResult::kAlreadyPending);
  req.subject = parse_subject("11.0.3.2");
  CHECK(store.add_request(req, 1) == RequestResult::kFull);
  CHECK(store.add_request(req, 2) == RequestResult::kRecorded);
  const auto all = store.requests();
  REQUIRE(all.size() == 2);
  CHECK(all[0].message.size() == kMaxRequestMessageBytes);  // bounded and sanitised
  CHECK(all[0].message.find('\x01') == std::string::npos);
  CHECK(store.totals().requests == 2);
  CHECK(store.totals().subjects == 2);  // requests are not subjects
  CHECK(store.get(parse_subject("11.0.3.1"))->history.back().kind == EventKind::kRequest);
  delist(store, p, parse_subject("11.0.3.1"), 0, "done", kT0 + 1);
  CHECK_FALSE(store.request(parse_subject("11.0.3.1")));
  CHECK(store.totals().requests == 1);
}

TEST_CASE("IPv6 reports count per /64; escalation lists a network", "[policy]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  ListingPolicy p = one_reporter();
  CHECK(aggregate_subject(parse_subject("2a00:1450:4001:81b::1"), 64).text ==
        "2a00:1450:4001:81b::/64");
  CHECK(aggregate_subject(parse_subject("2a00:1450:4001:81b::1"), 128).text ==
        "2a00:1450:4001:81b::1");
  CHECK(aggregate_subject(parse_subject("11.0.0.1"), 64).text == "11.0.0.1");
  // Reports as the aggregator stores them: two addresses, one /64.
  std::vector<IncomingReport> v6;
  for (const char* a : {"2a00:1450:4001:81b::1", "2a00:1450:4001:81b::2"}) {
    IncomingReport r = black(a, a, kT0);
    r.report.subject = aggregate_subject(r.report.subject, p.ipv6_prefix);
    v6.push_back(r);
  }
  store.apply(v6, kT0, p.ttl);
  p.min_reporters = 2;
  ListingSet set = publish(store, p, kT0);
  CHECK(listed(set, "2a00:1450:4001:81b::/64"));
  // Any address of the /64 looks up to the listing.
  CHECK(lookup(store, p, parse_subject("2a00:1450:4001:81b::99"), kT0).listed());
  CHECK_FALSE(lookup(store, p, parse_subject("2a00:1450:4001:81c::1"), kT0).listed());

  // Escalation: three listed addresses of one /24 list the /24.
  p.min_reporters = 1;
  p.escalate_ipv4 = 3;
  store.apply(std::vector{black("11.0.4.1", "mx1", kT0), black("11.0.4.2", "mx1", kT0, "trap")},
              kT0, p.ttl);
  CHECK_FALSE(listed(publish(store, p, kT0), "11.0.4.0/24"));
  store.apply(std::vector{black("11.0.4.3", "mx1", kT0, "trap")}, kT0, p.ttl);
  set = publish(store, p, kT0);
  REQUIRE(listed(set, "11.0.4.0/24"));
  CHECK(set.escalated == 1);
  const auto net = std::find_if(set.black.begin(), set.black.end(),
                                [](const Listing& l) { return l.subject.text == "11.0.4.0/24"; });
  CHECK(net->categories == std::vector<std::string>{"trap"});
  const auto neighbour = lookup(store, p, parse_subject("11.0.4.200"), kT0);
  CHECK(neighbour.listed());
  CHECK(neighbour.explanation.find("its network 11.0.4.0/24 is listed") != std::string::npos);
  // When the addresses expire, so does the network.
  set = publish(store, p, kT0 + p.ttl + 1);
  CHECK_FALSE(listed(set, "11.0.4.0/24"));
  CHECK_FALSE(lookup(store, p, parse_subject("11.0.4.200"), kT0 + p.ttl + 1).listed());
  const auto rec = store.get(Subject{SubjectKind::kIPv4, "11.0.4.0/24"});
  REQUIRE(rec);
  CHECK(rec->network);
  CHECK(rec->history.size() == 2);
}

TEST_CASE("Pruning keeps what still decides something", "[evidence]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  const ListingPolicy p = one_reporter();
  store.apply(std::vector{black("11.0.5.1", "mx1", kT0), black("11.0.5.2", "mx1", kT0)}, kT0,
              p.ttl);
  ban(store, p, parse_subject("11.0.5.1"), 90 * 86400, "long ban", kT0);
  const UnixTime later = kT0 + 60 * 86400;
  CHECK(store.prune(later - 30 * 86400, later, 100) == 1);  // 11.0.5.2 only
  CHECK(store.get(parse_subject("11.0.5.1")));
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/reputation.h"
#include "support/child.h"
#include "support/reports.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr std::int64_t kTtl = 3600;

using test::incoming;

}  // namespace

TEST_CASE("A reporter has one vote per subject however often it reports", "[reputation]") {
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "plain:127.0.0.2", 1000, 1000, kTtl);
  apply_report(r, Verb::kBlack, "plain:127.0.0.2", 1010, 1010, kTtl);
  apply_report(r, Verb::kBlack, "plain:127.0.0.3", 1020, 1020, kTtl);
  CHECK(r.black_reports == 3);
  CHECK(r.white_reports == 0);
  CHECK(r.first_seen == 1000);
  CHECK(r.last_seen == 1020);
  CHECK(r.black_since == 1000);
  REQUIRE(r.votes.size() == 2);
  CHECK(r.votes[0] == Vote{"plain:127.0.0.2", 1010, 0});
  CHECK(r.votes[1] == Vote{"plain:127.0.0.3", 1020, 0});

  apply_report(r, Verb::kWhite, "plain:127.0.0.2", 1030, 1030, kTtl);
  CHECK(r.white_reports == 1);
  CHECK(r.white_since == 1030);
  CHECK(r.votes[0] == Vote{"plain:127.0.0.2", 1010, 1030});
}

TEST_CASE("Report times are clamped and stale reports cast no vote", "[reputation]") {
  SubjectRecord r;
  apply_report(r, Verb::kBlack, "a", 999999, 20000, kTtl);  // from the future: now
  REQUIRE(r.votes.size() == 1);
  CHECK(r.votes[0].last_black == 20000);
  apply_report(r, Verb::kBlack, "b", 20000 - kTtl - 1, 20000, kTtl);  // too old to vote
  CHECK(r.black_reports == 2);
  CHECK(r.votes.size() == 1);
  CHECK(r.first_seen == 20000 - kTtl - 1);
  // Expired votes are dropped, and the next vote starts a new run.
  apply_report(r, Verb::kBlack, "c", 20000 + kTtl + 5, 20000 + kTtl + 5, kTtl);
  REQUIRE(r.votes.size() == 1);
  CHECK(r.votes[0].reporter == "c");
  CHECK(r.black_since == 20000 + kTtl + 5);
  CHECK_THROWS_AS(apply_report(r, Verb::kBlack, "", 1, 1, kTtl), UsageError);
  CHECK_THROWS_AS(
      apply_report(r, Verb::kBlack, std::string(kMaxReporterBytes + 1, 'x'), 1, 1, kTtl),
      UsageError);
}

TEST_CASE("The vote set is bounded and keeps the most recent reporters", "[reputation]") {
  SubjectRecord r;
  for (int i = 0; i < 40; ++i) {
    apply_report(r, Verb::kBlack, fmt::format("r{}", i), 1000 + i, 1000 + i, kTtl);
  }
  REQUIRE(r.votes.size() == kMaxVotesPerSubject);
  CHECK(r.votes.front().reporter == "r8");
  CHECK(r.votes.back().reporter == "r39");
  CHECK(r.black_reports == 40);
}

TEST_CASE("Records survive encoding and refuse corruption", "[reputation]") {
  SubjectRecord r;
  r.black_reports = 7;
  r.white_reports = 1;
  r.first_seen = 10;
  r.last_seen = 20;
  r.black_since = 11;
  r.white_since = 19;
  r.votes = {Vote{"plain:127.0.0.1", 12, 0}, Vote{"site-b", 0, 19}};
  const std::string bytes = encode_subject_record(r);
  CHECK(decode_subject_record(bytes) == r);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK_THROWS_AS(decode_subject_record(bytes.substr(0, n)), StoreError);
  }
  CHECK_THROWS_AS(decode_subject_record(bytes + "x"), StoreError);
  std::string bad_version = bytes;
  bad_version[0] = 9;
  CHECK_THROWS_AS(decode_subject_record(bad_version), StoreError);
}

TEST_CASE("The store applies batches, lists in key order and keeps totals", "[reputation]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  CHECK(ReputationStore::path_in("/x/") == "/x/reputation");
  const std::vector<IncomingReport> batch = {
      incoming(Verb::kBlack, "bad-sender.xyz", "plain:127.0.0.2"),
      incoming(Verb::kBlack, "11.22.33.44", "plain:127.0.0.2"),
      incoming(Verb::kBlack, "2a00:1450::1", "plain:127.0.0.2"),
      incoming(Verb::kBlack, "11.22.33.44", "plain:127.0.0.3", 990),
      incoming(Verb::kWhite, "8.8.4.4", "plain:127.0.0.3"),
  };
  store.apply(batch, 1000, kTtl);
  const auto rec = store.get(parse_subject("11.22.33.44"));
  REQUIRE(rec.has_value());
  CHECK(rec->black_reports == 2);
  CHECK(rec->votes.size() == 2);
  CHECK(rec->first_seen == 990);
  CHECK_FALSE(store.get(parse_subject("1.1.1.1")).has_value());

  std::vector<std::string> order;
  store.for_each([&](const Subject& s, const SubjectRecord&) {
    order.push_back(s.text);
    return true;
  });
  CHECK(order ==
        std::vector<std::string>{"11.22.33.44", "8.8.4.4", "2a00:1450::1", "bad-sender.xyz"});
  const ReputationTotals t = store.totals();
  CHECK(t.subjects == 4);
  CHECK(t.black_reports == 4);
  CHECK(t.white_reports == 1);

  // Another handle on the same file (as after a restart) sees the same data.
  ReputationStore again(ReputationStore::path_in(dir.path()));
  CHECK(again.get(parse_subject("11.22.33.44")) == rec);
  again.sync();

  // A bad reporter id rejects the whole batch before anything is written.
  const std::vector<IncomingReport> bad = {incoming(Verb::kBlack, "1.1.1.1", "ok"),
                                           incoming(Verb::kBlack, "1.1.1.2", "")};
  CHECK_THROWS_AS(store.apply(bad, 1000, kTtl), UsageError);
  CHECK(store.totals().black_reports == 4);
}

TEST_CASE("Pruning deletes records last reported before a time, in bounded steps", "[reputation]") {
  test::TempDir dir;
  ReputationStore store(ReputationStore::path_in(dir.path()));
  std::vector<IncomingReport> batch;
  for (int i = 0; i < 3000; ++i) {
    batch.push_back(incoming(Verb::kBlack, fmt::format("11.0.{}.{}", i / 250, i % 250),
                             "plain:127.0.0.1", 100 + (i % 2)));
  }
  store.apply(batch, 200, kTtl);
  CHECK(store.totals().subjects == 3000);
  CHECK(store.prune(101, 200, 1000) == 1000);
  CHECK(store.prune(101, 200, 1000000) == 500);  // the 1,500 reported at 100
  CHECK(store.totals().subjects == 1500);
  CHECK(store.prune(101, 200, 10) == 0);
  CHECK(store.prune(102, 200, 100000) == 1500);
  CHECK(store.totals().subjects == 0);
  CHECK(store.totals().black_reports == 3000);  // totals survive pruning
}

TEST_CASE("Another process reads what the collector committed", "[reputation]") {
  test::TempDir dir;
  const std::string path = ReputationStore::path_in(dir.path());
  ReputationStore store(path);
  const std::vector<IncomingReport> batch = {
      incoming(Verb::kBlack, "11.22.33.44", "plain:127.0.0.2")};
  store.apply(batch, 1000, kTtl);
  const int status = test::run_child([&] {
    ReputationStore ro(path, StoreOptions{.sync = SyncMode::kMeta,
                                          .map_size = kDefaultReputationMapSize,
                                          .read_only = true});
    const auto rec = ro.get(parse_subject("11.22.33.44"));
    return rec && rec->black_reports == 1 ? 0 : 2;
  });
  CHECK(status == 0);
}

TEST_CASE("Reporter cursors commit with the reports and are not subjects", "[reputation]") {
  exigrey::test::TempDir dir;
  exigrey::ReputationStore store(exigrey::ReputationStore::path_in(dir.path()));
  using exigrey::IncomingReport;
  using exigrey::ReporterCursor;
  CHECK(store.reporter_cursor("mx1") == 0);
  const std::vector<IncomingReport> reports{
      {exigrey::Report{exigrey::Verb::kBlack, exigrey::parse_subject("11.22.33.44"), "", 100},
       "signed:mx1"}};
  const std::vector<ReporterCursor> cursors{{"mx1", 7}, {"mx2", 3}};
  store.apply(reports, 100, 86400, cursors);
  CHECK(store.reporter_cursor("mx1") == 7);
  CHECK(store.reporter_cursor("mx2") == 3);
  CHECK(store.totals().subjects == 1);
  // A cursor never moves backwards; cursors alone commit too.
  const std::vector<ReporterCursor> older{{"mx1", 5}, {"mx3", 9}};
  store.apply({}, 101, 86400, older);
  CHECK(store.reporter_cursor("mx1") == 7);
  CHECK(store.reporter_cursor("mx3") == 9);
  CHECK(store.totals().subjects == 1);
}

TEST_CASE("A full collector store names the collector's remedy, not the greylist's") {
  test::TempDir dir;
  StoreOptions small = ReputationStore::default_options();
  small.map_size = 256 << 10;  // a few hundred records
  ReputationStore store(dir.file("reputation"), small);
  std::string message;
  try {
    for (int i = 0; i < 100000; ++i) {
      const std::vector<IncomingReport> one = {incoming(
          Verb::kBlack, fmt::format("11.{}.{}.{}", i / 62500 % 250, i / 250 % 250, i % 250 + 1),
          "r1", 1'700'000'000)};
      store.apply(one, 1'700'000'000, 3600);
    }
  } catch (const StoreError& e) {
    CHECK(e.kind() == ErrorKind::kMapFull);
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("is full") != std::string::npos);
  CHECK(message.find("exigrey-collect") != std::string::npos);
  CHECK(message.find("exigrey purge") == std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/activity.h: the counts behind `exigrey report`, from a store
// written through decide() at explicit times and from crafted log lines.
#include <catch2/catch.hpp>
#include <ctime>
#include <sstream>

#include "exigrey/activity.h"
#include "exigrey/greylist.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1700000000;
constexpr UnixTime kNow = t0 + 10 * 86400;
constexpr std::int64_t H = 3600;

using Entries = std::vector<TopCounter::Entry>;

// A store with every kind of item and whitelist entry the report tells apart.
struct Sample {
  test::TempDir dir;
  Store store{dir.file("seen")};

  void at(UnixTime now, std::string_view key, std::int64_t delay = 600) {
    decide(store, key, delay, now);
  }

  Sample() {
    // Before the window: never counted in it.
    at(t0, "old/10.0.0.1");
    at(t0, "oldpass/10.0.0.2");
    at(t0 + 700, "oldpass/10.0.0.2");
    at(t0, "oldw/10.0.0.3");
    at(t0 + 600, "oldw/10.0.0.3");
    at(kNow - H, "x/10.0.0.3");  // whitelisted: refreshes 10.0.0.3, no item
    // First passes in the window: 700 s, 90 s, 4000 s, 30 s.
    at(kNow - 3 * H, "p1/192.0.2.1");
    at(kNow - 3 * H + 700, "p1/192.0.2.1");
    at(kNow - 5 * H, "p2/192.0.2.2", 60);
    at(kNow - 5 * H + 90, "p2/192.0.2.2", 60);
    at(kNow - 10 * H, "p3/198.51.100.7");
    at(kNow - 10 * H + 4000, "p3/198.51.100.7");
    at(kNow - 20 * H, "p4/198.51.100.8", 0);
    at(kNow - 20 * H + 30, "p4/198.51.100.8", 0);
    // Passing again: one first seen in the window (its delay is lost), one before.
    at(kNow - 20 * H, "again");
    at(kNow - 20 * H + 600, "again");
    at(kNow - H, "again");
    at(t0, "known_old");
    at(t0 + 600, "known_old");
    at(kNow - 2 * H, "known_old");
    // Never retried (first seen over an hour ago, never passed).
    at(kNow - 3 * H, "<s1@Spam.Example>:<r@local.test>/203.0.113.5");
    at(kNow - 2 * H, "<s2@spam.example>:<r@local.test>/203.0.113.77");
    at(kNow - 4 * H, "<s3@other.test>:<r@local.test>/2001:db8:1:2::5");
    at(kNow - 5 * H, "<s4@other.test>:<r2@local.test>/2001:db8:1:2:ffff::1");
    at(kNow - 6 * H, "n5/mx.example");
    at(kNow - 7 * H, "n6/::ffff:192.0.2.200");
    at(kNow - 8 * H, "n7");
    // Waiting: within the retry window (exactly at its edge counts as waiting).
    at(kNow - 1800, "w1/203.0.113.9");
    at(kNow - H, "w2/203.0.113.10");
    // After `now`: outside the window.
    at(kNow + 100, "future/198.18.0.1");
  }
};

ActivityOptions day_window() {
  ActivityOptions o;
  o.now = kNow;
  o.since = kNow - 86400;
  o.retry_window = H;
  return o;
}

}  // namespace

TEST_CASE("scan_store counts every kind of item and whitelist entry", "[activity]") {
  Sample s;
  GreyActivity a(day_window());
  std::vector<std::uint64_t> progress;
  BulkLimits small;
  small.scan_chunk = 3;  // many snapshots: the counts must not depend on chunking
  scan_store(
      a, s.store, [&](std::uint64_t n) { progress.push_back(n); }, small);

  CHECK(a.store_scanned);
  CHECK(a.items == 19);
  CHECK(a.first_seen == 14);
  CHECK(a.first_passes == 4);
  CHECK(a.passed_again == 2);
  CHECK(a.delays_left_out == 1);
  CHECK(a.waiting == 2);
  CHECK(a.never_retried == 7);
  CHECK(a.whitelist == 6);
  CHECK(a.whitelist_new == 4);
  CHECK(a.whitelist_used == 5);
  CHECK(progress == std::vector<std::uint64_t>{25});  // 19 + 6, once at the end

  const DelayStats& d = a.delays();
  CHECK_FALSE(a.delays_from_log());
  CHECK(d.count() == 4);
  CHECK(d.buckets() == std::array<std::uint64_t, kDelayBuckets>{1, 1, 0, 1, 0, 0, 1, 0, 0, 0});
  CHECK(d.percentile(50) == 90);
  CHECK(d.percentile(90) == 4000);
  CHECK(d.max() == 4000);

  CHECK(a.never_retried_networks.top(10) == Entries{{"2001:db8:1:2::/64", 2},
                                                    {"203.0.113.0/24", 2},
                                                    {"192.0.2.0/24", 1},
                                                    {"mx.example", 1}});
  CHECK(a.never_retried_networks.total() == 6);  // n7 has no suffix
  CHECK(a.never_retried_networks.top(1) == Entries{{"2001:db8:1:2::/64", 2}});
  CHECK(a.sender_domains.top(10) == Entries{{"other.test", 2}, {"spam.example", 2}});
}

TEST_CASE("the retry window splits waiting from never retried", "[activity]") {
  Sample s;
  ActivityOptions o = day_window();
  o.retry_window = 2 * H;  // w1, w2 and the item first seen 2 h ago now wait
  GreyActivity a(o);
  scan_store(a, s.store);
  CHECK(a.waiting == 3);
  CHECK(a.never_retried == 6);
  CHECK(a.never_retried_networks.top(1) == Entries{{"2001:db8:1:2::/64", 2}});
  CHECK(a.never_retried_networks.top(10).at(1) == TopCounter::Entry{"192.0.2.0/24", 1});
}

TEST_CASE("since ever counts the whole store up to now", "[activity]") {
  Sample s;
  ActivityOptions o = day_window();
  o.since = kSinceEver;
  GreyActivity a(o);
  scan_store(a, s.store);
  CHECK(a.items == 19);
  CHECK(a.first_seen == 18);   // all but the one from the future
  CHECK(a.first_passes == 6);  // + oldpass (700 s) and oldw (600 s)
  CHECK(a.passed_again == 2);
  CHECK(a.delays_left_out == 2);  // known_old too
  CHECK(a.never_retried == 8);    // + old
  CHECK(a.waiting == 2);
  CHECK(a.whitelist_new == 6);
  CHECK(a.whitelist_used == 6);
  CHECK(a.store_delays.buckets()[3] == 3);  // 10-15m: 600, 700, 700
}

TEST_CASE("top lists can be switched off and are bounded", "[activity]") {
  Sample s;
  ActivityOptions o = day_window();
  SECTION("top 0 collects nothing") {
    o.top = 0;
    GreyActivity a(o);
    scan_store(a, s.store);
    CHECK(a.never_retried == 7);
    CHECK(a.never_retried_networks.distinct() == 0);
    CHECK(a.sender_domains.total() == 0);
  }
  SECTION("names beyond max_groups count as other") {
    o.max_groups = 2;
    GreyActivity a(o);
    scan_store(a, s.store);
    CHECK(a.never_retried_networks.distinct() == 2);
    CHECK(a.never_retried_networks.total() == 6);
    CHECK(a.never_retried_networks.other() == 6 - a.never_retried_networks.top(10).at(0).count -
                                                  a.never_retried_networks.top(10).at(1).count);
  }
}

TEST_CASE("DelayStats buckets at their edges and takes nearest-rank percentiles", "[activity]") {
  DelayStats d;
  CHECK_FALSE(d.percentile(50));
  for (const std::int64_t v : {-5, 59, 60, 299, 300, 600, 899, 900, 3599, 3600, 7199, 7200, 21599,
                               21600, 86399, 86400, 200000}) {
    d.add(v);
  }
  CHECK(d.buckets() == std::array<std::uint64_t, kDelayBuckets>{2, 2, 1, 2, 1, 1, 2, 2, 2, 2});
  CHECK(d.count() == 17);
  CHECK(d.max() == 200000);
  CHECK(d.percentile(0) == 0);         // rank 1: the -5, counted as 0
  CHECK(d.percentile(50) == 3599);     // rank ceil(8.5) = 9
  CHECK(d.percentile(90) == 86400);    // rank ceil(15.3) = 16
  CHECK(d.percentile(100) == 199980);  // above a day, to the minute
  for (std::size_t i = 1; i < kDelayBuckets; ++i) {
    CHECK(kDelayBucketTable[i].from == *kDelayBucketTable[i - 1].to);
  }
  CHECK_FALSE(kDelayBucketTable.back().to);
}

TEST_CASE("network_group and sender_domain", "[activity]") {
  CHECK(network_group("192.0.2.7") == "192.0.2.0/24");
  CHECK(network_group("192.0.2.0/24") == "192.0.2.0/24");
  CHECK(network_group("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(network_group("2001:db8::/48") == "2001:db8::/64");
  CHECK(network_group("::ffff:10.1.2.3") == "10.1.2.0/24");
  CHECK(network_group("mx.example") == "mx.example");
  CHECK(network_group("1.2.3.4.example") == "1.2.3.4.example");
  CHECK(network_group("deadbeef") == "deadbeef");
  CHECK(network_group("") == "");

  CHECK(sender_domain("<a@X.Test>:<b@y.test>") == "x.test");
  CHECK(sender_domain("a@b c") == "b");
  CHECK(sender_domain("a@b\tc") == "b");
  CHECK(sender_domain("a@Dom\"x") == "dom");
  CHECK(sender_domain("a@d;x") == "d");
  CHECK(sender_domain("a@d,x") == "d");
  CHECK(sender_domain("a@d/x") == "d");
  CHECK(sender_domain("a@>") == std::nullopt);
  CHECK(sender_domain("3f2a91c0deadbeef") == std::nullopt);
}

TEST_CASE("parse_log_time reads Exim's timestamps", "[activity]") {
  std::string_view rest;
  CHECK(parse_log_time("2024-03-01 12:00:00 +0000 text", &rest) == 1709294400);
  CHECK(rest == "text");
  CHECK(parse_log_time("2024-03-01 12:00:00 +0100 text") == 1709290800);
  CHECK(parse_log_time("2024-03-01 12:00:00.123 -0230 [99] x", &rest) == 1709303400);
  CHECK(rest == "x");
  CHECK(parse_log_time("2024-03-01 12:00:00 +0000 1tXYZ1-000123-AB x", &rest) == 1709294400);
  CHECK(rest == "x");
  CHECK(parse_log_time("2024-03-01 12:00:00 +0000 [7] 1tXYZ1-0000000123-ABCD x", &rest));
  CHECK(rest == "x");
  CHECK(parse_log_time("2024-03-01 12:00:00 +0000") == 1709294400);

  std::tm tm{};
  tm.tm_year = 124;
  tm.tm_mon = 2;
  tm.tm_mday = 1;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  CHECK(parse_log_time("2024-03-01 12:00:00 H=x", &rest) ==
        static_cast<UnixTime>(std::mktime(&tm)));
  CHECK(rest == "H=x");

  CHECK_FALSE(parse_log_time(""));
  CHECK_FALSE(parse_log_time("2024-13-01 12:00:00 x"));
  CHECK_FALSE(parse_log_time("2024-03-01 24:00:00 x"));
  CHECK_FALSE(parse_log_time("2024-03-01T12:00:00 x"));
  CHECK_FALSE(parse_log_time("2024-03-01 12:00:00x"));
  CHECK_FALSE(parse_log_time("2024-03-01 12:00:00. x"));
  CHECK_FALSE(parse_log_time("Mar  1 12:00:00 host exim[1]: x"));
}

TEST_CASE("parse_log_line knows every decision form and the reject lines", "[activity]") {
  using K = LogLine::Kind;
  const std::string ts = "2024-03-01 12:00:00 +0000 ";
  const auto kind = [&](const std::string& text) { return parse_log_line(ts + text).kind; };

  CHECK(kind("exigrey: greylisted (new, retry in 600s) key=\"<a@x>:<b@y>/10.0.0.1\" db=/g/seen") ==
        K::kGreylistedNew);
  CHECK(kind("[1234] exigrey: greylisted (too early, retry in 288s) key=\"k\" db=seen") ==
        K::kGreylistedTooEarly);
  const LogLine passed = parse_log_line(
      ts +
      "1tXYZ1-000123-AB exigrey: passed after 6m12s (the delay is over) key=\"k\\\"x\" db=seen");
  CHECK(passed.kind == K::kPassedAfterDelay);
  CHECK(passed.delay == 372);
  CHECK(passed.time == 1709294400);
  CHECK(kind("[7] 1tXYZ1-0000000123-ABCD exigrey: passed (known item, pass 3) key=\"k\" db=seen") ==
        K::kPassedKnown);
  CHECK(kind("exigrey: passed (whitelisted suffix) key=\"k\" db=seen") == K::kPassedWhitelisted);

  const LogLine r1 = parse_log_line(
      ts +
      "H=(client.test) [10.0.0.1] F=<a@X.test> temporarily rejected RCPT <b@y.test>: "
      "greylisted by exigrey");
  CHECK(r1.kind == K::kRejected);
  CHECK(r1.sender == "x.test");
  CHECK(r1.network == "10.0.0.0/24");
  const LogLine r2 = parse_log_line(
      ts +
      "H=mail.example (helo.example) [192.0.2.55]:41234 F=<> temporarily rejected RCPT "
      "<b@y.test>: Greylisted, please retry");
  CHECK(r2.kind == K::kRejected);
  CHECK(r2.sender == "<>");
  CHECK(r2.network == "192.0.2.0/24");
  const LogLine r3 = parse_log_line(
      ts +
      "H=([192.0.2.1]) [2001:db8::25]:25 F=<bounce@Lists.Example> temporarily rejected "
      "RCPT <c@y.test>: greylisted");
  CHECK(r3.kind == K::kRejected);
  CHECK(r3.sender == "lists.example");
  CHECK(r3.network == "2001:db8::/64");
  const LogLine r4 = parse_log_line(
      ts +
      "1tXYZ1-000123-AB H=[::ffff:198.51.100.9] F=<postmaster> temporarily rejected after "
      "DATA: greylisted");
  CHECK(r4.kind == K::kRejected);
  CHECK(r4.sender == "postmaster");
  CHECK(r4.network == "198.51.100.0/24");
  // Another temporary reject, with "greylisted" only in the recipient.
  CHECK(kind("H=[10.0.0.2] F=<a@x.test> temporarily rejected RCPT <greylisted@y.test>: Could "
             "not complete sender verify") == K::kIrrelevant);
  // Another reject text.
  CHECK(parse_log_line(ts + "H=[10.0.0.2] F=<a@x> temporarily rejected RCPT <b@y>: try later",
                       "try LATER")
            .kind == K::kRejected);

  // Garbage and lines that do not matter.
  CHECK(parse_log_line("exigrey: passed (whitelisted suffix) key=\"k\" db=seen").kind ==
        K::kUnparseable);
  CHECK(parse_log_line("2024-13-01 12:00:00 exigrey: passed (whitelisted suffix) key=\"k\" db=s")
            .kind == K::kUnparseable);
  CHECK(kind("exigrey: passed (mystery) key=\"k\" db=seen") == K::kUnparseable);
  CHECK(kind("exigrey: greylisted (new, retry in 600s) key=\"unterminated db=seen") ==
        K::kUnparseable);
  CHECK(kind("exigrey: greylisted (new, retry in 600s) key=\"k\"") == K::kUnparseable);
  CHECK(kind("exigrey: passed after 6x (the delay is over) key=\"k\" db=seen") == K::kUnparseable);
  CHECK(kind("exigrey: passed after -5 (the delay is over) key=\"k\" db=seen") == K::kUnparseable);
  CHECK(kind("exigrey: greylisted (new, retry in s) key=\"k\" db=seen") == K::kUnparseable);
  CHECK(kind("exigrey: settings from /etc/exigrey/exigrey.conf: directory=/x") == K::kIrrelevant);
  CHECK(kind("exigrey: whitelisted suffix \"192.0.2.1\" (added) db=seen") == K::kIrrelevant);
  CHECK(kind("exigrey: suffix \"192.0.2.1\" is not whitelisted db=seen") == K::kIrrelevant);
  CHECK(kind("H=[10.0.0.1] F=<a@x> rejected RCPT <b@y>: greylisted") == K::kIrrelevant);
  CHECK(kind("Completed") == K::kIrrelevant);
  CHECK(parse_log_line("").kind == K::kIrrelevant);
}

TEST_CASE("read_log counts decisions in the window and takes delays from the log", "[activity]") {
  ActivityOptions o;
  o.now = 1709294400 + 3600;  // 13:00 UTC
  o.since = 1709294400;       // 12:00 UTC
  GreyActivity a(o);
  const std::string long_line =
      "2024-03-01 12:00:00 +0000 exigrey: " + std::string(kMaxLogLine, 'x');
  std::istringstream in(
      "2024-03-01 11:59:59 +0000 exigrey: greylisted (new, retry in 600s) key=\"k\" db=s\n"
      "2024-03-01 12:00:00 +0000 exigrey: greylisted (new, retry in 600s) key=\"k\" db=s\n"
      "2024-03-01 12:00:01 +0000 [12] exigrey: greylisted (new, retry in 600s) key=\"j\" db=s\n"
      "2024-03-01 12:05:00 +0000 exigrey: greylisted (too early, retry in 300s) key=\"k\" db=s\r\n"
      "2024-03-01 12:10:00 +0000 exigrey: passed after 10m (the delay is over) key=\"k\" db=s\n"
      "2024-03-01 12:30:01 +0000 exigrey: passed after 30m (the delay is over) key=\"j\" db=s\n"
      "2024-03-01 12:31:00 +0000 exigrey: passed (known item, pass 2) key=\"k\" db=s\n"
      "2024-03-01 12:32:00 +0000 exigrey: passed (whitelisted suffix) key=\"k/1.2.3.4\" db=s\n"
      "2024-03-01 12:00:00 +0000 H=(a) [10.0.0.1] F=<x@A.test> temporarily rejected RCPT <r@l>: "
      "greylisted\n"
      "2024-03-01 12:00:05 +0000 H=(a) [10.0.0.7] F=<y@a.test> temporarily rejected RCPT <r@l>: "
      "greylisted\n"
      "2024-03-01 12:00:09 +0000 H=(b) [2001:db8::1] F=<> temporarily rejected RCPT <r@l>: "
      "greylisted\n"
      "2024-03-01 13:00:01 +0000 H=(b) [10.9.9.9] F=<> temporarily rejected RCPT <r@l>: "
      "greylisted\n"
      "garbage exigrey: with no time\n"
      "2024-03-01 12:40:00 +0000 Completed\n" +
      long_line + "\n" +
      "2024-03-01 12:50:00 +0000 exigrey: passed (whitelisted suffix) key=\"last\" db=s");
  std::vector<std::uint64_t> progress;
  read_log(a, in, "test", [&](std::uint64_t n) { progress.push_back(n); });

  CHECK(a.log_files == 1);
  CHECK(a.log_lines == 16);
  CHECK(a.log_lines_used == 11);
  CHECK(a.log_lines_outside == 2);
  CHECK(a.log_lines_skipped == 2);  // no time; too long
  CHECK(progress == std::vector<std::uint64_t>{16});
  CHECK(a.decisions.greylisted_new == 2);
  CHECK(a.decisions.greylisted_too_early == 1);
  CHECK(a.decisions.passed_after_delay == 2);
  CHECK(a.decisions.passed_known == 1);
  CHECK(a.decisions.passed_whitelisted == 2);
  CHECK(a.decisions.total() == 8);
  CHECK(a.log_rejects == 3);
  CHECK(a.log_networks.top(10) == Entries{{"10.0.0.0/24", 2}, {"2001:db8::/64", 1}});
  CHECK(a.log_sender_domains.top(10) == Entries{{"a.test", 2}, {"<>", 1}});

  CHECK(a.delays_from_log());
  CHECK(a.delays().count() == 2);
  CHECK(a.delays().buckets() ==
        std::array<std::uint64_t, kDelayBuckets>{0, 0, 0, 1, 0, 1, 0, 0, 0, 0});
  CHECK(a.delays().percentile(50) == 600);
  CHECK(a.delays().max() == 1800);
}

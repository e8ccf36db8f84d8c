// SPDX-License-Identifier: GPL-2.0-or-later
// Greylisting shared between MX hosts (peers.h, peer_batch.h, peers_file.h;
// docs/multi-mx.md): the merge is a join (any order, any repetition, the
// same result), the peer log captures what decisions write and nothing that
// was merged, a peer's batch is applied once, and the codec and the peers
// file refuse what they must.
#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "exigrey/batch.h"
#include "exigrey/greylist.h"
#include "exigrey/peer_batch.h"
#include "exigrey/peers.h"
#include "exigrey/peers_file.h"
#include "exigrey/verify.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1'800'000'000;
const std::string kSecret(40, 's');

StoreOptions sharing() {
  StoreOptions o;
  o.sync = SyncMode::kMeta;  // this file is about peers, not about crashes
  o.peer_log = true;
  return o;
}

ItemRecord random_item(std::mt19937& rng) {
  ItemRecord r;
  r.created = t0 + static_cast<UnixTime>(rng() % 1000);
  r.used = r.created + static_cast<UnixTime>(rng() % 1000);
  r.count = rng() % 3 == 0 ? static_cast<std::uint32_t>(rng() % 4) : 0;
  if (r.count == 0 && rng() % 2) r.first = "10.0.0." + std::to_string(rng() % 5);
  return r;
}

LoadedRecord item_record(const std::string& name, const ItemRecord& r) {
  LoadedRecord out;
  out.kind = LoadedRecord::Kind::kItem;
  out.name = name;
  out.item = r;
  return out;
}

LoadedRecord white_record(const std::string& suffix, UnixTime created, UnixTime used) {
  LoadedRecord out;
  out.kind = LoadedRecord::Kind::kWhitelist;
  out.name = suffix;
  out.entry = WhitelistEntry{created, used};
  return out;
}

}  // namespace

TEST_CASE("the merge is a join: commutative, associative, idempotent", "[peers]") {
  std::mt19937 rng(20261207);
  for (int i = 0; i < 5000; ++i) {
    const ItemRecord a = random_item(rng), b = random_item(rng), c = random_item(rng);
    INFO("round " << i);
    REQUIRE(merge_item(a, b) == merge_item(b, a));
    REQUIRE(merge_item(merge_item(a, b), c) == merge_item(a, merge_item(b, c)));
    REQUIRE(merge_item(a, a) == a);
    REQUIRE(merge_item(merge_item(a, b), b) == merge_item(a, b));
    const WhitelistEntry x{a.created, a.used}, y{b.created, b.used}, z{c.created, c.used};
    REQUIRE(merge_whitelist(x, y) == merge_whitelist(y, x));
    REQUIRE(merge_whitelist(merge_whitelist(x, y), z) == merge_whitelist(x, merge_whitelist(y, z)));
    REQUIRE(merge_whitelist(x, x) == x);
  }
}

TEST_CASE("the merge keeps the first sighting anywhere and forgets the first suffix after a pass",
          "[peers]") {
  const ItemRecord mx1{t0, t0, 0, std::string("192.0.2.7")};
  const ItemRecord mx2{t0 + 100, t0 + 100, 0, std::string("192.0.2.1")};
  const ItemRecord m = merge_item(mx1, mx2);
  CHECK(m.created == t0);  // the delay counts from MX1's sighting
  CHECK(m.used == t0 + 100);
  CHECK(m.first == std::optional<std::string>("192.0.2.1"));  // the smaller suffix
  const ItemRecord passed{t0 + 100, t0 + 700, 1, std::nullopt};
  CHECK(merge_item(mx1, passed) == ItemRecord{t0, t0 + 700, 1, std::nullopt});
}

TEST_CASE("decisions log what they write for the peers; merged records are not logged again",
          "[peers]") {
  test::TempDir dir;
  const Store s(dir.file("seen"), sharing());
  CHECK(peer_log_last(s) == 0);  // nothing logged yet
  CHECK(decide(s, "a->b/192.0.2.1", 10, t0).reason == Reason::kNew);
  CHECK(decide(s, "a->b/192.0.2.1", 10, t0 + 1).reason == Reason::kTooEarly);  // no write
  CHECK(decide(s, "a->b/192.0.2.1", 10, t0 + 20).reason == Reason::kPassed);
  std::uint64_t last = 0;
  auto log = read_peer_log(s, 0, 100, &last);
  // new item; then the passed item and its whitelist entry.
  REQUIRE(log.size() == 3);
  CHECK(log[0].record.kind == LoadedRecord::Kind::kItem);
  CHECK(log[0].record.item.count == 1);  // the current state, not the logged one
  CHECK(log[2].record.kind == LoadedRecord::Kind::kWhitelist);
  CHECK(log[2].record.name == "192.0.2.1");
  CHECK(last == log[2].id);
  CHECK(peer_log_last(s) == last);
  CHECK(log[0].id < log[1].id);

  const std::vector<PeerRecord> from_mx2{{5, white_record("198.51.100.9", t0, t0)}};
  const MergeResult m = merge_from_peer(s, "mx2", 5, from_mx2, t0);
  CHECK(m.applied == 1);
  CHECK(read_peer_log(s, last, 100).empty());  // not echoed back
  CHECK(check(s, "x/198.51.100.9", 10, t0).reason == Reason::kWhitelisted);
  CHECK(peer_cursor(s, "mx2") == 5);
  const VerifyReport v = verify(s);
  CHECK(v.ok());
  CHECK(v.peer_log == 3);

  CHECK(drop_peer_log(s, log[1].id) == 2);
  CHECK(read_peer_log(s, 0, 100).size() == 1);
  CHECK(peer_log_stats(s).entries == 1);
  CHECK(drop_peer_log(s, last) == 1);
  CHECK(peer_log_last(s) == 0);  // emptied: the counter alone is no entry
}

TEST_CASE("a peer's batch is applied once: retransmissions and replays change nothing", "[peers]") {
  test::TempDir dir;
  const Store s(dir.file("seen"), sharing());
  std::vector<PeerRecord> batch{{10, item_record("a->b", ItemRecord{t0, t0, 0, "192.0.2.1"})},
                                {11, white_record("192.0.2.9", t0, t0)}};
  CHECK(merge_from_peer(s, "mx2", 11, batch, t0).applied == 2);
  CHECK(merge_from_peer(s, "mx2", 11, batch, t0).duplicate);
  // A later batch that repeats part of the earlier one counts the new part only.
  batch.push_back({12, white_record("192.0.2.10", t0, t0)});
  const MergeResult m = merge_from_peer(s, "mx2", 12, batch, t0);
  CHECK_FALSE(m.duplicate);
  CHECK(m.applied == 1);
  // Another peer has its own cursor.
  CHECK(merge_from_peer(s, "mx3", 12, batch, t0).unchanged == 3);
  // A record from the far future is clamped to now.
  const std::vector<PeerRecord> future{
      {20, item_record("c->d", ItemRecord{t0 + 10 * 86400, t0 + 10 * 86400, 0, std::nullopt})}};
  merge_from_peer(s, "mx2", 20, future, t0);
  ReadTxn txn = s.read();
  CHECK(txn.item("c->d")->created == t0);
}

TEST_CASE("the peer log is bounded: the oldest entries go, counted", "[peers]") {
  test::TempDir dir;
  const Store s(dir.file("seen"), sharing());
  for (int i = 0; i < 50; ++i) decide(s, "k" + std::to_string(i) + "/x", 10, t0);
  CHECK(bound_peer_log(s, 30) == 20);
  CHECK(peer_log_stats(s).entries == 30);
  CHECK(peer_log_stats(s).dropped == 20);
  CHECK(bound_peer_log(s, 30) == 0);
}

TEST_CASE("peer batches: what is encoded parses back; hostile frames are refused", "[peers]") {
  PeerBatch b;
  b.sender = "mx1";
  b.db = "seen";
  b.sent = t0;
  b.records = {
      {7, item_record("<a@x.test>:<b@y.test> with space\n", ItemRecord{t0, t0 + 5, 0, "ip 1"})},
      {9, white_record(std::string(600, 'w'), t0, t0 + 1)}};
  const std::string frame = encode_peer_batch(b, kSecret);
  const auto nl = frame.find('\n');
  const std::string header_line = frame.substr(0, nl + 1);
  const PeerBatchHeader h = parse_peer_batch_header(frame.substr(0, nl));
  CHECK(h.sender == "mx1");
  CHECK(h.db == "seen");
  CHECK(h.seq == 9);
  CHECK(h.count == 2);
  const std::string body = frame.substr(nl + 1, h.length);
  const std::string mac = frame.substr(nl + 1 + h.length, frame.size() - nl - 2 - h.length);
  verify_batch_mac(mac, kSecret, header_line, body);
  const auto parsed = parse_peer_batch_body(body, h);
  REQUIRE(parsed.size() == 2);
  CHECK(parsed[0].record.name == b.records[0].record.name);
  CHECK(parsed[0].record.item == b.records[0].record.item);
  CHECK(parsed[1].record.name == b.records[1].record.name);
  CHECK(parsed[1].record.entry == b.records[1].record.entry);
  CHECK_THROWS_AS(verify_batch_mac(mac, std::string(40, 't'), header_line, body), ProtocolError);

  auto reason = [](auto fn) -> std::string {
    try {
      fn();
    } catch (const ProtocolError& e) {
      return e.reason();
    }
    return "accepted";
  };
  CHECK(reason([] { parse_peer_batch_header("EXIGREY/1 GREY mx1 ../seen 9 1 2 10"); }) ==
        "malformed");
  CHECK(reason([] { parse_peer_batch_header("EXIGREY/1 GREY mx1 seen.keep 9 1 2 10"); }) ==
        "malformed");
  CHECK(reason([] { parse_peer_batch_header("EXIGREY/1 BATCH mx1 9 1 2 10"); }) == "malformed");
  CHECK(reason([] { parse_peer_batch_header("EXIGREY/1 GREY mx1 seen 9 1 1001 10"); }) ==
        "malformed");
  PeerBatchHeader one{"mx1", "seen", 3, t0, 1, 0};
  auto body_reason = [&](std::string text) {
    one.length = static_cast<std::uint32_t>(text.size());
    return reason([&] { parse_peer_batch_body(text, one); });
  };
  CHECK(body_reason("3 white 192.0.2.1 1 2\n") == "accepted");
  CHECK(body_reason("3 white 192.0.2.1 1\n") == "malformed");
  CHECK(body_reason("4 white 192.0.2.1 1 2\n") == "malformed");  // id above seq
  CHECK(body_reason("3 white %zz 1 2\n") == "malformed");        // bad escape
  CHECK(body_reason("3 white - 1 2\n") == "malformed");          // empty suffix
  CHECK(body_reason("3 item a 1 2 x -\n") == "malformed");       // bad number
  CHECK(body_reason("3 end 1 1\n") == "malformed");
  CHECK(body_reason("3 white 192.0.2.1 1 2") == "malformed");  // no newline
}

TEST_CASE("the peers file: names, addresses, secrets, scopes", "[peers]") {
  const auto peers = parse_peers(
      "# the site's MX hosts\n"
      "mx1 192.0.2.1:2526 " +
          kSecret +
          "\n"
          "\n"
          "mx2  [2001:db8::2]:2526\t" +
          kSecret + "  scope=items\n",
      "peers");
  REQUIRE(peers.size() == 2);
  CHECK(peers[0] == PeerEntry{"mx1", "192.0.2.1:2526", kSecret, true});
  CHECK(peers[1] == PeerEntry{"mx2", "[2001:db8::2]:2526", kSecret, false});
  auto error = [](const std::string& text) {
    try {
      parse_peers(text, "peers");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(error("mx1 192.0.2.1:2526\n") ==
        "peers:1: expected 'NAME ADDRESS:PORT SECRET [scope=...]'");
  CHECK(error("mx1 192.0.2.1 " + kSecret + "\n") ==
        "peers:1: peer mx1: the address must be HOST:PORT");
  CHECK(error("m/x 192.0.2.1:1 " + kSecret + "\n").starts_with("peers:1: exigrey: reporter id"));
  CHECK(error("mx1 192.0.2.1:1 short\n").find("short") == std::string::npos);  // never quoted
  CHECK(error("mx1 a:1 " + kSecret + " scope=all\n") ==
        "peers:1: peer mx1: unknown \"scope=all\" (use scope=items or scope=items,whitelist)");
  CHECK(error("mx1 a:1 " + kSecret + "\nmx1 b:1 " + kSecret + "\n") ==
        "peers:2: peer mx1 listed twice");
}

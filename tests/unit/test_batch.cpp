// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/batch.h"

using namespace exigrey;

namespace {

const std::string kSecret(40, 'k');

Batch sample() {
  Batch b{"mx1.example", 1700000000, {}};
  b.items.push_back(
      {3, Report{Verb::kBlack, parse_subject("11.22.33.44"), "virus found", 1699999990}});
  b.items.push_back({5, Report{Verb::kWhite, parse_subject("2001:db8::1"), "", 1699999991}});
  b.items.push_back({7, Report{Verb::kBlack, parse_subject("spam.example"), "", 1699999992}});
  return b;
}

struct Frame {
  std::string header, body, mac;
};

Frame split(const std::string& frame) {
  const auto h = frame.find('\n') + 1;
  const auto m = frame.rfind("MAC ");
  return {frame.substr(0, h), frame.substr(h, m - h), frame.substr(m, frame.size() - m - 1)};
}

}  // namespace

TEST_CASE("A batch survives encode and parse", "[batch]") {
  const Batch b = sample();
  const Frame f = split(encode_batch(b, kSecret));
  CHECK(f.header ==
        "EXIGREY/1 BATCH mx1.example 7 1700000000 3 " + std::to_string(f.body.size()) + "\n");
  const BatchHeader h = parse_batch_header(f.header.substr(0, f.header.size() - 1));
  CHECK(h.reporter == "mx1.example");
  CHECK(h.seq == 7);
  CHECK(h.count == 3);
  verify_batch_mac(f.mac, kSecret, f.header, f.body);
  CHECK(parse_batch_body(f.body, h) == b.items);
  Batch unordered = b;
  std::swap(unordered.items[0], unordered.items[1]);
  CHECK_THROWS_AS(encode_batch(unordered, kSecret), UsageError);
}

TEST_CASE("A wrong key or any tampered byte fails the MAC", "[batch]") {
  const Frame f = split(encode_batch(sample(), kSecret));
  CHECK_THROWS_AS(verify_batch_mac(f.mac, std::string(40, 'x'), f.header, f.body), ProtocolError);
  for (std::size_t i = 0; i < f.body.size(); ++i) {
    std::string body = f.body;
    body[i] = static_cast<char>(body[i] ^ 1);
    try {
      verify_batch_mac(f.mac, kSecret, f.header, body);
      FAIL("tampered byte " << i << " accepted");
    } catch (const ProtocolError& e) {
      CHECK(e.reason() == "bad-mac");
    }
  }
  std::string header = f.header;
  header[header.find(" 7 ") + 1] = '8';  // a different seq
  CHECK_THROWS_AS(verify_batch_mac(f.mac, kSecret, header, f.body), ProtocolError);
}

TEST_CASE("Malformed headers are refused as malformed", "[batch]") {
  for (const char* bad :
       {"", "EXIGREY/2 BATCH a 1 1 1 1", "EXIGREY/1 BATCH a 1 1 1", "EXIGREY/1 BATCH a 0 1 1 1",
        "EXIGREY/1 BATCH a 1 1 0 1", "EXIGREY/1 BATCH a 1 1 1001 1",
        "EXIGREY/1 BATCH a 1 1 1 262145", "EXIGREY/1 BATCH a b 1 1 1", "EXIGREY/1 BATCH a  1 1 1 1",
        "EXIGREY/1 BATCH a/b 1 1 1 1", "EXIGREY/1 BATCH a 01 1 1 1",
        "EXIGREY/1 BATCH a 1 1 1 1 extra", "EXIGREY/1 BATCH a -1 1 1 1"}) {
    INFO(bad);
    try {
      parse_batch_header(bad);
      FAIL("accepted");
    } catch (const ProtocolError& e) {
      CHECK(e.reason() == "malformed");
    }
  }
  CHECK_THROWS_AS(parse_batch_header(std::string(600, 'E')), ProtocolError);
  CHECK(parse_batch_header("EXIGREY/1 BATCH a 1 0 1 1\r").seq == 1);
}

TEST_CASE("Bodies must match count, length and seq exactly", "[batch]") {
  BatchHeader h{"a", 9, 0, 2, 0};
  const std::string two = "4 black 11.22.33.44 5\n9 white example.org 6 a note\n";
  h.length = static_cast<std::uint32_t>(two.size());
  const auto items = parse_batch_body(two, h);
  REQUIRE(items.size() == 2);
  CHECK(items[1].id == 9);
  CHECK(items[1].report.note == "a note");
  h.count = 1;
  CHECK_THROWS_AS(parse_batch_body(two, h), ProtocolError);
  h.count = 3;
  CHECK_THROWS_AS(parse_batch_body(two, h), ProtocolError);
  h.count = 2;
  h.seq = 10;  // seq must be the last id
  CHECK_THROWS_AS(parse_batch_body(two, h), ProtocolError);
  h.seq = 9;
  h.length += 1;
  CHECK_THROWS_AS(parse_batch_body(two, h), ProtocolError);
  for (const char* bad :
       {"1 grey 1.2.3.4 5\n", "1 black 1.2.3 5\n", "1 black 1.2.3.4\n", "1 black 1.2.3.4 x\n",
        "1 black 1.2.3.4 5", "1 black 1.2.3.4 5 a\x01b\n", "0 black 1.2.3.4 5\n",
        "x black 1.2.3.4 5\n", "2 black 1.2.3.4 5\n", "1  black 1.2.3.4 5\n"}) {
    INFO(bad);
    const std::string body = bad;
    CHECK_THROWS_AS(
        parse_batch_body(body, BatchHeader{"a", 1, 0, 1, static_cast<std::uint32_t>(body.size())}),
        ProtocolError);
  }
  const std::string descending = "5 black 1.2.3.4 5\n4 black 1.2.3.5 5\n";
  CHECK_THROWS_AS(
      parse_batch_body(descending,
                       BatchHeader{"a", 5, 0, 2, static_cast<std::uint32_t>(descending.size())}),
      ProtocolError);
}

TEST_CASE("Answers round-trip", "[batch]") {
  for (const Answer& a : {Answer{AnswerKind::kAck, 5, ""}, Answer{AnswerKind::kAckDup, 6, ""},
                          Answer{AnswerKind::kNak, 7, "bad-mac"}}) {
    std::string line = format_answer(a);
    REQUIRE(line.back() == '\n');
    line.pop_back();
    const Answer b = parse_answer(line);
    CHECK(b.kind == a.kind);
    CHECK(b.seq == a.seq);
    CHECK(b.reason == a.reason);
  }
  for (const char* bad : {"", "ACK", "ACK x", "ACK 1 2", "NAK 1", "NAK 1 a b", "HELLO 1"}) {
    CHECK_THROWS_AS(parse_answer(bad), ProtocolError);
  }
}

TEST_CASE("Reporter ids and secrets are checked", "[batch]") {
  check_reporter_id("mx1.example-2_b");
  CHECK_THROWS_AS(check_reporter_id(""), UsageError);
  CHECK_THROWS_AS(check_reporter_id(std::string(65, 'a')), UsageError);
  CHECK_THROWS_AS(check_reporter_id("a b"), UsageError);
  check_secret(std::string(32, 's'));
  CHECK_THROWS_AS(check_secret(std::string(31, 's')), UsageError);
  CHECK_THROWS_AS(check_secret(std::string(32, ' ')), UsageError);
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "exigrey/dns_wire.h"
#include "exigrey/error.h"
#include "exigrey/tsig.h"

using namespace exigrey;
using namespace exigrey::dns;

namespace {

constexpr std::uint64_t kNow = 1'750'000'000;

TsigKey test_key() {
  // "exigrey-test-secret-32-bytes-ok!" in base64.
  return parse_tsig_key(
      "hmac-sha256:collector.example.org:ZXhpZ3JleS10ZXN0LXNlY3JldC0zMi1ieXRlcy1vayE=");
}

template <typename F>
std::string error_of(F&& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() == kind) return e.what();
    return std::string("wrong kind: ") + e.what();
  }
  return {};
}

std::string request(std::uint16_t id = 0x4242) {
  UpdateBuilder u(id, "bl.example.org");
  u.add("2.0.0.127.bl.example.org", Type::kA, 300, rdata_a("127.0.0.2"));
  return u.finish();
}

// An answer the server could send: header with QR and the given rcode, the zone section echoed.
std::string answer(std::uint16_t id = 0x4242, unsigned rcode = 0) {
  MessageBuilder b(id, Opcode::kUpdate);
  b.question("bl.example.org", Type::kSOA);
  std::string wire = b.finish();
  wire[2] = static_cast<char>(wire[2] | 0x80);
  wire[3] = static_cast<char>(rcode);
  return wire;
}

// One message of an AXFR stream.
std::string axfr_part(int n) {
  MessageBuilder b(0x99, Opcode::kQuery);
  b.record(MessageBuilder::Section::kAnswer, std::to_string(n) + ".bl.example.org", Type::kTXT,
           kClassIN, 60, rdata_txt("part " + std::to_string(n)));
  std::string wire = b.finish();
  wire[2] = static_cast<char>(wire[2] | 0x80);
  return wire;
}

}  // namespace

TEST_CASE("dns tsig: keys parse from kdig's -y form", "[tsig]") {
  const TsigKey k = test_key();
  CHECK(k.name == "collector.example.org");
  CHECK(k.algorithm == "hmac-sha256");
  CHECK(k.secret == "exigrey-test-secret-32-bytes-ok!");

  const TsigKey d = parse_tsig_key("  Key.Example.:c2VjcmV0\n");
  CHECK(d.name == "key.example");
  CHECK(d.algorithm == "hmac-sha256");
  CHECK(d.secret == "secret");
  CHECK(parse_tsig_key("HMAC-SHA512:k:c2VjcmV0").algorithm == "hmac-sha512");
  CHECK(parse_tsig_key("hmac-sha1.:k:c2VjcmV0").algorithm == "hmac-sha1");
  CHECK(parse_tsig_key("hmac-sha224:k:c2VjcmV0").algorithm == "hmac-sha224");
  CHECK(parse_tsig_key("hmac-sha384:k:c2VjcmV0").algorithm == "hmac-sha384");
  CHECK(parse_tsig_key("k:c2VjcmV0cw").secret == "secrets");  // unpadded
  CHECK(parse_tsig_key("k:c2VjcmV0cw==").secret == "secrets");

  for (const char* bad : {"", "  \n", "c2VjcmV0", "k:", ":c2VjcmV0", "a:b:c:c2VjcmV0",
                          "hmac-md5:k:c2VjcmV0", "k:c2VjcmV0!", "k:c2Vjc", "k:c2V=jcmV0",
                          "a..b:c2VjcmV0", ".:c2VjcmV0", "hmac-sha256:k:c2VjcmV0 extra"}) {
    INFO(bad);
    const std::string msg = error_of([&] { parse_tsig_key(bad); }, ErrorKind::kUsage);
    CHECK_THAT(msg, Catch::StartsWith("invalid TSIG key: "));
    CHECK(msg.find("c2Vjc") == std::string::npos);  // never the secret
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("dns tsig: a signed request carries a TSIG record with its MAC", "[tsig]") {
  const TsigKey key = test_key();
  const std::string plain = request();
  std::string wire = plain;
  const std::string mac = tsig_sign(wire, key, kNow);
  CHECK(mac.size() == 32);
  CHECK(wire.substr(0, 10) == plain.substr(0, 10));
  CHECK(wire[11] == 1);  // ARCOUNT
  const Message m = parse_message(wire);
  CHECK(m.tsig_offset == plain.size());
  REQUIRE(m.additional.size() == 1);
  const Record& t = m.additional[0];
  CHECK(t.name == "collector.example.org");
  CHECK(t.type == Type::kTSIG);
  CHECK(t.klass == kClassANY);
  CHECK(t.ttl == 0);
  std::string expected = encode_name("hmac-sha256");
  expected += std::string("\0\0", 2) + "\x68\x4e\xe1\x80";  // 1750000000, 48 bits
  expected += std::string("\x01\x2c\0\x20", 4) + mac + "\x42\x42" + std::string(4, '\0');
  CHECK(t.rdata == expected);

  // Same inputs, same MAC; another time or key, another MAC.
  std::string again = plain;
  CHECK(tsig_sign(again, key, kNow) == mac);
  CHECK(again == wire);
  std::string later = plain;
  CHECK(tsig_sign(later, key, kNow + 1) != mac);

  std::string tiny = "short";
  CHECK_THROWS_AS(tsig_sign(tiny, key, kNow), UsageError);
  std::string w = plain;
  CHECK_THROWS_AS(tsig_sign(w, key, std::uint64_t{1} << 48), UsageError);
  CHECK_THROWS_AS(tsig_sign(w, TsigKey{"k", "hmac-md5", "s"}, kNow), UsageError);
  CHECK_THROWS_AS(tsig_sign(w, TsigKey{"k", "hmac-sha256", ""}, kNow), UsageError);
  CHECK(w == plain);
}

TEST_CASE("dns tsig: an answer signed over the request MAC verifies", "[tsig]") {
  for (const char* alg :
       {"hmac-sha256", "hmac-sha1", "hmac-sha224", "hmac-sha384", "hmac-sha512"}) {
    INFO(alg);
    TsigKey key = test_key();
    key.algorithm = alg;
    std::string req = request();
    const std::string request_mac = tsig_sign(req, key, kNow);
    std::string ans = answer();
    tsig_sign(ans, key, kNow + 2, 300, request_mac);
    TsigVerifier v(key, request_mac, kNow);
    CHECK(v.verify(ans, true));
    CHECK(v.signed_count() == 1);

    // TsigSigner's first answer is the same thing.
    std::string ans2 = answer();
    TsigSigner s(key, request_mac);
    s.sign(ans2, kNow + 2);
    CHECK(ans2 == ans);

    // An answer signed as if it were a request (no request MAC) does not.
    std::string unbound = answer();
    tsig_sign(unbound, key, kNow);
    TsigVerifier v2(key, request_mac, kNow);
    CHECK_THAT(error_of([&] { v2.verify(unbound, true); }, ErrorKind::kCorrupt),
               Catch::Contains("wrong MAC"));
  }
}

TEST_CASE("dns tsig: any changed byte, another key or a stale time fails", "[tsig]") {
  const TsigKey key = test_key();
  std::string req = request();
  const std::string request_mac = tsig_sign(req, key, kNow);
  std::string ans = answer();
  tsig_sign(ans, key, kNow, 300, request_mac);

  // The message ID is not covered: the MAC uses the original ID in the TSIG
  // record (RFC 8945 4.3.2), so a forwarder may change the header's.
  std::string new_id = ans;
  new_id[0] = '\x77';
  TsigVerifier v0(key, request_mac, kNow);
  CHECK(v0.verify(new_id, true));
  for (std::size_t i = 2; i < ans.size(); ++i) {
    std::string bad = ans;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    INFO(i);
    TsigVerifier v(key, request_mac, kNow);
    // Some flips break the message's structure: kCorrupt too, never a pass.
    CHECK_THROWS_AS(v.verify(bad, true), Error);
    CHECK(v.signed_count() == 0);
  }
  // A changed request MAC means another request.
  std::string other_mac = request_mac;
  other_mac[0] = static_cast<char>(other_mac[0] ^ 1);
  TsigVerifier wrong_request(key, other_mac, kNow);
  CHECK_THROWS_AS(wrong_request.verify(ans, true), Error);

  TsigKey other_name = key;
  other_name.name = "other.example.org";
  TsigVerifier v1(other_name, request_mac, kNow);
  CHECK(error_of([&] { v1.verify(ans, true); }, ErrorKind::kCorrupt) ==
        "TSIG verification failed: signed with another key 'collector.example.org'");
  // The key name compares without case.
  TsigKey upper = key;
  upper.name = "COLLECTOR.Example.org.";
  TsigVerifier v_upper(upper, request_mac, kNow);
  CHECK(v_upper.verify(ans, true));

  TsigKey other_alg = key;
  other_alg.algorithm = "hmac-sha512";
  TsigVerifier v2(other_alg, request_mac, kNow);
  CHECK_THAT(error_of([&] { v2.verify(ans, true); }, ErrorKind::kCorrupt),
             Catch::Contains("another algorithm 'hmac-sha256'"));

  TsigKey other_secret = key;
  other_secret.secret[0] = 'X';
  TsigVerifier v3(other_secret, request_mac, kNow);
  CHECK_THAT(error_of([&] { v3.verify(ans, true); }, ErrorKind::kCorrupt),
             Catch::Contains("wrong MAC"));

  TsigVerifier edge_late(key, request_mac, kNow + 300);
  CHECK(edge_late.verify(ans, true));
  TsigVerifier edge_early(key, request_mac, kNow - 300);
  CHECK(edge_early.verify(ans, true));
  TsigVerifier late(key, request_mac, kNow + 301);
  CHECK_THAT(error_of([&] { late.verify(ans, true); }, ErrorKind::kCorrupt),
             Catch::Contains("301 s from our time"));
  TsigVerifier early(key, request_mac, kNow - 301);
  CHECK_THROWS_AS(early.verify(ans, true), Error);
  // A smaller fudge chosen by the signer applies.
  std::string tight = answer();
  tsig_sign(tight, key, kNow, 10, request_mac);
  TsigVerifier v_tight(key, request_mac, kNow + 11);
  CHECK_THAT(error_of([&] { v_tight.verify(tight, true); }, ErrorKind::kCorrupt),
             Catch::Contains("fudge of 10 s"));

  // A failure leaves the verifier as it was: the genuine answer still passes.
  TsigVerifier v4(key, request_mac, kNow);
  std::string tampered = ans;
  tampered[5] = static_cast<char>(tampered[5] ^ 0x01);
  CHECK_THROWS_AS(v4.verify(tampered, true), Error);
  CHECK(v4.verify(ans, true));
}

TEST_CASE("dns tsig: unsigned answers and the server's TSIG errors are named", "[tsig]") {
  const TsigKey key = test_key();
  std::string req = request();
  const std::string request_mac = tsig_sign(req, key, kNow);

  TsigVerifier v(key, request_mac, kNow);
  CHECK(error_of([&] { v.verify(answer(0x4242, 5), false); }, ErrorKind::kCorrupt) ==
        "TSIG verification failed: the answer is not signed (rcode REFUSED)");
  CHECK_THAT(error_of([&] { v.verify("junk", true); }, ErrorKind::kCorrupt),
             Catch::StartsWith("malformed DNS message: "));

  // What a server sends for an unknown key or a bad signature: error set, no MAC.
  auto refused = [&](std::uint16_t error, std::string other) {
    std::string rdata = encode_name("hmac-sha256");
    rdata += std::string("\0\0\x68\x4e\xe1\x80\x01\x2c\0\0\x42\x42", 12);
    rdata += static_cast<char>(error >> 8);
    rdata += static_cast<char>(error & 0xff);
    rdata += static_cast<char>(0);
    rdata += static_cast<char>(other.size());
    rdata += other;
    MessageBuilder b(0x4242, Opcode::kUpdate);
    b.question("bl.example.org", Type::kSOA);
    b.record(MessageBuilder::Section::kAdditional, "collector.example.org", Type::kTSIG, kClassANY,
             0, rdata);
    TsigVerifier fresh(key, request_mac, kNow);
    return error_of([&] { fresh.verify(b.finish(), true); }, ErrorKind::kCorrupt);
  };
  CHECK_THAT(refused(16, ""), Catch::Contains("BADSIG"));
  CHECK_THAT(refused(17, ""), Catch::Contains("BADKEY"));
  CHECK_THAT(refused(18, std::string("\0\0\x68\x4e\xe3\x00", 6)),
             Catch::Contains("BADTIME; server time 1750000384"));
  CHECK_THAT(refused(22, ""), Catch::Contains("BADTRUNC"));
  CHECK_THAT(refused(99, ""), Catch::Contains("TSIG error 99"));
  // Error 0 with no MAC: a truncated MAC, refused.
  CHECK_THAT(refused(0, ""), Catch::Contains("truncated MACs are not accepted"));
}

TEST_CASE("dns tsig: a stream of answers with unsigned ones between verifies", "[tsig]") {
  const TsigKey key = test_key();
  std::string req = request(0x99);
  const std::string request_mac = tsig_sign(req, key, kNow);

  TsigSigner server(key, request_mac);
  std::vector<std::string> parts;
  for (int i = 0; i < 6; ++i) parts.push_back(axfr_part(i));
  // Signed: 0, 3, 5. Unsigned: 1, 2, 4.
  server.sign(parts[0], kNow);
  server.pass_unsigned(parts[1]);
  server.pass_unsigned(parts[2]);
  server.sign(parts[3], kNow + 1);
  server.pass_unsigned(parts[4]);
  server.sign(parts[5], kNow + 2);

  {
    TsigVerifier v(key, request_mac, kNow);
    CHECK(v.verify(parts[0], false));
    CHECK_FALSE(v.verify(parts[1], false));
    CHECK_FALSE(v.verify(parts[2], false));
    CHECK(v.verify(parts[3], false));
    CHECK_FALSE(v.verify(parts[4], false));
    CHECK(v.verify(parts[5], true));
    CHECK(v.signed_count() == 3);
  }
  {
    // The last message must be signed.
    TsigVerifier v(key, request_mac, kNow);
    CHECK(v.verify(parts[0], false));
    CHECK(error_of([&] { v.verify(parts[1], true); }, ErrorKind::kCorrupt) ==
          "TSIG verification failed: the last answer is not signed");
  }
  {
    // An unsigned message left out, or the order changed: the next MAC fails.
    TsigVerifier v(key, request_mac, kNow);
    CHECK(v.verify(parts[0], false));
    CHECK_FALSE(v.verify(parts[2], false));
    CHECK_THAT(error_of([&] { v.verify(parts[3], false); }, ErrorKind::kCorrupt),
               Catch::Contains("wrong MAC"));
  }
  {
    // A later message verified as if it were the first fails (it covers only the timers).
    TsigVerifier v(key, request_mac, kNow);
    CHECK_THROWS_AS(v.verify(parts[3], false), Error);
  }
  {
    // The first message unsigned fails even when not required.
    TsigVerifier v(key, request_mac, kNow);
    CHECK_THAT(error_of([&] { v.verify(parts[1], false); }, ErrorKind::kCorrupt),
               Catch::Contains("not signed"));
  }
  CHECK_THROWS_AS(TsigSigner(key, request_mac).pass_unsigned(parts[1]), UsageError);
}

TEST_CASE("dns tsig: at most 99 unsigned answers in a row", "[tsig]") {
  const TsigKey key = test_key();
  std::string req = request(0x99);
  const std::string request_mac = tsig_sign(req, key, kNow);
  TsigSigner server(key, request_mac);
  std::string first = axfr_part(0);
  server.sign(first, kNow);
  const std::string middle = axfr_part(1);
  for (int i = 0; i < 99; ++i) server.pass_unsigned(middle);
  std::string last = axfr_part(2);
  server.sign(last, kNow);

  TsigVerifier v(key, request_mac, kNow);
  CHECK(v.verify(first, false));
  for (int i = 0; i < 99; ++i) CHECK_FALSE(v.verify(middle, false));
  TsigVerifier copy = v;
  CHECK(v.verify(last, true));
  CHECK_THAT(error_of([&] { copy.verify(middle, false); }, ErrorKind::kCorrupt),
             Catch::Contains("more than 99 unsigned"));
}

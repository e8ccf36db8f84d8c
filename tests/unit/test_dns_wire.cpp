// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>

#include "exigrey/dns_wire.h"
#include "exigrey/error.h"

using namespace exigrey;
using namespace exigrey::dns;

namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

std::string label(std::size_t n, char c = 'a') { return std::string(n, c); }

// The message of `f`, or "" when it does not throw.
template <typename F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return {};
}

// The message of the kCorrupt error `f` throws, or "" when it throws none.
template <typename F>
std::string corrupt_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCorrupt) return e.what();
  }
  return {};
}

template <typename F>
bool throws_corrupt(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind() == ErrorKind::kCorrupt;
  }
  return false;
}

// A 12-byte header with the given counts.
std::string header(std::uint16_t id, std::uint16_t flags, int qd, int an, int ns, int ar) {
  return bytes({id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar});
}

// A response a name server could send, compressed by hand:
//   question  example.org A IN
//   answer    example.org CNAME www.example.org   (owner and target compressed)
//   answer    www.example.org MX 10 mail.example.org
//   authority example.org SOA ns.example.org hostmaster.example.org 7 1 2 3 4
std::string compressed_response() {
  std::string m = header(0xbeef, 0x8180, 1, 2, 1, 0);
  m += bytes({7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0});  // at 12
  m += bytes({0, 1, 0, 1});
  m += bytes({0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 6});  // CNAME, rdlength 6
  const std::size_t www = m.size();                            // 41
  m += bytes({3, 'w', 'w', 'w', 0xc0, 12});
  m += bytes({0xc0, static_cast<int>(www), 0, 15, 0, 1, 0, 0, 0, 60, 0, 9});  // MX, rdlength 9
  m += bytes({0, 10, 4, 'm', 'a', 'i', 'l', 0xc0, 12});
  m += bytes({0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60});
  std::string soa = bytes({2, 'n', 's', 0xc0, 12, 10});
  soa += "hostmaster";
  soa += bytes({0xc0, 12, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4});
  m += bytes({0, static_cast<int>(soa.size())});
  m += soa;
  return m;
}

}  // namespace

TEST_CASE("dns: names encode to wire form, root and trailing dot included", "[dns]") {
  CHECK(encode_name("a.bc") == bytes({1, 'a', 2, 'b', 'c', 0}));
  CHECK(encode_name("a.bc.") == encode_name("a.bc"));
  CHECK(encode_name("") == bytes({0}));
  CHECK(encode_name(".") == bytes({0}));
  CHECK(encode_name("*.bl.example.org") == encode_name("*.bl.example.org."));
  CHECK(encode_name("*.x")[1] == '*');
  CHECK(encode_name("_dmarc.a-b.org").size() == 16);
  CHECK(rdata_name("Mail.Example.org") == encode_name("Mail.Example.org"));

  // 63-byte labels are fine, 64 are not.
  CHECK(encode_name(label(63) + ".org").size() == 1 + 63 + 1 + 3 + 1);
  CHECK_THAT(usage_error([] { encode_name(label(64) + ".org"); }),
             Catch::StartsWith("invalid DNS name '") && Catch::Contains("label longer than 63"));

  // 255 bytes in wire form is the limit: 3 x (1 + 63) + (1 + 61) + root.
  const std::string longest = label(63) + "." + label(63) + "." + label(63) + "." + label(61);
  CHECK(encode_name(longest).size() == 255);
  CHECK(encode_name(longest + ".").size() == 255);
  CHECK_THAT(usage_error([&] { encode_name(longest + "b"); }), Catch::Contains("255"));
  CHECK_THAT(usage_error([&] { encode_name(longest + ".b"); }), Catch::Contains("255"));
  // A huge text is refused, not built.
  CHECK_THAT(usage_error([] { encode_name(std::string(100000, 'a').replace(1, 1, ".")); }),
             Catch::Contains("label longer than 63"));

  for (const char* bad : {"a..b", ".a", "..", "a.b..", "a b", "a\tb", "a\nb", "\x7f", "é.org"}) {
    INFO(bad);
    const std::string msg = usage_error([&] { encode_name(bad); });
    CHECK_THAT(msg, Catch::StartsWith("invalid DNS name '"));
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK_THAT(usage_error([] { encode_name("a..b"); }), Catch::EndsWith("empty label"));
}

TEST_CASE("dns: escapes give any byte of a label and read back the same", "[dns]") {
  CHECK(encode_name("a\\.b.org") == bytes({3, 'a', '.', 'b', 3, 'o', 'r', 'g', 0}));
  CHECK(encode_name("\\065\\000\\255") == bytes({3, 'A', 0, 255, 0}));
  CHECK(encode_name("a\\\\b") == bytes({3, 'a', '\\', 'b', 0}));
  for (const char* bad : {"a\\", "\\25", "\\256", "\\2x5", "a\\ b"}) {
    INFO(bad);
    CHECK_THAT(usage_error([&] { encode_name(bad); }), Catch::StartsWith("invalid DNS name"));
  }
  const std::string odd = bytes({4, 'a', '.', ' ', 0, 2, '\\', 0x80, 0});
  CHECK(name_text(odd) == "a\\.\\032\\000.\\\\\\128");
  CHECK(encode_name(name_text(odd)) == odd);
  // Escapes of letters fold too.
  CHECK(normalize_name("\\066c") == "bc");
}

TEST_CASE("dns: names normalize and compare without case", "[dns]") {
  CHECK(normalize_name("Foo.Example.ORG.") == "foo.example.org");
  CHECK(normalize_name(".") == "");
  CHECK(normalize_name("") == "");
  CHECK(normalize_name("*.BL") == "*.bl");
  CHECK(names_equal("A.b.", "a.B"));
  CHECK(names_equal("", "."));
  CHECK_FALSE(names_equal("a.b", "a.bc"));
  CHECK_FALSE(names_equal("a.b", "b"));
  CHECK_THROWS_AS(names_equal("a..b", "a.b"), UsageError);

  CHECK(name_in_zone("4.3.2.1.BL.example.org", "bl.example.org."));
  CHECK(name_in_zone("bl.example.org", "bl.example.org"));
  CHECK(name_in_zone("anything.at.all", ""));
  CHECK_FALSE(name_in_zone("xbl.example.org", "bl.example.org"));
  CHECK_FALSE(name_in_zone("example.org", "bl.example.org"));
  // An escaped dot is inside a label, not a boundary.
  CHECK_FALSE(name_in_zone("a\\.bl.example.org", "bl.example.org"));
  CHECK(name_in_zone("a\\.bl.example.org", "example.org"));
}

TEST_CASE("dns: wire names read back to text, malformed ones are refused", "[dns]") {
  CHECK(name_text(bytes({0})) == "");
  CHECK(name_text(encode_name("Mixed.Case.org.")) == "Mixed.Case.org");
  CHECK(throws_corrupt([] { name_text(""); }));
  CHECK(throws_corrupt([] { name_text(bytes({1, 'a'})); }));
  CHECK(throws_corrupt([] { name_text(bytes({3, 'a', 0})); }));
  CHECK(throws_corrupt([] { name_text(bytes({1, 'a', 0, 0})); }));
  CHECK(throws_corrupt([] { name_text(bytes({0xc0, 0})); }));
  CHECK(throws_corrupt([] { name_text(bytes({64})); }));
  std::string too_long;
  for (int i = 0; i < 4; ++i) too_long += char{63} + label(63);
  too_long += '\0';
  CHECK(throws_corrupt([&] { name_text(too_long); }));
}

TEST_CASE("dns: A and TXT data", "[dns]") {
  CHECK(rdata_a("127.0.0.2") == bytes({127, 0, 0, 2}));
  CHECK(a_text(bytes({127, 0, 0, 2})) == "127.0.0.2");
  CHECK(a_text(rdata_a("255.255.255.255")) == "255.255.255.255");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "::1", "a.b.c.d"}) {
    INFO(bad);
    CHECK_THAT(usage_error([&] { rdata_a(bad); }), Catch::StartsWith("invalid IPv4 address"));
  }
  CHECK(throws_corrupt([] { a_text(bytes({1, 2, 3})); }));
  CHECK(throws_corrupt([] { a_text(""); }));

  CHECK(rdata_txt("") == bytes({0}));
  CHECK(rdata_txt("hi") == bytes({2, 'h', 'i'}));
  const std::string t255(255, 'x');
  CHECK(rdata_txt(t255).size() == 256);
  const std::string t256 = t255 + "y";
  const std::string r256 = rdata_txt(t256);
  REQUIRE(r256.size() == 258);
  CHECK(static_cast<unsigned char>(r256[0]) == 255);
  CHECK(r256.substr(256) == bytes({1, 'y'}));
  std::string t600;
  for (int i = 0; i < 600; ++i) t600 += static_cast<char>('a' + i % 26);
  CHECK(rdata_txt(t600).size() == 603);
  CHECK(txt_text(rdata_txt(t600)) == t600);
  CHECK(txt_text(rdata_txt("")) == "");
  CHECK(txt_text(bytes({1, 'a', 0, 2, 'b', 'c'})) == "abc");
  CHECK(throws_corrupt([] { txt_text(""); }));
  CHECK(throws_corrupt([] { txt_text(bytes({5, 'a', 'b'})); }));
  CHECK(throws_corrupt([] { txt_text(bytes({1, 'a', 1})); }));
  CHECK_THROWS_AS(rdata_txt(std::string(70000, 'x')), UsageError);
}

TEST_CASE("dns: SOA data round-trips", "[dns]") {
  const Soa soa{"ns1.Example.org", "hostmaster.example.org", 2025010203, 3600, 600, 1209600, 300};
  const std::string rdata = rdata_soa(soa);
  CHECK(rdata.size() == encode_name(soa.mname).size() + encode_name(soa.rname).size() + 20);
  CHECK(parse_soa(rdata) == soa);
  const Soa root{"", ".", 0xffffffff, 0, 0, 0, 0};
  CHECK(parse_soa(rdata_soa(root)) == Soa{"", "", 0xffffffff, 0, 0, 0, 0});
  CHECK(throws_corrupt([&] { parse_soa(rdata.substr(0, rdata.size() - 1)); }));
  CHECK(throws_corrupt([&] { parse_soa(rdata + "x"); }));
  CHECK(throws_corrupt([] { parse_soa(""); }));
  CHECK(throws_corrupt([] { parse_soa(bytes({0xc0, 0})); }));
  CHECK_THROWS_AS(rdata_soa(Soa{"a..b", "c", 1, 1, 1, 1, 1}), UsageError);
}

TEST_CASE("dns: an UPDATE built is the UPDATE parsed", "[dns]") {
  UpdateBuilder u(0x1234, "BL.example.org.");
  CHECK(u.changes() == 0);
  CHECK(u.size() == 12 + encode_name("bl.example.org").size() + 4);
  u.add("2.0.0.127.bl.example.org", Type::kA, 300, rdata_a("127.0.0.2"));
  u.add("2.0.0.127.BL.example.org.", Type::kTXT, 300, rdata_txt("listed"));
  u.delete_rrset("5.6.7.8.bl.example.org", Type::kTXT);
  u.delete_name("*.bad.bl.example.org");
  u.delete_rr("bl.example.org", Type::kNS, rdata_name("ns.example.org"));
  CHECK(u.changes() == 5);
  CHECK_THAT(usage_error([&] { u.add("example.org", Type::kA, 1, rdata_a("127.0.0.2")); }),
             Catch::Contains("not in zone 'bl.example.org'"));
  CHECK_THROWS_AS(u.delete_name("a..bl.example.org"), UsageError);
  CHECK(u.changes() == 5);
  const std::string wire = u.finish();
  CHECK(wire.size() == u.size());

  const Message m = parse_message(wire);
  CHECK(m.id == 0x1234);
  CHECK(m.opcode == Opcode::kUpdate);
  CHECK_FALSE(m.qr);
  CHECK_FALSE(m.rd);
  CHECK(m.rcode == 0);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].name == "bl.example.org");
  CHECK(m.questions[0].type == Type::kSOA);
  CHECK(m.questions[0].klass == kClassIN);
  CHECK(m.answers.empty());
  CHECK(m.additional.empty());
  CHECK(m.tsig_offset == 0);
  REQUIRE(m.authority.size() == 5);
  const auto& a = m.authority;
  CHECK(a[0].name == "2.0.0.127.bl.example.org");
  CHECK(a[0].type == Type::kA);
  CHECK(a[0].klass == kClassIN);
  CHECK(a[0].ttl == 300);
  CHECK(a_text(a[0].rdata) == "127.0.0.2");
  CHECK(a[1].name == "2.0.0.127.bl.example.org");
  CHECK(txt_text(a[1].rdata) == "listed");
  CHECK(a[2].name == "5.6.7.8.bl.example.org");
  CHECK(a[2].type == Type::kTXT);
  CHECK(a[2].klass == kClassANY);
  CHECK(a[2].ttl == 0);
  CHECK(a[2].rdata.empty());
  CHECK(a[3].name == "*.bad.bl.example.org");
  CHECK(a[3].type == Type::kANY);
  CHECK(a[3].klass == kClassANY);
  CHECK(a[3].rdata.empty());
  CHECK(a[4].type == Type::kNS);
  CHECK(a[4].klass == kClassNONE);
  CHECK(a[4].ttl == 0);
  CHECK(name_text(a[4].rdata) == "ns.example.org");
}

TEST_CASE("dns: the message builder sets header bits and guards sizes", "[dns]") {
  MessageBuilder b(7, Opcode::kQuery, true);
  b.question("example.org", Type::kAXFR);
  b.record(MessageBuilder::Section::kAdditional, ".", Type::kOPT, 1232, 0, "");
  const Message m = parse_message(b.finish());
  CHECK(m.id == 7);
  CHECK(m.rd);
  CHECK(m.opcode == Opcode::kQuery);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].type == Type::kAXFR);
  REQUIRE(m.additional.size() == 1);
  CHECK(m.additional[0].name == "");
  CHECK(m.additional[0].klass == 1232);

  CHECK_THROWS_AS(b.record(MessageBuilder::Section::kAnswer, "a", Type::kTXT, kClassIN, 0,
                           std::string(65536, 'x')),
                  UsageError);
  MessageBuilder big(1, Opcode::kUpdate);
  big.record(MessageBuilder::Section::kAuthority, "a", Type::kTXT, kClassIN, 0,
             std::string(65535, 'x'));
  CHECK(big.size() > kMaxMessageBytes);
  CHECK_THROWS_AS(big.finish(), UsageError);

  CHECK(tcp_frame("abc") == bytes({0, 3, 'a', 'b', 'c'}));
  CHECK(tcp_frame(std::string(300, 'x')).substr(0, 2) == bytes({1, 44}));
  CHECK_THROWS_AS(tcp_frame(std::string(65536, 'x')), UsageError);

  CHECK(rcode_name(0) == "NOERROR");
  CHECK(rcode_name(static_cast<unsigned>(Rcode::kRefused)) == "REFUSED");
  CHECK(rcode_name(10) == "NOTZONE");
  CHECK(rcode_name(17) == "RCODE17");
}

TEST_CASE("dns: compressed names are followed, in owners and in data", "[dns]") {
  const Message m = parse_message(compressed_response());
  CHECK(m.id == 0xbeef);
  CHECK(m.qr);
  CHECK(m.rd);
  CHECK(m.ra);
  CHECK_FALSE(m.aa);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].name == "example.org");
  REQUIRE(m.answers.size() == 2);
  CHECK(m.answers[0].name == "example.org");
  CHECK(m.answers[0].type == Type::kCNAME);
  CHECK(m.answers[0].ttl == 3600);
  CHECK(m.answers[0].rdata == encode_name("www.example.org"));
  CHECK(m.answers[1].name == "www.example.org");
  CHECK(m.answers[1].type == Type::kMX);
  CHECK(m.answers[1].rdata == bytes({0, 10}) + encode_name("mail.example.org"));
  REQUIRE(m.authority.size() == 1);
  const Soa soa = parse_soa(m.authority[0].rdata);
  CHECK(soa == Soa{"ns.example.org", "hostmaster.example.org", 7, 1, 2, 3, 4});
}

TEST_CASE("dns: pointer loops, forward pointers and bad labels are refused", "[dns]") {
  const std::string q = bytes({0, 1, 0, 1});
  const std::string h1 = header(1, 0, 1, 0, 0, 0);
  // Points at itself.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0xc0, 12}) + q); }));
  // A label, then back to the start of its own run: a loop that only ever points backwards.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({1, 'a', 0xc0, 12}) + q); }));
  // Forward.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0xc0, 14, 0, 0}) + q); }));
  // Past the end.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0xff, 0xff}) + q); }));
  // Truncated pointer.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0xc0})); }));
  // Extended and unknown label types.
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0x41, 0}) + q); }));
  CHECK(throws_corrupt([&] { parse_message(h1 + bytes({0x80, 0}) + q); }));

  // Two questions whose second points into the first and back: the second's
  // chain ends, the first cannot point forward into the second.
  const std::string ok =
      header(1, 0, 2, 0, 0, 0) + bytes({1, 'a', 0}) + q + bytes({1, 'b', 0xc0, 12}) + q;
  const Message m = parse_message(ok);
  REQUIRE(m.questions.size() == 2);
  CHECK(m.questions[1].name == "b.a");

  // A chain of pointers making a name over 255 bytes.
  std::string h = header(1, 0, 5, 0, 0, 0);
  std::size_t prev = 0;
  for (int i = 0; i < 5; ++i) {
    const std::size_t at = h.size();
    h += char{63} + label(63);
    h += i == 0 ? std::string(1, '\0') : bytes({0xc0, static_cast<int>(prev)});
    h += q;
    prev = at;
  }
  CHECK_THAT(corrupt_message([&] { parse_message(h); }), Catch::Contains("255"));

  // A pointer in RDATA may not point forward either, nor past the RDATA's end.
  std::string rec = header(1, 0, 0, 1, 0, 0) + bytes({0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 2});
  CHECK(throws_corrupt([&] { parse_message(rec + bytes({0xc0, 23})); }));
  CHECK(throws_corrupt([&] { parse_message(rec + bytes({1, 'a'})); }));
  CHECK(throws_corrupt([&] {
    parse_message(header(1, 0, 0, 1, 0, 0) + bytes({0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0}));
  }));
}

TEST_CASE("dns: truncations, excess counts and trailing bytes are corrupt, never a crash",
          "[dns]") {
  const std::string full = compressed_response();
  REQUIRE_NOTHROW(parse_message(full));
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO(n);
    CHECK(throws_corrupt([&] { parse_message(full.substr(0, n)); }));
  }
  CHECK(corrupt_message([&] { parse_message(full.substr(0, 5)); }) ==
        "malformed DNS message: shorter than the 12-byte header");
  for (std::size_t count_at : {4u, 6u, 8u, 10u}) {
    std::string more = full;
    more[count_at] = '\xff';
    INFO(count_at);
    CHECK(throws_corrupt([&] { parse_message(more); }));
  }
  CHECK(throws_corrupt([&] { parse_message(full + "x"); }));

  // TSIG anywhere but last.
  MessageBuilder b(1, Opcode::kQuery);
  b.record(MessageBuilder::Section::kAdditional, "k", Type::kTSIG, kClassANY, 0, "");
  CHECK(parse_message(b.finish()).tsig_offset == 12);
  b.record(MessageBuilder::Section::kAdditional, "a", Type::kA, kClassIN, 0, rdata_a("1.2.3.4"));
  CHECK(throws_corrupt([&] { parse_message(b.finish()); }));
  MessageBuilder c(1, Opcode::kQuery);
  c.record(MessageBuilder::Section::kAnswer, "k", Type::kTSIG, kClassANY, 0, "");
  CHECK(throws_corrupt([&] { parse_message(c.finish()); }));
}

TEST_CASE("dns: random damage to messages gives a message or kCorrupt", "[dns]") {
  UpdateBuilder u(9, "bl.example.org");
  u.add("1.bl.example.org", Type::kTXT, 60, rdata_txt("why"));
  u.delete_name("2.bl.example.org");
  const std::string seeds[] = {compressed_response(), u.finish()};
  std::mt19937 rng(12345);
  for (const std::string& seed : seeds) {
    for (int round = 0; round < 20000; ++round) {
      std::string m = seed;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
      }
      if (rng() % 4 == 0) m.resize(rng() % m.size());
      try {
        const Message parsed = parse_message(m);
        for (const Record& r : parsed.answers) CHECK(r.name == normalize_name(r.name));
      } catch (const Error& e) {
        REQUIRE(e.kind() == ErrorKind::kCorrupt);
      }
    }
  }
}

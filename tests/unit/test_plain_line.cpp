// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exigrey/plain_line.h"

using namespace exigrey;

namespace {

struct Framed {
  std::vector<std::string> lines;
  int too_long = 0;
};

Framed frame(LineFramer& f, std::string_view data, Framed out = {}) {
  f.feed(data, [&](std::string_view line, bool too_long) {
    if (too_long) {
      ++out.too_long;
    } else {
      out.lines.emplace_back(line);
    }
  });
  return out;
}

}  // namespace

TEST_CASE("The seed's line parses into a normalised report", "[plain_line]") {
  const PlainLine p = parse_plain_line("black 11.22.33.44");
  REQUIRE(p.error == LineError::kNone);
  CHECK(p.report.verb == Verb::kBlack);
  CHECK(p.report.subject == Subject{SubjectKind::kIPv4, "11.22.33.44"});
  CHECK(p.report.note.empty());
  CHECK(p.report.time == 0);

  const PlainLine v6 = parse_plain_line("white\t2001:DB8:0:0::1\r");
  REQUIRE(v6.error == LineError::kNone);
  CHECK(v6.report.verb == Verb::kWhite);
  CHECK(v6.report.subject.text == "2001:db8::1");

  const PlainLine name = parse_plain_line("  black   Bad-Sender.XYZ.   spam trap hit  ");
  REQUIRE(name.error == LineError::kNone);
  CHECK(name.report.subject == Subject{SubjectKind::kDomain, "bad-sender.xyz"});
  CHECK(name.report.note == "spam trap hit");
}

TEST_CASE("Every bad line gets its own reason", "[plain_line]") {
  CHECK(parse_plain_line("").error == LineError::kBlank);
  CHECK(parse_plain_line(" \t \r").error == LineError::kBlank);
  CHECK(parse_plain_line(std::string("black 1.2.3.4\0", 14)).error == LineError::kNul);
  CHECK(parse_plain_line("black 1.2.3.4\x01").error == LineError::kControl);
  CHECK(parse_plain_line("black\r1.2.3.4").error == LineError::kControl);
  CHECK(parse_plain_line("black").error == LineError::kSyntax);
  CHECK(parse_plain_line("grey 1.2.3.4").error == LineError::kBadVerb);
  CHECK(parse_plain_line("BLACK 1.2.3.4").error == LineError::kBadVerb);
  CHECK(parse_plain_line("black 1.2.3.4.5").error == LineError::kBadSubject);
  CHECK(parse_plain_line("black -bad-.example").error == LineError::kBadSubject);
  CHECK(parse_plain_line("black 1.2.3.4 " + std::string(300, 'n')).error == LineError::kBadNote);
  const PlainLine bad = parse_plain_line("grey 1.2.3.4");
  CHECK_FALSE(bad.message.empty());
  CHECK(bad.message.find('\n') == std::string::npos);
  CHECK(to_string(LineError::kTooLong) == "too_long");
  CHECK(to_string(LineError::kPartial) == "partial");
}

TEST_CASE("The framer splits lines across reads", "[plain_line]") {
  LineFramer f(64);
  Framed out = frame(f, "black 1.2");
  CHECK(out.lines.empty());
  CHECK(f.has_partial());
  out = frame(f, ".3.4\nwhite 5.6.7.8\r\nbla", out);
  REQUIRE(out.lines.size() == 2);
  CHECK(out.lines[0] == "black 1.2.3.4");
  CHECK(out.lines[1] == "white 5.6.7.8\r");
  CHECK(f.has_partial());
  out = frame(f, "ck 9.9.9.9\n", out);
  REQUIRE(out.lines.size() == 3);
  CHECK(out.lines[2] == "black 9.9.9.9");
  CHECK_FALSE(f.has_partial());
  out = frame(f, "\n\n", out);
  CHECK(out.lines.size() == 5);  // empty lines are lines (the parser calls them blank)
}

TEST_CASE("An over-long line is discarded as it streams and reported once", "[plain_line]") {
  LineFramer f(16);
  Framed out = frame(f, std::string(10, 'a'));
  out = frame(f, std::string(10, 'b'), out);
  CHECK(f.discarding() == 20);
  CHECK(out.too_long == 0);
  for (int i = 0; i < 1000; ++i) out = frame(f, std::string(1000, 'c'), out);
  CHECK(f.discarding() == 1'000'020);
  out = frame(f, "ccc\nblack 1.2.3.4\n", out);
  CHECK(out.too_long == 1);
  REQUIRE(out.lines.size() == 1);
  CHECK(out.lines[0] == "black 1.2.3.4");
  CHECK(f.discarding() == 0);
  CHECK_FALSE(f.has_partial());
  // Exactly the limit is fine; one more byte is not.
  out = frame(f, std::string(16, 'x') + "\n" + std::string(17, 'y') + "\n", out);
  CHECK(out.lines.size() == 2);
  CHECK(out.too_long == 2);
}

TEST_CASE("The framer's limit is clamped", "[plain_line]") {
  CHECK(LineFramer(0).max_line() == 1);
  CHECK(LineFramer(1 << 30).max_line() == kMaxPlainLineLimit);
  CHECK(LineFramer().max_line() == kDefaultMaxPlainLine);
}

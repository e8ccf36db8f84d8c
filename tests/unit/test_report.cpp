// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "exigrey/error.h"
#include "exigrey/report.h"

using namespace exigrey;

TEST_CASE("Verbs are black or white, exactly", "[report]") {
  CHECK(parse_verb("black") == Verb::kBlack);
  CHECK(parse_verb("white") == Verb::kWhite);
  for (const char* bad : {"", "Black", "grey", "black ", "blackx"}) {
    CHECK_THROWS_AS(parse_verb(bad), UsageError);
  }
}

TEST_CASE("Addresses are normalised", "[report]") {
  CHECK(parse_subject("192.0.2.1") == Subject{SubjectKind::kIPv4, "192.0.2.1"});
  CHECK(parse_subject("2001:DB8:0:0:0:0:0:1") == Subject{SubjectKind::kIPv6, "2001:db8::1"});
  CHECK(parse_subject("::FFFF:7F00:2").kind == SubjectKind::kIPv6);
  CHECK(parse_subject("Mail.Example.COM.") == Subject{SubjectKind::kDomain, "mail.example.com"});
  CHECK(parse_subject("test") == Subject{SubjectKind::kDomain, "test"});
  CHECK(parse_subject("_dmarc.example.org").text == "_dmarc.example.org");
}

TEST_CASE("Bad subjects are rejected with the value in the message", "[report]") {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("1.2.3"), std::string_view("1.2.3.256"),
        std::string_view("01.2.3.4"), std::string_view("a..b"), std::string_view("-a.b"),
        std::string_view("a b"), std::string_view("a/b"), std::string_view("exa\0mple", 8),
        std::string_view("."), std::string_view("..")}) {
    INFO(std::string(bad));
    CHECK_THROWS_AS(parse_subject(bad), UsageError);
  }
  CHECK_THROWS_AS(parse_subject(std::string(64, 'a') + ".com"), UsageError);
  CHECK_THROWS_AS(parse_subject(std::string(300, 'a')), UsageError);
  CHECK_THROWS_WITH(parse_subject("bad host"), Catch::Contains("\"bad host\""));
}

TEST_CASE("Notes are bounded and single-line", "[report]") {
  CHECK(parse_note("virus Eicar-Test found") == "virus Eicar-Test found");
  CHECK(parse_note("") == "");
  CHECK_THROWS_AS(parse_note(std::string(kMaxNoteBytes + 1, 'x')), UsageError);
  CHECK_THROWS_AS(parse_note("a\nb"), UsageError);
  CHECK_THROWS_AS(parse_note(std::string_view("a\0b", 3)), UsageError);
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/rbldnsd_zone.h"
#include "support/files.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

using test::slurp;

constexpr UnixTime kT0 = 1'735'787'045;  // 2025-01-02T03:04:05Z

UnixTime mtime_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mtime;
}

std::vector<Listing> some_listings() {
  return {Listing{parse_subject("11.22.33.44"), 2, kT0, {}, false},
          Listing{parse_subject("2a00:1450:4001::99"), 1, kT0, {}, false},
          Listing{parse_subject("bad-sender.xyz"), 3, kT0 + 1, {}, false}};
}

}  // namespace

TEST_CASE("Zone files carry the header, the RFC 5782 test point and the listings", "[rbldnsd]") {
  CHECK(format_utc(kT0) == "2025-01-02T03:04:05Z");
  CHECK(zone_file_name(Verb::kBlack, ZoneFileKind::kIp4) == "black.ip4");
  CHECK(zone_file_name(Verb::kWhite, ZoneFileKind::kNames) == "white.names");
  const auto l = some_listings();
  const ZoneOptions o;
  CHECK(render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, l, o) ==
        "# exigrey-collect black list (ip4trie dataset for rbldnsd). Generated: do not edit.\n"
        "$SOA 300 localhost hostmaster.localhost 0 10m 5m 1w 300\n"
        "$NS 300 localhost\n"
        "$TTL 300\n"
        "127.0.0.2 :127.0.0.2:RFC 5782 test point\n"
        "11.22.33.44 :127.0.0.2:$ reported by 2 exigrey reporters since "
        "2025-01-02T03:04:05Z\n");
  const std::string v6 = render_zone_file(Verb::kBlack, ZoneFileKind::kIp6, l, o);
  CHECK(v6.find("\n::ffff:7f00:2 :127.0.0.2:RFC 5782 test point\n") != std::string::npos);
  CHECK(v6.find("\n2a00:1450:4001::99 :127.0.0.2:$ reported by 1 exigrey reporter since ") !=
        std::string::npos);
  CHECK(v6.find("11.22.33.44") == std::string::npos);
  const std::string names = render_zone_file(Verb::kWhite, ZoneFileKind::kNames, l, o);
  CHECK(names.find("\ntest :127.0.0.2:RFC 5782 test point\n") != std::string::npos);
  CHECK(names.find("\nbad-sender.xyz :127.0.0.2:$ vouched for by 3 exigrey reporters since "
                   "2025-01-02T03:04:06Z\n") != std::string::npos);
  CHECK(names.find("invalid") == std::string::npos);
  CHECK(render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, {}, o).find("127.0.0.1") ==
        std::string::npos);
}

TEST_CASE("Zone options are checked", "[rbldnsd]") {
  ZoneOptions o;
  CHECK_NOTHROW(check_zone_options(o));
  o.ns = "ns1.example.org";
  o.hostmaster = "hostmaster.example.org";
  CHECK_NOTHROW(check_zone_options(o));
  o.ns = "bad name";
  CHECK_THROWS_AS(check_zone_options(o), UsageError);
  o.ns = "localhost";
  o.ttl = 0;
  CHECK_THROWS_AS(check_zone_options(o), UsageError);
}

TEST_CASE("Files are replaced whole and given the requested mtime", "[rbldnsd]") {
  test::TempDir dir;
  write_file_atomically(dir.path(), "black.ip4", "one\n", kT0);
  CHECK(slurp(dir.file("black.ip4")) == "one\n");
  CHECK(mtime_of(dir.file("black.ip4")) == kT0);
  write_file_atomically(dir.path(), "black.ip4", "two\n", kT0 + 1);
  CHECK(slurp(dir.file("black.ip4")) == "two\n");
  struct stat st {};
  CHECK(::stat(dir.file("black.ip4.tmp").c_str(), &st) != 0);  // no temporary left behind
  CHECK(::stat(dir.file("black.ip4").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  CHECK_THROWS_AS(write_file_atomically(dir.file("missing"), "x", "y", kT0), Error);
}

std::uint64_t size_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_size);
}

TEST_CASE("The writer rewrites only changed files, each visibly to rbldnsd", "[rbldnsd]") {
  test::TempDir dir;
  ZoneWriter w(dir.path(), ZoneOptions{});
  const auto l = some_listings();
  ZoneWriter::Result r = w.publish(l, {}, kT0);
  CHECK(r.written == 6);
  CHECK(mtime_of(dir.file("white.ip6")) == kT0);
  r = w.publish(l, {}, kT0);
  CHECK(r.written == 0);
  CHECK(r.unchanged == 6);

  // Two listings with addresses of the same length: the same size.
  const std::vector<Listing> a = {Listing{parse_subject("11.22.33.41"), 2, kT0, {}, false}};
  const std::vector<Listing> b = {Listing{parse_subject("11.22.33.45"), 2, kT0, {}, false}};
  const std::vector<Listing> c = {Listing{parse_subject("11.22.33.46"), 2, kT0, {}, false}};
  r = w.publish(a, {}, kT0 + 5);
  CHECK(r.written == 3);  // black.ip6 and black.names lost their entries too
  const std::uint64_t plain_size = size_of(dir.file("black.ip4"));
  CHECK(slurp(dir.file("black.ip4")) ==
        render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, a, ZoneOptions{}));
  // Within the same second, each new version gets a size of its own...
  r = w.publish(b, {}, kT0 + 5);
  CHECK(r.written == 1);
  CHECK(mtime_of(dir.file("black.ip4")) == kT0 + 5);
  CHECK(size_of(dir.file("black.ip4")) == plain_size + 2);
  CHECK(slurp(dir.file("black.ip4")) ==
        render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, b, ZoneOptions{}) + "#\n");
  r = w.publish(c, {}, kT0 + 5);
  CHECK(size_of(dir.file("black.ip4")) == plain_size + 3);
  CHECK(slurp(dir.file("black.ip4")).ends_with("\n#.\n"));
  r = w.publish(a, {}, kT0 + 5);
  CHECK(size_of(dir.file("black.ip4")) == plain_size + 4);
  // ...and the next second starts afresh.
  r = w.publish(b, {}, kT0 + 6);
  CHECK(size_of(dir.file("black.ip4")) == plain_size);
  CHECK(mtime_of(dir.file("black.ip4")) == kT0 + 6);

  // A new writer (a restart) counts the files on disk as loaded versions and
  // rewrites everything once: only black.ip4 shares the second and the size.
  ZoneWriter again(dir.path(), ZoneOptions{});
  r = again.publish(c, {}, kT0 + 6);
  CHECK(r.written == 6);
  CHECK(size_of(dir.file("black.ip4")) == plain_size + 2);
  CHECK(size_of(dir.file("white.ip4")) ==
        render_zone_file(Verb::kWhite, ZoneFileKind::kIp4, {}, ZoneOptions{}).size());
  CHECK_THROWS_AS(ZoneWriter(dir.file("nope"), ZoneOptions{}), Error);
}

namespace {

Listing listing(std::vector<std::string> categories, unsigned reporters = 2, bool manual = false) {
  return Listing{parse_subject("11.22.33.44"), reporters, kT0, std::move(categories), manual};
}

ZoneOptions with_answers() {
  ZoneOptions o;
  o.answers = {{"virus", "127.0.0.4"}, {"trap", "127.0.0.3"}, {"manual", "127.0.0.10"}};
  return o;
}

std::string invalid_txt(std::string_view tmpl) {
  try {
    check_txt_template(tmpl);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "accepted";
}

std::string invalid_answer(std::string_view item) {
  try {
    parse_answer_code(item);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("A black listing answers the code of the first configured category it has", "[rbldnsd]") {
  const ZoneOptions o = with_answers();
  // The configured order decides, not the listing's (most reported first).
  CHECK(black_answer(listing({"trap", "virus"}), o) == "127.0.0.4");
  CHECK(black_answer(listing({"spam", "trap"}), o) == "127.0.0.3");
  CHECK(black_answer(listing({"spam"}), o) == "127.0.0.2");
  CHECK(black_answer(listing({}), o) == "127.0.0.2");
  CHECK(black_answer(listing({"virus"}), ZoneOptions{}) == "127.0.0.2");
  CHECK(black_answer(listing({}, 0, true), o) == "127.0.0.10");
  CHECK(black_answer(listing({"virus"}, 0, true), o) == "127.0.0.4");
  CHECK(black_answer(listing({"manual"}, 2, false), o) == "127.0.0.2");  // a report's word

  const std::vector<Listing> l = {listing({"trap", "virus"})};
  CHECK(render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, l, o)
            .ends_with("\n11.22.33.44 :127.0.0.4:$ reported by 2 exigrey reporters since "
                       "2025-01-02T03:04:05Z\n"));
  // The white list keeps its code and text whatever the options.
  ZoneOptions t = o;
  t.txt = "{category}";
  CHECK(render_zone_file(Verb::kWhite, ZoneFileKind::kIp4, l, t)
            .ends_with("\n11.22.33.44 :127.0.0.2:$ vouched for by 2 exigrey reporters since "
                       "2025-01-02T03:04:05Z\n"));
}

TEST_CASE("The TXT template expands every placeholder and keeps $ for rbldnsd", "[rbldnsd]") {
  ZoneOptions o = with_answers();
  CHECK(o.txt == kDefaultTxt);
  CHECK(black_txt(listing({"virus"}, 1), o) ==
        "$ reported by 1 exigrey reporter since 2025-01-02T03:04:05Z");
  o.txt =
      "{category}: {subject} ({categories}) {reporters} reporter{s} since {since}; "
      "https://rbl.test/lookup?q=$#$ costs $$5";
  CHECK_NOTHROW(check_zone_options(o));
  CHECK(black_txt(listing({"trap", "virus"}, 1), o) ==
        "virus: 11.22.33.44 (trap,virus) 1 reporter since 2025-01-02T03:04:05Z; "
        "https://rbl.test/lookup?q=$#$ costs $$5");
  o.txt = "{category} {categories} {reporters} reporter{s}";
  CHECK(black_txt(listing({"spam", "other"}, 3), o) == "spam spam,other 3 reporters");
  CHECK(black_txt(listing({}, 0), o) == "listed none 0 reporters");
  CHECK(black_txt(listing({}, 0, true), o) == "manual none 0 reporters");
  ZoneOptions plain;
  plain.txt = "{category}";
  CHECK(black_txt(listing({}, 0, true), plain) == "manual");
  CHECK(black_txt(listing({"dictionary"}, 0, true), plain) == "dictionary");
  // The default text counts reporters; for the operator's listing it says whose it is.
  CHECK(black_txt(listing({}, 0, true), ZoneOptions{}) ==
        "$ listed by the exigrey operator since 2025-01-02T03:04:05Z");
  CHECK(black_txt(listing({}, 2, false), ZoneOptions{}) ==
        "$ reported by 2 exigrey reporters since 2025-01-02T03:04:05Z");
  o.txt = "{subject} $";
  const Listing net{Subject{SubjectKind::kIPv4, "11.22.33.0/24"}, 5, kT0, {}, false};
  CHECK(black_txt(net, o) == "11.22.33.0/24 $");
  CHECK(black_txt(Listing{parse_subject("bad-sender.xyz"), 1, kT0, {}, false}, o) ==
        "bad-sender.xyz $");
}

TEST_CASE("The expanded TXT is cut to one TXT string", "[rbldnsd]") {
  // 10 x 24 bytes, 10 commas and "abc": "{categories}" expands to 253 bytes.
  std::vector<std::string> cats;
  for (char c = 'a'; c < 'k'; ++c) cats.push_back(std::string(24, c));
  cats.push_back("abc");
  ZoneOptions o;
  o.txt = "{categories}";
  const std::string all = black_txt(listing(cats), o);
  REQUIRE(all.size() == 253);
  o.txt = "{categories}{categories}";
  CHECK(black_txt(listing(cats), o) == all + all.substr(0, kMaxTxtBytes - all.size()));
  o.txt = "{categories}x$$";  // "$$" does not fit whole: not half of it either
  CHECK(black_txt(listing(cats), o) == all + "x");
  o.txt = "{categories}$$";
  CHECK(black_txt(listing(cats), o) == all + "$$");
  o.txt = "{categories}x$";
  CHECK(black_txt(listing(cats), o) == all + "x$");
  const std::string rendered =
      render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, std::vector<Listing>{listing(cats)}, o);
  CHECK(rendered.ends_with("\n11.22.33.44 :127.0.0.2:" + all + "x$\n"));
}

TEST_CASE("Bad TXT templates are refused, naming the setting and why", "[rbldnsd]") {
  using Catch::Contains;
  CHECK(invalid_txt(kDefaultTxt) == "accepted");
  CHECK(invalid_txt("$") == "accepted");
  CHECK(invalid_txt("see https://rbl.test/lookup#$ for $") == "accepted");
  CHECK(invalid_txt("$$1 {s}") == "accepted");
  CHECK(invalid_txt(std::string(kMaxTxtTemplateBytes, 'x')) == "accepted");
  CHECK_THAT(invalid_txt(""), Contains("invalid txt") && Contains("empty"));
  CHECK_THAT(invalid_txt(std::string(kMaxTxtTemplateBytes + 1, 'x')),
             Contains("201 bytes, at most 200"));
  CHECK_THAT(invalid_txt("a\nb"), Contains("byte 0x0a is not printable ASCII"));
  CHECK_THAT(invalid_txt("a\tb"), Contains("byte 0x09"));
  CHECK_THAT(invalid_txt("caf\xc3\xa9"), Contains("byte 0xc3"));
  CHECK_THAT(invalid_txt(" x"), Contains("blanks would be lost"));
  CHECK_THAT(invalid_txt("x "), Contains("blanks would be lost"));
  CHECK_THAT(invalid_txt("=x"), Contains("leading '='"));
  CHECK_THAT(invalid_txt("#x"), Contains("comment"));
  CHECK_THAT(invalid_txt("see #x"), Contains("comment"));
  CHECK_THAT(invalid_txt("costs $5"), Contains("'$5' is an rbldnsd substitution variable"));
  CHECK_THAT(invalid_txt("x $= y"), Contains("'$='"));
  CHECK_THAT(invalid_txt("${reporters}"), Contains("before a placeholder"));
  CHECK_THAT(invalid_txt("{nope} x"), Contains("unknown placeholder {nope}"));
  CHECK_THAT(invalid_txt("{Category}"), Contains("unknown placeholder"));
  CHECK_THAT(invalid_txt("{reporters"), Contains("unbalanced '{'"));
  CHECK_THAT(invalid_txt("x}"), Contains("unbalanced '}'"));
  CHECK_THAT(invalid_txt("{{s}}"), Contains("unknown placeholder {{s}"));
  ZoneOptions o;
  o.txt = "{nope}";
  CHECK_THROWS_WITH(check_zone_options(o), Contains("exigrey: invalid txt \"{nope}\""));
  // A message stays one line whatever the template holds.
  CHECK(invalid_txt("x\ny").find('\n') == std::string::npos);
}

TEST_CASE("Answers are CATEGORY=ADDRESS in 127.0.0.2-127.255.255.255", "[rbldnsd]") {
  using Catch::Contains;
  CHECK(parse_answer_code("virus=127.0.0.4") ==
        std::pair<std::string, std::string>{"virus", "127.0.0.4"});
  CHECK(parse_answer_code("a_b-9=127.255.255.255").second == "127.255.255.255");
  CHECK(parse_answer_code(std::string(24, 'x') + "=127.1.0.0").first == std::string(24, 'x'));
  CHECK_THAT(invalid_answer("virus"), Contains("invalid answer \"virus\" (use CATEGORY=ADDRESS"));
  CHECK_THAT(invalid_answer("=127.0.0.4"), Contains("a category is 1 to 24 bytes"));
  CHECK_THAT(invalid_answer("Virus=127.0.0.4"), Contains("a category is"));
  CHECK_THAT(invalid_answer(std::string(25, 'x') + "=127.0.0.4"), Contains("a category is"));
  for (const char* bad : {"v=127.0.0.1", "v=127.0.0.0", "v=10.0.0.4", "v=::1", "v=127.0.0.256",
                          "v=127.0.0", "v=", "v=127.0.0.4=1"}) {
    INFO(bad);
    CHECK_THAT(invalid_answer(bad), Contains("127.0.0.2-127.255.255.255"));
  }
  ZoneOptions o = with_answers();
  CHECK_NOTHROW(check_zone_options(o));
  o.answers.push_back({"virus", "127.0.0.5"});
  CHECK_THROWS_WITH(check_zone_options(o), Contains("\"virus=127.0.0.5\" (the category has an "
                                                    "answer already)"));
  o.answers = {{"virus", "127.0.0.1"}};
  CHECK_THROWS_WITH(check_zone_options(o), Contains("exigrey: invalid answer \"virus=127.0.0.1\""));
  o.answers = {{"bad\ncat", "127.0.0.4"}};
  CHECK_THROWS_WITH(check_zone_options(o), Contains("a category is"));
  o.answers.clear();
  for (unsigned i = 0; i <= kMaxAnswers; ++i) {
    o.answers.push_back({"c" + std::to_string(i), "127.0.0." + std::to_string(i + 2)});
  }
  CHECK_THROWS_WITH(check_zone_options(o), Contains("answer: 33 categories, at most 32"));
  o.answers.pop_back();
  CHECK_NOTHROW(check_zone_options(o));
}

TEST_CASE("Hostile categories cannot add a line or a field to a data file", "[rbldnsd]") {
  ZoneOptions o = with_answers();
  o.txt = "{category} [{categories}] $";
  const Listing evil = listing({"virus\n11.22.33.45 :127.0.0.2:injected", "trap :127.0.0.9:", "$1",
                                "Spam", "", std::string(25, 'a'), "ok", "x\ry"});
  CHECK(black_answer(evil, o) == "127.0.0.2");
  CHECK(black_txt(evil, o) == "ok [ok] $");
  const std::string file =
      render_zone_file(Verb::kBlack, ZoneFileKind::kIp4, std::vector<Listing>{evil}, o);
  CHECK(
      file.ends_with("\n127.0.0.2 :127.0.0.2:RFC 5782 test point\n"
                     "11.22.33.44 :127.0.0.2:ok [ok] $\n"));
  CHECK(file.find("injected") == std::string::npos);
  CHECK(std::count(file.begin(), file.end(), '\n') == 6);
  // Even an unchecked template keeps the entry on one line.
  o.txt = "a\nb {x} \x01";
  CHECK(black_txt(evil, o) == "a?b {x} ?");
}

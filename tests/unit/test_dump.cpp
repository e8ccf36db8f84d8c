// SPDX-License-Identifier: GPL-2.0-or-later
// The dump format, its round trip, and the importers (core/include/exigrey/dump.h).
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "exigrey/dump.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "support/temp_dir.h"

using namespace exigrey;
using namespace std::string_literals;

namespace {

std::string dump_text(const Store& store) {
  std::string text;
  dump_store(store, [&](std::string_view line) { text += line; });
  return text;
}

LoadResult load_text(const Store& store, std::string text, DumpFormat format = DumpFormat::kAuto,
                     std::vector<std::string>* warnings = nullptr) {
  StringLineSource in(std::move(text), "t");
  LoadOptions o;
  o.format = format;
  if (warnings) o.warn = [&](std::string_view w) { warnings->emplace_back(w); };
  return load_dump(store, in, o);
}

// Runs `fn` with TZ set, restoring it afterwards.
template <typename F>
void with_tz(const char* tz, F fn) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", tz, 1);
  tzset();
  fn();
  if (old) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

}  // namespace

TEST_CASE("Escaping keeps every byte and never leaves a blank", "[dump]") {
  CHECK(dump_escape("a->b") == "a->b");
  CHECK(dump_escape("") == "-");
  CHECK(dump_escape("-") == "%2D");
  CHECK(dump_escape("--") == "--");
  CHECK(dump_escape("a b\nc%d/e") == "a%20b%0Ac%25d/e");
  CHECK(dump_escape("\0\x7f\xff"s) == "%00%7F%FF");
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string escaped = dump_escape(all);
  CHECK(escaped.find_first_of(" \t\n") == std::string::npos);
  CHECK(dump_unescape(escaped) == all);
  CHECK(dump_unescape("-") == "");
  CHECK(dump_unescape("%2d") == "-");  // lower case is accepted on input
  CHECK_FALSE(dump_unescape(""));
  CHECK_FALSE(dump_unescape("%"));
  CHECK_FALSE(dump_unescape("%4"));
  CHECK_FALSE(dump_unescape("%GG"));
  CHECK_FALSE(dump_unescape("a b"));
}

TEST_CASE("A dump loads into an empty store and dumps the same, byte for byte", "[dump]") {
  test::TempDir dir;
  const Store a(dir.file("a"));
  const std::string long_item(700, 'L');  // stored under a digest
  decide(a, "s->r/1.2.3.4", 600, 1000);
  decide(a, "s->r/5.6.7.8", 600, 1600);  // passes: whitelists both suffixes
  decide(a, "/only-suffix", 600, 1700);  // the empty item
  decide(a, "-", 600, 1800);
  decide(a, "bin\0\n %/x"s + "/sfx with blank", 600, 1900);
  decide(a, long_item + "/" + std::string(600, 'S'), 600, 2000);
  {
    WriteTxn t = a.write();
    t.put_whitelist(std::string(800, 'W'), WhitelistEntry{5, 6});
    t.commit();
  }
  const std::string text = dump_text(a);
  CHECK(
      text.starts_with("exigrey-dump 1\nitem - 1700 1700 0 only-suffix\nitem %2D 1800 1800 0 -\n"));
  CHECK(text.find("\nitem s->r 1000 1600 1 -\n") != std::string::npos);
  CHECK(text.find("\nitem bin%00%0A%20%25 1900 1900 0 x/sfx%20with%20blank\n") !=
        std::string::npos);
  CHECK(text.find("\nwhite 1.2.3.4 1600 1600\nwhite 5.6.7.8 1600 1600\n") != std::string::npos);
  INFO(text);
  CHECK(text.ends_with("\nend 5 3\n"));

  const Store b(dir.file("b"));
  const LoadResult r = load_text(b, text);
  CHECK(r.format == DumpFormat::kExigrey);
  CHECK(r.loaded == DumpCounts{5, 3});
  CHECK(dump_text(b) == text);
  ReadTxn t = b.read();
  REQUIRE(t.item(long_item));
  CHECK(t.item(long_item)->first == std::string(600, 'S'));
  CHECK(t.whitelisted(std::string(800, 'W')) == WhitelistEntry{5, 6});
}

TEST_CASE("Load replaces records of the same name and keeps the others", "[dump]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  decide(s, "keep/a", 600, 100);
  decide(s, "replace/b", 600, 100);
  load_text(s, "exigrey-dump 1\nitem replace 5 6 7 -\nend 1 0\n");
  ReadTxn t = s.read();
  CHECK(t.item("keep") == ItemRecord{100, 100, 0, "a"});
  CHECK(t.item("replace") == ItemRecord{5, 6, 7, std::nullopt});
}

TEST_CASE("Malformed dumps are refused with the line that is wrong", "[dump]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  auto error_of = [&](const std::string& text, DumpFormat f = DumpFormat::kAuto) {
    try {
      load_text(s, text, f);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("exigrey-dump 1\nitem a 1 2 3 -\n") ==
        "exigrey: t:2: the dump is truncated: it has no \"end\" line (1 items and 0 whitelist "
        "entries were loaded before the error)");
  CHECK(error_of("exigrey-dump 2\n") ==
        "exigrey: t:1: dump format \"exigrey-dump 2\" not understood (this exigrey reads "
        "\"exigrey-dump 1\")");
  CHECK(error_of("exigrey-dump 1\nitem a%G 1 2 3 -\nend 1 0\n") ==
        "exigrey: t:2: badly escaped name \"a%G\"");
  CHECK(error_of("exigrey-dump 1\nitem a x 2 3 -\nend 1 0\n") == "exigrey: t:2: bad number \"x\"");
  CHECK(error_of("exigrey-dump 1\nitem a 1 2 -3 -\nend 1 0\n") ==
        "exigrey: t:2: bad number \"-3\"");
  CHECK(error_of("exigrey-dump 1\nitem a 1 2 3 - extra\nend 1 0\n") ==
        "exigrey: t:2: too many fields");
  CHECK(error_of("exigrey-dump 1\nend 1 0\n").find("the end line counts 1 items") !=
        std::string::npos);
  CHECK(error_of("exigrey-dump 1\nwhite - 1 2\nend 0 1\n") ==
        "exigrey: t:2: empty whitelist suffix");
  CHECK(error_of("exigrey-dump 1\nend 0 0\nitem a 1 2 3 -\n") ==
        "exigrey: t:3: data after the \"end\" line");
  CHECK(error_of("hello\n").find("input format not recognised") != std::string::npos);
  CHECK(error_of("", DumpFormat::kExigrey).find("empty input") != std::string::npos);
  // A failure after some batches says how much was loaded.
  std::string big = "exigrey-dump 1\n";
  for (int i = 0; i < 1500; ++i) big += "item k" + std::to_string(i) + " 1 2 0 -\n";
  big += "bogus\n";
  CHECK(error_of(big).find("(1500 items and 0 whitelist entries were loaded before the error)") !=
        std::string::npos);
}

TEST_CASE("Exim::Grey records are read from db_dump output", "[dump][import]") {
  auto rec = [](std::string_view v) { return parse_exim_grey_record("k\0"s, v); };
  REQUIRE(rec("100 200 3\0"s));
  CHECK(rec("100 200 3\0"s)->item == ItemRecord{100, 200, 3, std::nullopt});
  CHECK(rec("100 200 0 auto=1.2.3.4\0"s)->item == ItemRecord{100, 200, 0, "1.2.3.4"});
  CHECK(rec("100 200")->item == ItemRecord{100, 200, 0, std::nullopt});  // before changeset 72
  CHECK(rec("100 200 auto")->kind == LoadedRecord::Kind::kWhitelist);
  CHECK(rec("100 200 auto")->entry == WhitelistEntry{100, 200});
  CHECK(rec("100 200 auto")->name == "k");
  CHECK_FALSE(rec("garbage"));
  CHECK_FALSE(rec("100 200 3 flags"));
  CHECK_FALSE(rec("100 200 3 auto="));
  // A whitelist entry without a suffix (found by fuzz_dump): not a record.
  CHECK_FALSE(parse_exim_grey_record("\0"s, "100 200 auto\0"s));
  CHECK(parse_exim_grey_record("\0"s, "100 200 0\0"s)->name.empty());  // the item "" is one

  test::TempDir dir;
  const Store s(dir.file("s"));
  std::vector<std::string> warnings;
  const LoadResult r = load_text(s,
                                 "VERSION=3\nformat=print\ntype=hash\nh_nelem=4\nHEADER=END\n"
                                 " a->b\\00\n 1000 1600 1\\00\n"
                                 " c\\5cd e\\00\n 1000 1000 0 auto=9.9.9.9\\00\n"
                                 " back\\\\slash\\00\n 5 6 0\\00\n"
                                 " 1.2.3.4\\00\n 1600 1700 auto\\00\n"
                                 " weird\\00\n what is this\\00\n"
                                 "DATA=END\n",
                                 DumpFormat::kAuto, &warnings);
  CHECK(r.format == DumpFormat::kEximGrey);
  CHECK(r.loaded == DumpCounts{3, 1});
  CHECK(r.skipped == 1);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "exigrey: t:15: skipped a record in no known Exim::Grey layout: key \"weird\", value "
        "\"what is this\"");
  ReadTxn t = s.read();
  CHECK(t.item("a->b") == ItemRecord{1000, 1600, 1, std::nullopt});
  CHECK(t.item("c\\d e") == ItemRecord{1000, 1000, 0, "9.9.9.9"});
  CHECK(t.item("back\\slash") == ItemRecord{5, 6, 0, std::nullopt});
  CHECK(t.whitelisted("1.2.3.4") == WhitelistEntry{1600, 1700});
}

TEST_CASE("db_dump without -p (hex bytes) and truncated db_dump output", "[dump][import]") {
  test::TempDir dir;
  const Store s(dir.file("s"));
  // "k\0" -> "1 2 3\0"
  load_text(s,
            "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b00\n 3120322033\nDATA=END\n");
  CHECK(s.read().item("k") == ItemRecord{1, 2, 3, std::nullopt});
  CHECK_THROWS_WITH(load_text(s, "VERSION=3\nHEADER=END\n k\n 1 2 3\n"),
                    Catch::Contains("truncated"));
  CHECK_THROWS_WITH(load_text(s, "VERSION=3\nHEADER=END\n k\n"),
                    Catch::Contains("without its value"));
}

TEST_CASE("Exim's seen database is read from exim_dumpdb output, in local time", "[dump][import]") {
  with_tz("UTC", [] {
    CHECK(parse_exim_time("22-Nov-2026 00:01:54") == 1795305714);
    CHECK(parse_exim_time("01-Jan-1970 00:00:00") == 0);
    CHECK_FALSE(parse_exim_time("22-Foo-2026 00:01:54"));
    CHECK_FALSE(parse_exim_time("32-Nov-2026 00:01:54"));
    CHECK_FALSE(parse_exim_time("22-Nov-2026 24:01:54"));
    CHECK_FALSE(parse_exim_time("22-Nov-2026  0:01:54"));
    CHECK_FALSE(parse_exim_time("31-Nov-2026 00:01:54"));  // no such day
  });
  with_tz("Europe/Berlin", [] { CHECK(parse_exim_time("22-Nov-2026 01:01:54") == 1795305714); });

  test::TempDir dir;
  const Store s(dir.file("s"));
  with_tz("UTC", [&] {
    const LoadResult r = load_text(s,
                                   "192.0.2.7_u@d.example\t22-Nov-2026 00:01:54\n"
                                   "with space\ttab\t22-Nov-2026 00:01:56\n");
    CHECK(r.format == DumpFormat::kEximSeen);
    CHECK(r.loaded == DumpCounts{2, 0});
    CHECK_THROWS_WITH(load_text(s, "k\t22-Nov-2026 00:01:54\nno tab here\n"),
                      Catch::Contains("t:2: expected \"KEY<TAB>DD-Mon-YYYY HH:MM:SS\""));
  });
  ReadTxn t = s.read();
  CHECK(t.item("192.0.2.7_u@d.example") == ItemRecord{1795305714, 1795305714, 0, std::nullopt});
  CHECK(t.item("with space\ttab") == ItemRecord{1795305716, 1795305716, 0, std::nullopt});
}

TEST_CASE("Lines are read from a descriptor in chunks, with a bound", "[dump]") {
  test::TempDir dir;
  const std::string path = dir.file("in");
  {
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
    text += "last without newline";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  const int fd = ::open(path.c_str(), O_RDONLY);
  FdLineSource in(fd, "in");
  for (int i = 0; i < 20000; ++i) {
    const auto l = in.next();
    REQUIRE(l);
    REQUIRE(*l == "line " + std::to_string(i));
  }
  CHECK(in.next() == "last without newline");
  CHECK(in.line_number() == 20001);
  CHECK_FALSE(in.next());
  ::close(fd);

  StringLineSource huge(std::string(kMaxDumpLine + 1, 'x'), "huge");
  CHECK_THROWS_WITH(huge.next(), Catch::Contains("huge:1: line longer than"));
}

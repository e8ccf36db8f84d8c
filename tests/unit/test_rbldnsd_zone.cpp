#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/rbldnsd_zone.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'735'787'045;  // 2025-01-02T03:04:05Z

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

UnixTime mtime_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mtime;
}

std::vector<Listing> some_listings() {
  return {Listing{parse_subject("11.22.33.44"), 2, kT0},
          Listing{parse_subject("2a00:1450:4001::99"), 1, kT0},
          Listing{parse_subject("bad-sender.xyz"), 3, kT0 + 1}};
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
  const std::vector<Listing> a = {Listing{parse_subject("11.22.33.41"), 2, kT0}};
  const std::vector<Listing> b = {Listing{parse_subject("11.22.33.45"), 2, kT0}};
  const std::vector<Listing> c = {Listing{parse_subject("11.22.33.46"), 2, kT0}};
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

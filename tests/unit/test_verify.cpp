// SPDX-License-Identifier: GPL-2.0-or-later
// verify(): a sound store passes with exact counts; each kind of damage that
// can be written through LMDB's own API is found and named once. (Damage
// below LMDB, in the pages themselves, is tried by the CLI test Verify.)
#include <lmdb.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "exigrey/durability.h"
#include "exigrey/records.h"
#include "exigrey/store.h"
#include "exigrey/verify.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1'700'000'000;

std::string long_name(char c) { return std::string(600, c); }  // over kMaxPlainName: hashed

void fill(const Store& s, int items, int whitelist) {
  WriteTxn txn = s.write();
  for (int i = 0; i < items; ++i) {
    txn.put_item("<s" + std::to_string(i) + "@x.test>:<r@y.test>", ItemRecord{t0, t0, 0, "n"});
  }
  for (int i = 0; i < whitelist; ++i) txn.put_whitelist("net-" + std::to_string(i), {t0, t0});
  txn.put_item(long_name('a'), ItemRecord{t0, t0 + 5, 1, std::nullopt});
  txn.put_whitelist(long_name('b'), {t0, t0});
  txn.commit();
}

// Writes key -> value (or deletes key) with LMDB's own API, in a child: the
// typed Store API cannot write damage, and a second environment on the same
// file must not live in this process.
void raw_write(const std::string& path, const std::string& key,
               const std::optional<std::string>& value) {
  const int status = test::run_child([&] {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    int rc = mdb_env_create(&env);
    if (rc == 0) rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR, 0660);
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
    if (rc == 0 && value) {
      MDB_val v{value->size(), const_cast<char*>(value->data())};
      rc = mdb_put(txn, dbi, &k, &v, 0);
    } else if (rc == 0) {
      rc = mdb_del(txn, dbi, &k, nullptr);
    }
    if (rc == 0) rc = mdb_txn_commit(txn);
    return rc == 0;
  });
  REQUIRE(status == 0);
}

std::string plain_key(Namespace ns, const std::string& name) {
  return std::string(1, static_cast<char>(ns)) + name;
}

}  // namespace

TEST_CASE("verify: a sound store passes with exact counts and progress", "[verify]") {
  test::TempDir dir;
  const Store s(dir.file("seen"));
  fill(s, 3000, 50);
  std::vector<std::uint64_t> progress;
  const VerifyReport r = verify(s, [&](std::uint64_t n) { progress.push_back(n); });
  INFO((r.problems.empty() ? std::string() : r.problems.front()));
  CHECK(r.ok());
  CHECK(r.items == 3001);
  CHECK(r.whitelist == 51);
  // The format marker and the keep log's counter; 52 precious records
  // (51 whitelist entries, 1 passed item) wait in the keep log.
  CHECK(r.meta == 2);
  CHECK(r.keep_log == 52);
  CHECK(r.walked == 3106);
  CHECK(r.lmdb_entries == 3106);
  CHECK(progress == std::vector<std::uint64_t>{1024, 2048, 3072});
  // Flushed into the keep file, the log is empty again.
  CHECK(flush(s).copied == 52);
  const VerifyReport after = verify(s);
  CHECK(after.ok());
  CHECK(after.keep_log == 0);
  CHECK(after.walked == 3054);
}

TEST_CASE("verify: each kind of damaged record is found and named", "[verify]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  const Store s(path);
  fill(s, 20, 5);
  REQUIRE(verify(s).ok());
  const std::string item = plain_key(Namespace::kItem, "<s3@x.test>:<r@y.test>");
  const std::string good_item = encode_item(ItemRecord{t0, t0, 0, std::string("n")}, false, "");

  std::string expected;
  SECTION("a truncated record") {
    raw_write(path, item, good_item.substr(0, 9));
    expected = "item <s3@x.test>:<r@y.test>: corrupt record in store (truncated value)";
  }
  SECTION("trailing bytes after a record") {
    raw_write(path, plain_key(Namespace::kWhitelist, "net-2"),
              encode_whitelist({t0, t0}, false, "") + "xx");
    expected = "whitelist entry net-2: corrupt record in store (trailing bytes)";
  }
  SECTION("a record of an unknown format version") {
    std::string v = good_item;
    v[0] = 9;
    raw_write(path, item, v);
    expected = "item <s3@x.test>:<r@y.test>: record format 9 not understood";
  }
  SECTION("a hashed key whose record carries another name") {
    raw_write(path, encode_key(Namespace::kItem, long_name('a')),
              encode_item(ItemRecord{t0, t0, 0, std::nullopt}, true, long_name('c')));
    expected = "the name its record carries (600 bytes) does not hash to its key";
  }
  SECTION("an unknown namespace") {
    raw_write(path, std::string("\x07zzz"), std::string("v"));
    expected = "entry zzz: unknown namespace byte 0x07";
  }
  SECTION("an unknown meta record") {
    raw_write(path, std::string("\x00other", 6), std::string("v"));
    expected = "meta record other: unknown meta record";
  }
  SECTION("an empty item name") {
    raw_write(path, plain_key(Namespace::kItem, ""), good_item);
    expected = "item -: an empty name";  // the dump's spelling of ""
  }
  SECTION("a wrong format record") {
    raw_write(path, std::string(kFormatKey), std::string("exigrey-store 7"));
    expected = "the format record says \"exigrey-store 7\", not \"exigrey-store 1\"";
  }
  SECTION("no format record") {
    raw_write(path, std::string(kFormatKey), std::nullopt);
    expected = "no format record (\"exigrey-store 1\"): not a whole exigrey store";
  }
  const VerifyReport r = verify(s);
  REQUIRE(r.problem_count == 1);
  REQUIRE(r.problems.size() == 1);
  CHECK_THAT(r.problems.front(), Catch::Contains(expected));
  CHECK(r.walked == r.lmdb_entries);
}

TEST_CASE("verify: past 20 problems the rest are counted, not described", "[verify]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  const Store s(path);
  fill(s, 30, 0);
  for (int i = 0; i < 25; ++i) {
    raw_write(path, plain_key(Namespace::kItem, "<s" + std::to_string(i) + "@x.test>:<r@y.test>"),
              std::string("x"));
  }
  const VerifyReport r = verify(s);
  CHECK(r.problem_count == 25);
  CHECK(r.problems.size() == VerifyReport::kMaxDescribed);
  CHECK_FALSE(r.ok());
}

// SPDX-License-Identifier: GPL-2.0-or-later
// Damaged store files: a data file truncated to half, to a
// few bytes or to nothing, meta pages or data pages overwritten with garbage,
// a file that is not LMDB at all. Opening and reading such a file must give a
// clear one-line StoreError naming the file, never crash the process (LMDB
// maps the file: a page past the end of a truncated file would be SIGBUS),
// and never write to the damaged file. See docs/reliability.md.
//
// Every open runs in a forked child: the registry keeps one environment per
// file per process, and a crash must be seen as a signal, not kill the test.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/store.h"
#include "support/child.h"
#include "support/files.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

using test::slurp;
using test::spit;

constexpr UnixTime t0 = 1'700'000'000;
constexpr int kItems = 3000;  // about 40 pages of 4 KiB: a tree with branch pages

std::string item_name(int i) { return "<s" + std::to_string(i) + "@x.test>:<r@y.test>"; }

// What happened in the child.
struct Outcome {
  bool signalled = false;
  int signal = 0;
  bool ok = false;    // everything readable
  std::string error;  // the StoreError's message otherwise
  ErrorKind kind = ErrorKind::kStore;
};

// Runs fn(out) in a child; the child writes "ok" or "<kind> <message>" to a pipe.
// (A crash ends the child as a signal the parent sees: child.h restores the
// fatal signals' default action, so Catch's report does not run in the child.)
template <typename F>
Outcome in_child(F fn) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = test::spawn_child([&] {
    close(fds[0]);
    std::string msg;
    try {
      fn();
      msg = "ok";
    } catch (const Error& e) {
      msg = std::to_string(static_cast<int>(e.kind())) + " " + e.what();
    } catch (const std::exception& e) {
      msg = "X " + std::string(e.what());
    }
    (void)!write(fds[1], msg.data(), msg.size());
  });
  REQUIRE(pid >= 0);
  close(fds[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    msg.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  const int status = test::wait_child(pid);  // 128 + the signal that ended it, if one did
  Outcome o;
  if (status > 128) {
    o.signalled = true;
    o.signal = status - 128;
    return o;
  }
  if (msg == "ok") {
    o.ok = true;
  } else if (!msg.empty() && msg[0] != 'X') {
    o.kind = static_cast<ErrorKind>(msg[0] - '0');
    o.error = msg.substr(2);
  } else {
    o.error = msg.empty() ? "(child said nothing)" : msg;
  }
  return o;
}

// A store with kItems items and some whitelist entries, written by a child.
void make_store(const std::string& path) {
  const Outcome o = in_child([&] {
    Store s(path);
    WriteTxn txn = s.write();
    for (int i = 0; i < kItems; ++i) {
      txn.put_item(item_name(i), ItemRecord{t0, t0, 0, std::string("first-suffix")});
    }
    for (int i = 0; i < 50; ++i) txn.put_whitelist("net-" + std::to_string(i), {t0, t0});
    txn.commit();
  });
  REQUIRE(o.ok);
}

// Everything a reader of the store does: open, stats, scan all, look up, check.
void read_everything(const std::string& path) {
  StoreOptions ro;
  ro.read_only = true;
  Store s(path, ro);
  s.open();
  (void)s.stats();
  ReadTxn txn = s.read();
  std::size_t n = txn.scan_items({}, [](const ItemView&) { return true; });
  n += txn.scan_whitelist({}, [](const WhitelistView&) { return true; });
  for (int i = 0; i < kItems; i += 97) (void)txn.item(item_name(i));
  (void)check(s, item_name(1) + "/net-1", 600, t0 + 1000);
  if (n == 0) throw std::runtime_error("nothing visible");
}

// The first meta page's fields tell the page size; LMDB's default is the OS page.
std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

void expect_clear_error(const Outcome& o, const std::string& path) {
  INFO("error: " << o.error);
  CHECK_FALSE(o.signalled);
  CHECK_FALSE(o.ok);
  CHECK(o.kind == ErrorKind::kCorrupt);
  CHECK_THAT(o.error, Catch::Contains(path));
  CHECK(o.error.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("A data file truncated to half is refused with an error naming it, no SIGBUS",
          "[faults][corrupt]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  const std::string whole = slurp(path);
  REQUIRE(whole.size() > 16 * page_size());
  for (const std::size_t keep : {whole.size() / 2, whole.size() * 3 / 4, 3 * page_size()}) {
    INFO("kept " << keep << " of " << whole.size() << " bytes");
    spit(path, whole);
    REQUIRE(truncate(path.c_str(), static_cast<off_t>(keep)) == 0);
    const Outcome o = in_child([&] { read_everything(path); });
    expect_clear_error(o, path);
    CHECK_THAT(o.error, Catch::Contains("truncated"));
    // The writable open (the plugin's) refuses it as well and writes nothing.
    const Outcome w = in_child([&] { (void)decide(Store(path), "new-key", 600, t0); });
    expect_clear_error(w, path);
    CHECK(slurp(path) == whole.substr(0, keep));
  }
  // Put back, it is whole again: nothing was written while it was damaged.
  spit(path, whole);
  CHECK(in_child([&] { read_everything(path); }).ok);
}

TEST_CASE("A data file cut inside its meta pages is refused as not LMDB", "[faults][corrupt]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  for (const off_t keep : {off_t{100}, static_cast<off_t>(page_size() + 10)}) {
    INFO("kept " << keep);
    REQUIRE(truncate(path.c_str(), keep) == 0);
    const std::string damaged = slurp(path);
    const Outcome o = in_child([&] { (void)decide(Store(path), "k", 600, t0); });
    expect_clear_error(o, path);
    CHECK_THAT(o.error, Catch::Contains("not an LMDB file"));
    CHECK(slurp(path) == damaged);
  }
}

TEST_CASE("A data file truncated to nothing opens as a new, empty store", "[faults][corrupt]") {
  // Nothing is left to protect: LMDB treats an empty file as a new
  // environment. Documented in docs/reliability.md.
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  REQUIRE(truncate(path.c_str(), 0) == 0);
  const Outcome o = in_child([&] {
    const Store s(path);
    if (decide(s, "k", 600, t0).reason != Reason::kNew) throw std::runtime_error("not new");
    if (s.read().item(item_name(1))) throw std::runtime_error("old item visible");
  });
  INFO(o.error);
  CHECK(o.ok);
}

TEST_CASE("Garbage over the meta pages is refused and the file left untouched",
          "[faults][corrupt]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  const std::string whole = slurp(path);
  std::mt19937 rng(8);
  for (int which = 0; which < 3; ++which) {  // meta 0, meta 1, both
    std::string bad = whole;
    for (std::size_t i = 0; i < 2 * page_size(); ++i) {
      const bool first = i < page_size();
      if ((which == 0 && first) || (which == 1 && !first) || which == 2) {
        bad[i] = static_cast<char>(rng());
      }
    }
    spit(path, bad);
    INFO("meta garbage case " << which);
    const Outcome o = in_child([&] { (void)decide(Store(path), "k", 600, t0); });
    expect_clear_error(o, path);
    CHECK(slurp(path) == bad);
  }
}

TEST_CASE("Garbage over data pages: errors name the file, readers never write",
          "[faults][corrupt]") {
  // LMDB checks page numbers and some page flags, not checksums: garbage
  // inside data pages can read as other records, fail with an error, or
  // crash the reading process (SIGSEGV, or abort on one of LMDB's
  // assertions). That is a limit of LMDB, documented in docs/reliability.md:
  // an Exim process that crashes loses only its own connection. What must
  // hold: every error is one line naming the file, and a reader never
  // writes to the damaged file.
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  const std::string whole = slurp(path);
  const std::size_t pages = whole.size() / page_size();
  std::mt19937 rng(42);
  int ok = 0, errors = 0, crashes = 0;
  for (int round = 0; round < 40; ++round) {
    std::string bad = whole;
    const int damaged = 1 + static_cast<int>(rng() % 3);
    for (int d = 0; d < damaged; ++d) {
      const std::size_t page = 2 + rng() % (pages - 2);
      const bool whole_page = rng() % 2 == 0;
      const std::size_t from = page * page_size() + (whole_page ? 0 : rng() % page_size());
      const std::size_t len = whole_page ? page_size() : 1 + rng() % 64;
      for (std::size_t i = from; i < from + len && i < bad.size(); ++i)
        bad[i] = static_cast<char>(rng());
    }
    spit(path, bad);
    INFO("round " << round);
    const Outcome o = in_child([&] { read_everything(path); });
    if (o.signalled) {
      ++crashes;
    } else if (o.ok) {
      ++ok;
    } else {
      ++errors;
      INFO("error: " << o.error);
      CHECK(o.kind == ErrorKind::kCorrupt);
      CHECK_THAT(o.error, Catch::Contains(path));
      CHECK(o.error.find('\n') == std::string::npos);
    }
    CHECK(slurp(path) == bad);
  }
  WARN("40 damaged files: " << ok << " read (garbled), " << errors << " clear errors, " << crashes
                            << " crashed the reader");
  CHECK(ok + errors + crashes == 40);
  CHECK(errors > 0);
}

TEST_CASE("A text file in place of the store is refused and left untouched", "[faults][corrupt]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  const std::string text = "this is not a database\n";
  spit(path, std::string(5000, 'x') + text);
  const Outcome o = in_child([&] { (void)decide(Store(path), "k", 600, t0); });
  expect_clear_error(o, path);
  CHECK(slurp(path) == std::string(5000, 'x') + text);
}

namespace {

// How many of the last pages before the file's end are free in LMDB's
// freelist, read with LMDB itself in a child (the registry must not hold it).
std::size_t trailing_free_pages(const std::string& path) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = test::spawn_child([&] {
    std::size_t trailing = 0;
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_cursor* cur = nullptr;
    if (mdb_env_create(&env) == 0 &&
        mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0) == 0 &&
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0 && mdb_cursor_open(txn, 0, &cur) == 0) {
      MDB_envinfo info{};
      mdb_env_info(env, &info);
      std::vector<bool> free(info.me_last_pgno + 1);
      MDB_val k{}, v{};
      while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        const auto* ids = static_cast<const std::size_t*>(v.mv_data);
        for (std::size_t i = 1; i <= ids[0]; ++i) free[ids[i]] = true;
      }
      for (std::size_t p = info.me_last_pgno; p > 1 && free[p]; --p) ++trailing;
    }
    (void)!write(fds[1], &trailing, sizeof trailing);
  });
  REQUIRE(pid >= 0);
  close(fds[1]);
  std::size_t trailing = 0;
  REQUIRE(read(fds[0], &trailing, sizeof trailing) == sizeof trailing);
  close(fds[0]);
  REQUIRE(test::wait_child(pid) == 0);
  return trailing;
}

}  // namespace

// Found by the soak under load: LMDB does not write pages that a commit
// allocated and freed again ("loose"), so the newest meta page may name a
// last page beyond the end of a healthy file. Every new Exim process then
// refused the store as truncated until a later commit wrote that page.
TEST_CASE("Free pages LMDB never wrote at the end of the file are not truncation",
          "[faults][corrupt]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  make_store(path);
  // Removing the upper half frees its pages; the commits after it reuse the
  // low ones and leave free pages at the end of the file.
  REQUIRE(in_child([&] {
            Store s(path);
            {
              WriteTxn txn = s.write();
              for (int i = kItems / 2; i < kItems; ++i) txn.erase_item(item_name(i));
              txn.commit();
            }
            for (int i = 0; i < 3; ++i) {
              WriteTxn txn = s.write();
              txn.put_whitelist("later-" + std::to_string(i), {t0, t0});
              txn.commit();
            }
          }).ok);
  const std::size_t trailing = trailing_free_pages(path);
  REQUIRE(trailing > 0);
  const std::string whole = slurp(path);
  const std::size_t cut = whole.size() - trailing * page_size();
  INFO(trailing << " free pages at the end of " << whole.size() << " bytes");

  // As a commit that never wrote them leaves it: the store opens and reads.
  REQUIRE(truncate(path.c_str(), static_cast<off_t>(cut)) == 0);
  const Outcome o = in_child([&] { read_everything(path); });
  CHECK_FALSE(o.signalled);
  CHECK(o.error == "");
  CHECK(o.ok);
  CHECK(in_child([&] { (void)decide(Store(path), "new-key/x", 600, t0); }).ok);

  // One page more, one that is in use: that is damage, and named as such.
  spit(path, whole);
  REQUIRE(truncate(path.c_str(), static_cast<off_t>(cut - page_size())) == 0);
  const Outcome d = in_child([&] { read_everything(path); });
  expect_clear_error(d, path);
  CHECK_THAT(d.error, Catch::Contains("truncated"));
}

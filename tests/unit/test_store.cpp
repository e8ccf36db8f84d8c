// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <sstream>

#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/store.h"
#include "support/child.h"
#include "support/files.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

using test::run_child;
using test::slurp;

}  // namespace

TEST_CASE("A new store is created with the format marker and the file mode", "[store]") {
  test::TempDir dir;
  Store s(dir.file("seen"));
  s.open();
  struct stat st {};
  REQUIRE(stat(dir.file("seen").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777u & ~0660u) == 0u);
  CHECK(stat(dir.file("seen-lock").c_str(), &st) == 0);
  CHECK(s.stats().entries == 1);  // the format record
}

TEST_CASE("A file that is not LMDB is refused and left untouched", "[store]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  const std::string junk = std::string(8192, 'B') + "Berkeley DB";
  { std::ofstream(path, std::ios::binary) << junk; }
  Store s(path);
  try {
    decide(s, "k", 600, 1);
    FAIL("no throw");
  } catch (const StoreError& e) {
    CHECK(e.kind() == ErrorKind::kCorrupt);
    CHECK_THAT(e.what(), Catch::Contains("not an LMDB file") && Catch::Contains(path));
  }
  CHECK(slurp(path) == junk);
}

TEST_CASE("An LMDB file of another program is refused", "[store]") {
  test::TempDir dir;
  // Write a foreign record through a store and then delete the format marker
  // via a raw scan position: what is left is LMDB but not exigrey's.
  const std::string path = dir.file("foreign");
  {
    Store s(path);
    auto w = s.write();
    w.put_item("x", ItemRecord{1, 1, 0, {}});
    w.erase_at(kFormatKey);
    w.commit();
  }
  REQUIRE(run_child([&] {
            try {
              Store(path).open();
              return false;
            } catch (const StoreError& e) {
              return e.kind() == ErrorKind::kCorrupt;
            }
          }) == 0);
}

TEST_CASE("Opening read-only never creates a store", "[store]") {
  test::TempDir dir;
  Store s(dir.file("absent"), StoreOptions{.read_only = true});
  CHECK_THROWS_WITH(s.open(), Catch::Contains("does not exist"));
  struct stat st {};
  CHECK(stat(dir.file("absent").c_str(), &st) != 0);
}

TEST_CASE("A read-only handle reads what a writer wrote and cannot write", "[store]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  // A separate process writes (one process may not hold two flag sets on a file).
  REQUIRE(run_child([&] {
            decide(Store(path), "a/x", 600, 100);
            return true;
          }) == 0);
  REQUIRE(run_child([&] {
            Store ro(path, StoreOptions{.read_only = true});
            const bool found = ro.read().item("a").has_value();
            try {
              ro.write();
              return false;
            } catch (const UsageError&) {
              return found;
            }
          }) == 0);
}

TEST_CASE("Every sync mode opens and decides", "[store]") {
  for (SyncMode mode : {SyncMode::kFull, SyncMode::kMeta, SyncMode::kNone}) {
    test::TempDir dir;
    Store s(dir.file("seen"), StoreOptions{.sync = mode});
    CHECK(unseen(decide(s, "k", 0, 1)));
    CHECK_FALSE(unseen(decide(s, "k", 0, 2)));
    s.sync();
  }
  CHECK(parse_sync_mode("meta") == SyncMode::kMeta);
  CHECK_THROWS_WITH(parse_sync_mode("fast"), Catch::Contains("invalid sync mode"));
}

TEST_CASE("Sizes parse with binary units", "[store]") {
  CHECK(parse_size("4096") == 4096);
  CHECK(parse_size("512M") == 512ull << 20);
  CHECK(parse_size("4G") == 4ull << 30);
  for (const char* bad : {"", "0", "G", "4GB", "-1", "1.5G", "99999999999999999999T"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_size(bad), UsageError);
  }
}

TEST_CASE("Handles for one file share one environment, also via another name", "[store]") {
  test::TempDir dir;
  Store a(dir.file("seen"));
  a.open();
  REQUIRE(symlink("seen", dir.file("alias").c_str()) == 0);
  Store b(dir.file("alias"));
  decide(a, "k", 600, 1);
  CHECK(b.read().item("k"));
  Store other_mode(dir.file("seen"), StoreOptions{.sync = SyncMode::kFull});
  CHECK_THROWS_WITH(other_mode.open(), Catch::Contains("already open with sync mode"));
}

TEST_CASE("A full map is a clear error naming the fix, and the store stays usable", "[store]") {
  test::TempDir dir;
  const std::string path = dir.file("tiny");
  REQUIRE(run_child([&] {
            Store s(path, StoreOptions{.map_size = kMinMapSize});
            int i = 0;
            try {
              for (; i < 100000; ++i) decide(s, "key-" + std::to_string(i) + "/s", 600, 1);
              return false;
            } catch (const StoreError& e) {
              const std::string msg = e.what();
              if (e.kind() != ErrorKind::kMapFull) return false;
              if (msg.find("exigrey purge") == std::string::npos) return false;
              if (msg.find("map_size") == std::string::npos) return false;
            }
            // Everything committed before the error is intact and readable.
            for (int j = 0; j < i; ++j) {
              if (!s.read().item("key-" + std::to_string(j))) return false;
            }
            // Reads and too-early decisions still work on the full store.
            return unseen(decide(s, "key-0/s", 600, 2)) && i > 10;
          }) == 0);
}

TEST_CASE("Scans visit entries in order and resume after a position", "[store]") {
  test::TempDir dir;
  Store s(dir.file("seen"));
  {
    auto w = s.write();
    for (const char* k : {"b", "a", "c", "d"}) w.put_item(k, ItemRecord{1, 2, 0, {}});
    w.put_item(std::string(600, 'z'), ItemRecord{1, 2, 0, {}});
    w.put_whitelist("w1", WhitelistEntry{1, 1});
    w.commit();
  }
  std::vector<std::string> seen_names;
  std::string pos;
  auto r = s.read();
  r.scan_items("", [&](const ItemView& v) {
    seen_names.emplace_back(v.name);
    pos = v.position;
    return seen_names.size() < 2;
  });
  CHECK(seen_names == std::vector<std::string>{"a", "b"});
  r.scan_items(pos, [&](const ItemView& v) {
    seen_names.emplace_back(v.name);
    return true;
  });
  CHECK(seen_names == std::vector<std::string>{"a", "b", "c", "d", std::string(600, 'z')});
  std::vector<std::string> wl;
  r.scan_whitelist("", [&](const WhitelistView& v) {
    wl.emplace_back(v.suffix);
    return true;
  });
  CHECK(wl == std::vector<std::string>{"w1"});
}

TEST_CASE("Erase removes items and whitelist entries", "[store]") {
  test::TempDir dir;
  Store s(dir.file("seen"));
  decide(s, "a/x", 0, 1);
  decide(s, "a/x", 0, 2);
  auto w = s.write();
  CHECK(w.erase_item("a"));
  CHECK_FALSE(w.erase_item("a"));
  CHECK(w.erase_whitelist("x"));
  CHECK_FALSE(w.erase_whitelist("x"));
  w.commit();
  CHECK_FALSE(s.read().item("a"));
}

TEST_CASE("An uncommitted write transaction changes nothing", "[store]") {
  test::TempDir dir;
  Store s(dir.file("seen"));
  {
    auto w = s.write();
    w.put_item("a", ItemRecord{1, 1, 0, {}});
  }
  CHECK_FALSE(s.read().item("a"));
}

TEST_CASE("A store opened before fork keeps working in parent and child", "[store][fork]") {
  test::TempDir dir;
  Store s(dir.file("seen"));
  CHECK(unseen(decide(s, "parent-before/x", 600, 1)));
  {
    auto r = s.read();  // an idle cached reader exists at fork time
    CHECK(r.item("parent-before"));
  }
  CHECK(run_child([&] {
          // The same handle in the child: a new environment, old data visible.
          if (!s.read().item("parent-before")) return false;
          if (!unseen(decide(s, "child/x", 0, 1))) return false;
          if (unseen(decide(s, "child/x", 0, 2))) return false;
          // A grandchild too.
          return run_child([&] { return unseen(decide(s, "grandchild", 600, 1)); }) == 0;
        }) == 0);
  // The parent keeps using its environment and sees the children's writes.
  CHECK(s.read().item("child"));
  CHECK(s.read().item("grandchild"));
  CHECK(unseen(decide(s, "parent-after", 600, 1)));
  CHECK(s.read().whitelisted("x"));
}

TEST_CASE("A process killed while holding a read transaction does not stop others",
          "[store][kill]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  Store s(path);
  decide(s, "seed", 600, 1);
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t reader = test::spawn_child([&] {
    Store mine(path);
    auto r = mine.read();  // held until killed
    (void)r.item("seed");
    if (write(ready[1], "r", 1) != 1) return 3;
    for (;;) pause();
  });
  REQUIRE(reader >= 0);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  close(ready[1]);
  REQUIRE(kill(reader, SIGKILL) == 0);
  CHECK(test::wait_child(reader) == 128 + SIGKILL);
  // Another process keeps deciding, and its open clears the dead slot. It
  // leaves with exit(), as Exim does, which releases its own slot.
  auto keep_deciding = [&] {
    Store other(path);
    for (int i = 0; i < 2000; ++i) {
      if (!unseen(decide(other, "after-kill-" + std::to_string(i), 600, 2))) return false;
    }
    return true;
  };
  CHECK(run_child(keep_deciding, test::ChildEnd::kExit) == 0);
  CHECK(s.clear_stale_readers() == 0);  // already cleared when the child opened
  CHECK(s.read().item("after-kill-1999"));
  const auto st2 = s.stats();
  CHECK(st2.max_readers == kMaxReaders);
  CHECK(st2.readers_used >= 1);  // our own cached reader
}

TEST_CASE("clear_stale_readers reclaims the slot of a killed reader", "[store][kill]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  Store s(path);
  s.open();
  const auto before = s.stats().readers_used;
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t reader = test::spawn_child([&] {
    Store mine(path);
    auto r = mine.read();
    if (write(ready[1], "r", 1) != 1) return 3;
    for (;;) pause();
  });
  REQUIRE(reader >= 0);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  close(ready[1]);
  CHECK(s.stats().readers_used == before + 1);
  kill(reader, SIGKILL);
  CHECK(test::wait_child(reader) == 128 + SIGKILL);
  CHECK(s.clear_stale_readers() == 1);
  CHECK(s.stats().readers_used == before);
}

TEST_CASE("A process that exits normally releases its reader slots", "[store]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  Store s(path);
  s.open();
  const auto before = s.stats().readers_used;
  for (int i = 0; i < 5; ++i) {
    // exit(), as Exim does: the atexit hook closes the env
    REQUIRE(run_child([&] { decide(Store(path), "k" + std::to_string(i), 600, 1); },
                      test::ChildEnd::kExit) == 0);
  }
  CHECK(s.stats().readers_used == before);
}

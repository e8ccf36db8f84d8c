// SPDX-License-Identifier: GPL-2.0-or-later
// sync = precious (the default) and none: the crash marker, the keep file,
// flushes, the clean stop and recovery after a crash (durability.h,
// docs/internals.md). A "boot" is a boot id file of the test's own; every
// phase runs in a new process, as after a reboot, and a "crash" is a
// process that ends with _exit, so no exit hook flushes anything (what a
// power cut leaves on disk is the crash-state explorer's job, tests/crash).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "exigrey/durability.h"
#include "exigrey/greylist.h"
#include "exigrey/listing.h"
#include "exigrey/purge.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr UnixTime t0 = 1'800'000'000;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

struct Site {
  test::TempDir dir;
  std::string path = dir.file("seen");
  std::string boot_file = dir.file("boot_id");

  void boot(const std::string& id) const { std::ofstream(boot_file) << id << "\n"; }
  StoreOptions options(SyncMode mode = SyncMode::kPrecious) const {
    StoreOptions o;
    o.sync = mode;
    o.boot_id_file = boot_file;
    return o;
  }
};

// Runs `fn` in a child, which must succeed. `how` says how the child ends:
// normally (exit hooks run: the exit flush) or as a crash (_exit: nothing
// more is written).
enum class End { kExit, kCrash };
void in_process(End how, const std::function<void()>& fn) {
  const auto end = how == End::kExit ? test::ChildEnd::kExit : test::ChildEnd::kQuick;
  REQUIRE(test::run_child(fn, end) == 0);
}

// A pass of `item` whitelists `suffix`: two decisions `delay` apart.
void pass(const Store& s, const std::string& item, const std::string& suffix, UnixTime at) {
  REQUIRE(decide(s, item + "/" + suffix, 10, at).reason == Reason::kNew);
  REQUIRE(decide(s, item + "/" + suffix, 10, at + 10).reason == Reason::kPassed);
}

}  // namespace

TEST_CASE("precious: passes and whitelist entries reach the keep file, pending items do not",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);  // pending
    const DurabilityStatus before = durability(s);
    REQUIRE(before.managed);
    REQUIRE(before.keep_in_use);
    REQUIRE_FALSE(before.clean);
    REQUIRE(before.boot == "boot-A");
    REQUIRE(before.unflushed == 2);  // the passed item and its whitelist entry
    REQUIRE(before.oldest_unflushed);
    const FlushResult f = flush(s);
    REQUIRE(f.managed);
    REQUIRE(f.copied == 2);
    REQUIRE(f.logged == 2);
    const DurabilityStatus after = durability(s);
    REQUIRE(after.unflushed == 0);
    REQUIRE(after.keep_records == 2);
    REQUIRE(after.last_flush);
    REQUIRE(flush(s).logged == 0);  // nothing new: no commit
  });
  CHECK(exists(site.path + ".keep"));
  CHECK(exists(site.path + ".state"));
  // The keep file is a store of its own with only the precious records.
  in_process(End::kExit, [&] {
    StoreOptions o = site.options();
    o.read_only = true;
    const Store keep(site.path + ".keep", o);
    const StoreSummary k = summarize(keep);
    if (k.items != 1 || k.passed != 1 || k.whitelist != 1) _exit(4);
  });
}

TEST_CASE("a store left open when the machine stopped is restored from its keep file",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    flush(s);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);  // pending: lost
    pass(s, "e->f", "192.0.2.3", t0);  // precious but never flushed: lost with the crash
  });
  site.boot("boot-B");
  std::string line;
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    // Whitelisted, and the passed item passes; the pending item is new again.
    if (check(s, "x->y/192.0.2.1", 10, t0 + 100).reason != Reason::kWhitelisted) _exit(4);
    if (check(s, "a->b/198.51.100.1", 10, t0 + 100).reason != Reason::kPassed) _exit(5);
    if (check(s, "c->d/192.0.2.2", 10, t0 + 100).reason != Reason::kNew) _exit(6);
    const DurabilityStatus d = durability(s);
    if (!d.last_recovery || d.last_recovery->kind != Recovery::Kind::kFromKeep ||
        d.last_recovery->restored != 2 || d.last_recovery->from_boot != "boot-A" ||
        !d.last_recovery->flushed_at || d.last_recovery->logged) {
      _exit(7);
    }
    if (d.boot != "boot-B" || d.clean) _exit(8);
    const auto once = take_unlogged_recovery(s);
    if (!once) _exit(9);
    std::ofstream(site.dir.file("line")) << *once;
    if (take_unlogged_recovery(s)) _exit(10);  // exactly one process logs it
  });
  std::ifstream(site.dir.file("line")) >> std::noskipws >> line;
  std::getline(std::ifstream(site.dir.file("line")), line);
  CHECK_THAT(line, Catch::StartsWith("exigrey: store " + site.path +
                                     " was in use when the machine stopped (boot boot-A): "
                                     "restored 2 whitelist entries and passed items from "
                                     "seen.keep (flushed "));
  CHECK_THAT(line, Catch::EndsWith("; pending items since then are lost; the old file is "
                                   "seen.suspect"));
  CHECK(exists(site.path + ".suspect"));
  // A later process of the same boot finds nothing to do and nothing to log.
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    if (take_unlogged_recovery(s)) _exit(4);
    if (check(s, "x->y/192.0.2.1", 10, t0 + 100).reason != Reason::kWhitelisted) _exit(5);
  });
}

TEST_CASE("an exit flushes what the process wrote; a crash after it loses nothing precious",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {  // no explicit flush: the exit hook does it
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
  });
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    if (durability(s).unflushed != 0 || durability(s).keep_records != 2) _exit(4);
  });
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    if (check(s, "x->y/192.0.2.1", 10, t0).reason != Reason::kWhitelisted) _exit(4);
    if (!durability(s).last_recovery) _exit(5);
  });
}

TEST_CASE("a clean stop keeps the whole store across a reboot, pending items too", "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);
    REQUIRE(stop_clean(s, std::chrono::milliseconds(0)) == CleanStop::kMarked);
    REQUIRE(durability(s).clean);
    REQUIRE_THROWS_WITH(decide(s, "e->f/192.0.2.9", 10, t0),
                        Catch::Contains("was marked clean by this process"));
  });
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    if (check(s, "c->d/192.0.2.2", 10, t0 + 5).reason != Reason::kTooEarly) _exit(4);
    const DurabilityStatus d = durability(s);
    if (d.last_recovery || d.clean || d.boot != "boot-B") _exit(5);
  });
  CHECK_FALSE(exists(site.path + ".suspect"));
}

TEST_CASE("a clean stop waits for the other users of the store, then gives up", "[durability]") {
  Site site;
  site.boot("boot-A");
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(go) == 0);
  const pid_t user = test::spawn_child([&] {
    const Store s(site.path, site.options());
    s.open();
    char c = 'r';
    (void)!write(ready[1], &c, 1);
    (void)!read(go[0], &c, 1);
  });
  REQUIRE(user >= 0);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    REQUIRE(stop_clean(s, std::chrono::milliseconds(200)) == CleanStop::kBusy);
    REQUIRE_FALSE(durability(s).clean);
  });
  REQUIRE(write(go[1], "g", 1) == 1);
  REQUIRE(test::wait_child(user) == 0);
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    REQUIRE(stop_clean(s, std::chrono::milliseconds(200)) == CleanStop::kMarked);
  });
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
}

TEST_CASE("sync = none: a store left open when the machine stopped starts empty", "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options(SyncMode::kNone));
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE_FALSE(durability(s).keep_in_use);
  });
  CHECK_FALSE(exists(site.path + ".keep"));
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options(SyncMode::kNone));
    if (check(s, "x->y/192.0.2.1", 10, t0).reason != Reason::kNew) _exit(4);
    const auto r = durability(s).last_recovery;
    if (!r || r->kind != Recovery::Kind::kEmpty) _exit(5);
    const auto line = take_unlogged_recovery(s);
    if (!line || line->find("started empty") == std::string::npos) _exit(6);
  });
}

TEST_CASE("a store written before precious existed is adopted: its keep file is built",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options(SyncMode::kMeta));
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);
    REQUIRE_FALSE(durability(s).managed);
  });
  CHECK_FALSE(exists(site.path + ".state"));
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    const DurabilityStatus d = durability(s);
    if (!d.managed || d.keep_records != 2 || d.last_recovery) _exit(4);
    if (check(s, "c->d/192.0.2.2", 10, t0 + 5).reason != Reason::kTooEarly) _exit(5);
  });
}

TEST_CASE("back to sync = meta: the next boot drops the marker and the keep file", "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(stop_clean(s, std::chrono::milliseconds(0)) == CleanStop::kMarked);
  });
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options(SyncMode::kMeta));
    if (durability(s).managed) _exit(4);
    if (check(s, "x->y/192.0.2.1", 10, t0).reason != Reason::kWhitelisted) _exit(5);
  });
  CHECK_FALSE(exists(site.path + ".state"));
  CHECK_FALSE(exists(site.path + ".keep"));
}

TEST_CASE("a torn crash marker is taken for a crash, never for a clean stop", "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);
    REQUIRE(stop_clean(s, std::chrono::milliseconds(0)) == CleanStop::kMarked);
  });
  {
    std::fstream f(site.path + ".state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');  // one byte of the record flipped: the checksum no longer matches
  }
  in_process(End::kExit, [&] {  // even in the same boot
    const Store s(site.path, site.options());
    if (check(s, "c->d/192.0.2.2", 10, t0 + 5).reason != Reason::kNew) _exit(4);  // pending lost
    if (check(s, "x->y/192.0.2.1", 10, t0).reason != Reason::kWhitelisted) _exit(5);
    const auto r = durability(s).last_recovery;
    if (!r || r->from_boot != "unknown") _exit(6);
  });
}

TEST_CASE("a keep file removed by hand is made whole by the next flush", "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    pass(s, "c->d", "192.0.2.2", t0);
    flush(s);
  });
  REQUIRE(::unlink((site.path + ".keep").c_str()) == 0);
  REQUIRE(::unlink((site.path + ".keep-lock").c_str()) == 0);
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    if (durability(s).keep_records != 0) _exit(4);
    pass(s, "e->f", "192.0.2.3", t0);  // logged as usual
    const FlushResult f = flush(s);
    if (!f.rebuilt || f.copied != 6) _exit(5);
  });
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    const auto r = durability(s).last_recovery;
    if (!r || r->restored != 6) _exit(4);
  });
}

TEST_CASE("purged and deleted precious records leave the keep file at the next flush",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    pass(s, "c->d", "192.0.2.2", t0 + 1000);
    flush(s);
    REQUIRE(durability(s).keep_records == 4);
    PurgeOptions o;
    o.cutoff = t0 + 500;  // the first pair only
    purge(s, o);
    {
      WriteTxn txn = s.write();
      REQUIRE(txn.erase_whitelist("192.0.2.2"));
      txn.commit();
    }
    const FlushResult f = flush(s);
    REQUIRE(f.removed == 3);
    REQUIRE(durability(s).keep_records == 1);  // c->d
  });
}

TEST_CASE("eight processes open a crashed store at once: one recovery, all see its records",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    for (int i = 0; i < 50; ++i)
      pass(s, "i" + std::to_string(i), "198.51.100." + std::to_string(i), t0);
    flush(s);
  });
  site.boot("boot-B");
  pid_t pids[8];
  for (pid_t& pid : pids) {
    pid = test::spawn_child([&] {
      const Store s(site.path, site.options());
      for (int i = 0; i < 50; ++i) {
        if (check(s, "z/198.51.100." + std::to_string(i), 10, t0).reason != Reason::kWhitelisted) {
          return 4;
        }
      }
      return take_unlogged_recovery(s) ? 10 : 0;
    });
    REQUIRE(pid >= 0);
  }
  int logged = 0;
  for (const pid_t pid : pids) {
    const int rc = test::wait_child(pid);
    INFO("exit " << rc);
    REQUIRE((rc == 0 || rc == 10));
    logged += rc == 10 ? 1 : 0;
  }
  CHECK(logged == 1);
}

TEST_CASE(
    "with crash_recovery off the torn store is used as it is (the explorer's broken "
    "variant)",
    "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);
  });
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    StoreOptions o = site.options();
    o.crash_recovery = false;
    const Store s(site.path, o);
    if (check(s, "c->d/192.0.2.2", 10, t0 + 5).reason != Reason::kTooEarly) _exit(4);
    if (durability(s).last_recovery) _exit(5);
  });
}

// The soak test found it: many Exim processes start at once on a new store;
// each reads an empty marker and asks for the exclusive lock; one gets it,
// writes the marker and keeps the store open (shared) for its SMTP session.
// The others went on waiting for the exclusive lock, which they no longer
// needed, until every user was gone: 10 s, then an error and a 451.
TEST_CASE("openers that wanted to change the marker see another's change at once", "[durability]") {
  Site site;
  site.boot("boot-A");
  // An empty marker, held shared here: both children read it, find it needs
  // writing, and wait for the exclusive lock.
  const std::string marker = site.path + ".state";
  const int fd = ::open(marker.c_str(), O_RDWR | O_CREAT, 0660);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_SH) == 0);
  int times[2];
  REQUIRE(::pipe(times) == 0);
  constexpr auto kHold = std::chrono::seconds(5);  // a long SMTP session
  pid_t pids[2];
  for (pid_t& pid : pids) {
    pid = test::spawn_child([&] {
      ::close(fd);  // the lock belongs to the parent's open file, shared by fork
      ::close(times[0]);
      const Store s(site.path, site.options());
      (void)decide(s, "i/198.51.100.1", 10, t0);  // opens it
      const std::int64_t at = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
      if (::write(times[1], &at, sizeof at) != sizeof at) return 5;
      std::this_thread::sleep_for(kHold);
      return 0;
    });
    REQUIRE(pid >= 0);
  }
  ::close(times[1]);  // a child that dies without writing ends the read below
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both are waiting
  const auto released = std::chrono::steady_clock::now();
  ::close(fd);  // drops the shared lock: one child gets the exclusive one
  const std::int64_t released_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(released.time_since_epoch()).count();
  for (int i = 0; i < 2; ++i) {
    std::int64_t at = 0;
    REQUIRE(::read(times[0], &at, sizeof at) == sizeof at);
    INFO("child " << i << " opened " << at - released_ms << " ms after the release");
    // The winner opens at once; the other as soon as it looks again (100 ms
    // slices), not when the winner's 5 s session ends.
    CHECK(at - released_ms < 2500);
  }
  for (const pid_t pid : pids) CHECK(test::wait_child(pid) == 0);
  ::close(times[0]);
}

TEST_CASE("a writer flushes a keep log that nothing flushed for too long", "[durability]") {
  // Exim's SMTP processes end with _exit(): no exit flush. Without the
  // timer or exigrey-forward, the next write transaction does it.
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    REQUIRE(durability(s).unflushed == 2);
    REQUIRE(decide(s, "c->d/192.0.2.2", 10, t0).reason == Reason::kNew);  // fresh: no flush
    REQUIRE(durability(s).unflushed == 2);
  });
  // Age the log entries by a minute, with LMDB's own API (in a child: no
  // second environment on the file in one process).
  in_process(End::kCrash, [&] {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    MDB_cursor* cur = nullptr;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, std::size_t{1} << 30) ||
        mdb_env_open(env, site.path.c_str(), MDB_NOSUBDIR, 0660) ||
        mdb_txn_begin(env, nullptr, 0, &txn) || mdb_dbi_open(txn, nullptr, 0, &dbi) ||
        mdb_cursor_open(txn, dbi, &cur)) {
      _exit(4);
    }
    const char ns = 0x05;
    MDB_val k{1, const_cast<char*>(&ns)}, v{};
    int n = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && static_cast<const char*>(k.mv_data)[0] == ns &&
         k.mv_size == 9;  // not the counter
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
      std::int64_t at = 0;
      std::memcpy(&at, value.data(), 8);
      at -= 60;
      std::memcpy(value.data(), &at, 8);
      MDB_val nv{value.size(), value.data()};
      if (mdb_cursor_put(cur, &k, &nv, MDB_CURRENT) != 0) _exit(5);
      ++n;
    }
    mdb_cursor_close(cur);
    if (n != 2 || mdb_txn_commit(txn) != 0) _exit(6);
  });
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    if (durability(s).unflushed != 2) _exit(4);
    if (check(s, "e->f/192.0.2.3", 10, t0).reason != Reason::kNew) _exit(5);  // a read: no flush
    if (durability(s).unflushed != 2) _exit(6);
    if (decide(s, "e->f/192.0.2.3", 10, t0).reason != Reason::kNew) _exit(7);  // a write: flushes
    const DurabilityStatus d = durability(s);
    if (d.unflushed != 0 || d.keep_records != 2) _exit(8);
  });
}

TEST_CASE("a damaged keep file (a disk fault) makes the recovery start empty, not fail",
          "[durability]") {
  Site site;
  site.boot("boot-A");
  in_process(End::kCrash, [&] {
    const Store s(site.path, site.options());
    pass(s, "a->b", "192.0.2.1", t0);
    flush(s);
  });
  {
    // Garbage over both meta pages: no LMDB can read it.
    std::fstream f(site.path + ".keep", std::ios::in | std::ios::out | std::ios::binary);
    const std::string junk(8192, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  site.boot("boot-B");
  in_process(End::kExit, [&] {
    const Store s(site.path, site.options());
    if (check(s, "x->y/192.0.2.1", 10, t0).reason != Reason::kNew) _exit(4);  // started empty
    const auto r = durability(s).last_recovery;
    if (!r || r->kind != Recovery::Kind::kKeepUnreadable) _exit(5);
    const auto line = take_unlogged_recovery(s);
    if (!line || line->find("its keep file is damaged") == std::string::npos) _exit(6);
    // Writing goes on, into a new keep file.
    pass(s, "c->d", "192.0.2.2", t0 + 100);
    if (flush(s).copied != 2 || durability(s).keep_records != 2) _exit(7);
  });
  CHECK(exists(site.path + ".keep.suspect"));
}

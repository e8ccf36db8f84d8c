// SPDX-License-Identifier: GPL-2.0-or-later
// Processes SIGKILLed at random points while 8 others write to the same
// store. The oracle: each writer appends a line to its own
// log only after decide() returned, so every logged key was committed and
// must be in the store after any number of kills; each writer's pass counter
// (a record decided with delay 0) is at least the passes it logged and never
// goes down. After the kills every record reads, stale reader slots are
// found and reclaimed, and a new writer is served at once.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "exigrey/greylist.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr int kWriters = 8;
constexpr int kKills = 50;
constexpr UnixTime t0 = 1'700'000'000;

std::string log_of(const test::TempDir& dir, int p) { return dir.file("log-" + std::to_string(p)); }
std::string counter_key(int p) { return "ctr-" + std::to_string(p); }

// A writer: forever, a new key (deferred: a record is created), then a pass
// on its counter, then a read-only check of an earlier key. Logs "K key" and
// "C" after the calls return. Never returns; killed by the test.
[[noreturn]] void writer(const std::string& path, const std::string& log, int p, int gen) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0) _exit(3);
  const Store store(path);
  auto append = [&](const std::string& line) {
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
  };
  std::mt19937 rng(static_cast<unsigned>(p * 1000 + gen));
  try {
    for (long i = 0;; ++i) {
      const std::string key = "w" + std::to_string(p) + "-g" + std::to_string(gen) + "-" +
                              std::to_string(i) + "/net" + std::to_string(i % 7);
      const Decision d = decide(store, key, 3600, t0 + i);
      if (d.reason != Reason::kNew) _exit(5);
      append("K " + key.substr(0, key.find('/')) + "\n");
      if (decide(store, counter_key(p), 0, t0 + i).reason == Reason::kPassed) append("C\n");
      if (i > 0)
        (void)check(store,
                    "w" + std::to_string(p) + "-g" + std::to_string(gen) + "-" +
                        std::to_string(rng() % static_cast<unsigned long>(i)),
                    3600, t0 + i);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %d: %s\n", p, e.what());
    _exit(2);
  }
}

pid_t spawn_writer(const test::TempDir& dir, const std::string& path, int p, int gen) {
  return test::spawn_child([&] { writer(path, log_of(dir, p), p, gen); });
}

struct Oracle {
  std::vector<std::string> keys;
  std::map<int, long> passes;  // per writer
};

Oracle read_logs(const test::TempDir& dir) {
  Oracle o;
  for (int p = 0; p < kWriters; ++p) {
    std::ifstream in(log_of(dir, p));
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t start = 0;
    for (std::size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = all.substr(start, nl - start);
      if (line == "C") {
        ++o.passes[p];
      } else if (line.rfind("K ", 0) == 0) {
        o.keys.push_back(line.substr(2));
      }
    }
  }
  return o;
}

// Runs in a fresh child (its own environment; the test process never opens
// the store, so it forks cleanly): checks the store against the oracle and
// writes the counters, or "FAIL ..." lines, to `out`.
void verify(const std::string& path, const Oracle& oracle, const std::string& out) {
  std::ofstream res(out);
  try {
    StoreOptions o;
    o.clear_stale_readers = false;  // leave them for the check at the end
    const Store store(path, o);
    // Writers clear dead slots when they open: the table stays small.
    const std::size_t slots = store.readers().size();
    if (slots > 3 * kWriters) res << "FAIL " << slots << " reader slots in use\n";
    ReadTxn txn = store.read();
    std::size_t n = txn.scan_items({}, [](const ItemView&) { return true; });  // decodes all
    n += txn.scan_whitelist({}, [](const WhitelistView&) { return true; });
    if (n < oracle.keys.size()) res << "FAIL only " << n << " entries\n";
    std::size_t missing = 0;
    for (const auto& k : oracle.keys) {
      if (!txn.item(k)) {
        if (missing++ < 5) res << "FAIL lost committed key " << k << "\n";
      }
    }
    for (int p = 0; p < kWriters; ++p) {
      const auto rec = txn.item(counter_key(p));
      const long logged = oracle.passes.count(p) ? oracle.passes.at(p) : 0;
      const long stored = rec ? static_cast<long>(rec->count) : 0;
      if (stored < logged) res << "FAIL counter " << p << " " << stored << " < " << logged << "\n";
      res << "counter " << p << " " << stored << "\n";
    }
  } catch (const std::exception& e) {
    res << "FAIL " << e.what() << "\n";
  }
}

std::string run_verifier(const test::TempDir& dir, const std::string& path, const Oracle& oracle) {
  const std::string out = dir.file("verify.out");
  const int status = test::run_child([&] { verify(path, oracle, out); });
  if (status != 0) return "FAIL verifier ended with status " + std::to_string(status) + "\n";
  std::ifstream in(out);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool dead(std::int64_t pid) { return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH; }

}  // namespace

TEST_CASE("50 SIGKILLs among 8 writers: nothing committed is lost, stale readers reclaimed",
          "[faults][kill][multiprocess]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  std::mt19937 rng(20261122);
  pid_t pids[kWriters] = {};
  int gens[kWriters] = {};
  // A failed REQUIRE leaves the test case early: the writers must not
  // outlive it (they would hold ctest's output pipe open until its timeout).
  struct KillOnExit {
    pid_t* pids;
    ~KillOnExit() {
      for (int p = 0; p < kWriters; ++p) {
        if (pids[p] > 0 && ::kill(pids[p], SIGKILL) == 0) (void)test::wait_child(pids[p]);
      }
    }
  } kill_on_exit{pids};
  for (int p = 0; p < kWriters; ++p) {
    pids[p] = spawn_writer(dir, path, p, 0);
    REQUIRE(pids[p] > 0);  // never kill(-1)
  }

  std::map<int, long> last_counters;
  std::size_t last_keys = 0;
  int verifications = 0;
  auto verify_now = [&] {
    const Oracle oracle = read_logs(dir);
    const std::string res = run_verifier(dir, path, oracle);
    INFO("verification " << verifications << ", " << oracle.keys.size() << " logged keys");
    CHECK(res.find("FAIL") == std::string::npos);
    if (res.find("FAIL") != std::string::npos) FAIL_CHECK(res.substr(0, 600));
    std::istringstream in(res);
    std::string word;
    int p = 0;
    long count = 0;
    while (in >> word) {
      if (word == "counter" && in >> p >> count) {
        CHECK(count >= last_counters[p]);  // monotone
        last_counters[p] = count;
      }
    }
    CHECK(oracle.keys.size() >= last_keys);
    last_keys = oracle.keys.size();
    ++verifications;
  };

  for (int k = 1; k <= kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 20000));
    const int p = static_cast<int>(rng() % kWriters);
    REQUIRE(::kill(pids[p], SIGKILL) == 0);
    const int status = test::wait_child(std::exchange(pids[p], 0));
    // Killed, not failed on its own (a writer exits 2..5 on an error).
    INFO("writer " << p << " status " << status);
    REQUIRE(status == 128 + SIGKILL);
    pids[p] = spawn_writer(dir, path, p, ++gens[p]);
    REQUIRE(pids[p] > 0);
    if (k % 5 == 0) verify_now();
  }
  // A process that keeps the store open, as Exim's always do: while one
  // does, LMDB keeps the reader table (the last one out resets it).
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t holder = test::spawn_child([&] {
    StoreOptions o;
    o.clear_stale_readers = false;
    const Store store(path, o);
    { ReadTxn txn = store.read(); }
    (void)!write(ready[1], "r", 1);
    for (;;) pause();
  });
  REQUIRE(holder >= 0);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  close(ready[1]);
  for (int p = 0; p < kWriters; ++p) ::kill(pids[p], SIGKILL);  // all at once
  for (int p = 0; p < kWriters; ++p) {
    CHECK(test::wait_child(std::exchange(pids[p], 0)) == 128 + SIGKILL);
  }
  verify_now();
  CHECK(last_keys > static_cast<std::size_t>(kKills));  // the writers did make progress

  // Every writer died holding a reader slot (its cached read transaction).
  // A new process sees them, clears them, and is served at once; the
  // holder's live slot stays.
  const std::string out = dir.file("readers.out");
  const int status = test::run_child([&] {
    alarm(30);  // a deadlocked writer lock would hang here: fail instead
    std::ofstream res(out);
    try {
      StoreOptions o;
      o.clear_stale_readers = false;
      const Store store(path, o);
      int before = 0;
      for (const ReaderSlot& r : store.readers()) before += dead(r.pid) ? 1 : 0;
      const int cleared = store.clear_stale_readers();
      int after = 0;
      for (const ReaderSlot& r : store.readers()) after += dead(r.pid) ? 1 : 0;
      const Decision d = decide(store, "after-the-kills", 0, t0);
      res << before << " " << cleared << " " << after << " " << (d.reason == Reason::kNew) << "\n";
    } catch (const std::exception& e) {
      res << "-1 -1 -1 0 " << e.what() << "\n";
    }
    res.close();
  });
  ::kill(holder, SIGKILL);
  CHECK(test::wait_child(holder) == 128 + SIGKILL);
  REQUIRE(status == 0);
  std::ifstream in(out);
  int before = -1, cleared = -1, after = -1, served = 0;
  in >> before >> cleared >> after >> served;
  std::string error;
  std::getline(in, error);
  INFO("readers check: " << error);
  // (A writer that dies holding the writer lock makes the next writer clear
  // dead slots as well, so not every killed writer's slot is still there.)
  CHECK(before >= 1);
  CHECK(cleared == before);
  CHECK(after == 0);
  CHECK(served == 1);
}

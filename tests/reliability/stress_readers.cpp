// SPDX-License-Identifier: GPL-2.0-or-later
// stress_readers: looks for readers that see bytes they should not, on one
// store shared by many processes, with the machine as loaded as CI's.
//
//   stress_readers STORE [--opens N] [--seconds S] [--writers W] [--openers O]
//                        [--readers R] [--hogs H] [--nice N] [--pause-ns NS]
//                        [--sync full|meta|none]
//
// Processes, all forked from here (this process never opens the store):
//   writers  rewrite the items that share the first leaf page with the
//            store's format record (so that leaf is copied and freed on every
//            commit), with values that change size, and grow and trim a ring
//            of other items (so freed pages are reused for other content);
//   openers  fork a fresh process per open, as Exim does per connection,
//            which opens the store (reading the format record) and exits;
//   readers  keep the store open and read the churned items through the
//            cached, reset and renewed read transactions, checking that every
//            value is one a writer wrote;
//   hogs     spin, so every process is preempted at arbitrary points.
// Openers and readers run at a low priority (--nice, default 19): against
// the hogs they get short slices and are preempted at arbitrary
// instructions far more often than at normal priority, so a window of a few
// instructions (a value used just after its snapshot ended) is hit in
// seconds instead of days. Writers run at normal priority: while a reader
// waits for the CPU, they commit many times and reuse freed pages.
// --pause-ns NS makes every process wait NS nanoseconds (spinning) right
// after each read transaction ends (this binary is linked with `--wrap`
// around mdb_txn_abort and mdb_txn_reset): what a preemption at that
// instant does, made certain. A value used after its transaction ended is
// then caught within a few hundred opens; with 0 it takes a lucky
// preemption (docs/reliability.md has both figures).
// It stops at the first wrong answer (exit 1, with the opens and seconds it
// took and the message), or after N opens or S seconds clean (exit 0).
// tests/reliability/stress_readers.sh runs it; docs/reliability.md has the
// figures.
#include <lmdb.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/store.h"

using namespace exigrey;

namespace {

// Shared between all processes (an anonymous shared mapping).
struct Shared {
  std::atomic<long> opens{0};
  std::atomic<long> reads{0};
  std::atomic<long> commits{0};
  std::atomic<int> failed{0};
  char message[512] = {};
};

Shared* g_shared = nullptr;
long g_pause_ns = 0;

void pause_after_txn() {
  if (g_pause_ns <= 0) return;
  timespec a{}, b{};
  clock_gettime(CLOCK_MONOTONIC, &a);
  do {
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1'000'000'000L + (b.tv_nsec - a.tv_nsec) < g_pause_ns);
}

void report_failure(const std::string& who, const std::string& what) {
  int expected = 0;
  if (g_shared->failed.compare_exchange_strong(expected, 1)) {
    std::snprintf(g_shared->message, sizeof g_shared->message, "%s: %s", who.c_str(), what.c_str());
  }
}

constexpr int kHot = 12;      // items that share the format record's leaf
constexpr long kRing = 3000;  // other items kept per writer

std::string hot_name(int i) { return "!" + std::to_string(i); }

// A hot item's value: `count` names the writer's round, `first` is a suffix
// whose length and bytes follow from it, so a reader can tell a value that a
// writer wrote from any other bytes.
std::string first_for(std::uint32_t count) {
  return std::string(1 + count % 37, static_cast<char>('a' + count % 26));
}

[[noreturn]] void writer(const std::string& path, StoreOptions options, int p) {
  try {
    const Store store(path, options);
    for (long round = 0;; ++round) {
      WriteTxn txn = store.write();
      for (int i = p % 3; i < kHot; i += 3) {
        const auto count = static_cast<std::uint32_t>(round * 7 + p);
        txn.put_item(
            hot_name(i),
            ItemRecord{.created = count, .used = count, .count = count, .first = first_for(count)});
      }
      txn.put_item("ring-" + std::to_string(p) + "-" + std::to_string(round),
                   ItemRecord{.created = round,
                              .used = round,
                              .count = 1,
                              .first = std::string(static_cast<std::size_t>(round % 200), 'r')});
      if (round >= kRing)
        txn.erase_item("ring-" + std::to_string(p) + "-" + std::to_string(round - kRing));
      txn.commit();
      g_shared->commits.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    report_failure("writer " + std::to_string(p), e.what());
    _exit(1);
  }
}

void check_hot(const TxnView& txn, int i) {
  const auto rec = txn.item(hot_name(i));
  if (!rec) return;  // not written yet
  if (rec->created != rec->count || rec->used != rec->count ||
      rec->first != first_for(rec->count)) {
    throw StoreError(ErrorKind::kCorrupt, "item " + hot_name(i) + " holds a value no writer wrote");
  }
}

[[noreturn]] void reader(const std::string& path, StoreOptions options, int r) {
  try {
    options.read_only = true;
    const Store store(path, options);
    for (unsigned n = static_cast<unsigned>(r);; ++n) {
      {
        ReadTxn txn = store.read();
        check_hot(txn, static_cast<int>(n % kHot));
      }
      g_shared->reads.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    report_failure("reader " + std::to_string(r), e.what());
    _exit(1);
  }
}

// Opens the store in a fresh process per iteration, as a new Exim process does.
[[noreturn]] void opener(const std::string& path, StoreOptions options, int o) {
  for (;;) {
    const pid_t pid = fork();
    if (pid == 0) {
      try {
        const Store store(path, options);
        store.open();
        ReadTxn txn = store.read();
        check_hot(txn, o % kHot);
      } catch (const std::exception& e) {
        report_failure("opener " + std::to_string(o), e.what());
        _exit(1);
      }
      _exit(0);
    }
    if (pid < 0) _exit(2);
    int st = 0;
    waitpid(pid, &st, 0);
    g_shared->opens.fetch_add(1, std::memory_order_relaxed);
  }
}

[[noreturn]] void hog() {
  volatile unsigned long x = 0;
  for (;;) x = x + 1;
}

long number(const char* flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 0) {
    std::fprintf(stderr, "stress_readers: %s needs a number, not '%s'\n", flag, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

extern "C" {
void __real_mdb_txn_abort(MDB_txn* txn);
void __real_mdb_txn_reset(MDB_txn* txn);
void __wrap_mdb_txn_abort(MDB_txn* txn) {
  __real_mdb_txn_abort(txn);
  pause_after_txn();
}
void __wrap_mdb_txn_reset(MDB_txn* txn) {
  __real_mdb_txn_reset(txn);
  pause_after_txn();
}
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: stress_readers STORE [--opens N] [--seconds S] [--writers W] "
                 "[--openers O] [--readers R] [--hogs H] [--nice N] [--pause-ns NS] "
                 "[--sync full|meta|none]\n");
    return 2;
  }
  const std::string path = argv[1];
  long opens = 0, seconds = 60, writers = 4, openers = 4, readers = 2;
  long hogs = sysconf(_SC_NPROCESSORS_ONLN);
  long nice = 19;
  StoreOptions options;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--opens")
      opens = number(argv[i], argv[i + 1]);
    else if (flag == "--seconds")
      seconds = number(argv[i], argv[i + 1]);
    else if (flag == "--writers")
      writers = number(argv[i], argv[i + 1]);
    else if (flag == "--openers")
      openers = number(argv[i], argv[i + 1]);
    else if (flag == "--readers")
      readers = number(argv[i], argv[i + 1]);
    else if (flag == "--hogs")
      hogs = number(argv[i], argv[i + 1]);
    else if (flag == "--nice")
      nice = number(argv[i], argv[i + 1]);
    else if (flag == "--pause-ns")
      g_pause_ns = number(argv[i], argv[i + 1]);
    else if (flag == "--sync") {
      try {
        options.sync = parse_sync_mode(argv[i + 1]);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "stress_readers: %s\n", e.what());
        return 2;
      }
    } else {
      std::fprintf(stderr, "stress_readers: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (argc % 2 != 0) {
    std::fprintf(stderr, "stress_readers: %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 2;
  g_shared = new (mem) Shared;

  // The store is created in a child: this process must not hold an environment.
  if (const pid_t pid = fork(); pid == 0) {
    try {
      Store(path, options).open();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stress_readers: %s\n", e.what());
      _exit(1);
    }
    _exit(0);
  } else {
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 2;
  }

  std::vector<pid_t> children;
  auto spawn = [&](auto fn) {
    const pid_t pid = fork();
    if (pid == 0) fn();
    children.push_back(pid);
  };
  for (long i = 0; i < writers; ++i) spawn([&] { writer(path, options, static_cast<int>(i)); });
  auto lower = [&] { setpriority(PRIO_PROCESS, 0, static_cast<int>(nice)); };
  for (long i = 0; i < readers; ++i) {
    spawn([&] { lower(), reader(path, options, static_cast<int>(i)); });
  }
  for (long i = 0; i < openers; ++i) {
    spawn([&] { lower(), opener(path, options, static_cast<int>(i)); });
  }
  for (long i = 0; i < hogs; ++i) spawn([] { hog(); });

  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (g_shared->failed.load() == 0 && (opens == 0 || g_shared->opens.load() < opens) &&
         (seconds == 0 || elapsed() < static_cast<double>(seconds))) {
    usleep(20'000);
  }
  for (const pid_t pid : children) kill(pid, SIGKILL);
  for (const pid_t pid : children) waitpid(pid, nullptr, 0);
  const bool failed = g_shared->failed.load() != 0;
  std::printf("%s opens=%ld reads=%ld commits=%ld seconds=%.1f%s%s\n", failed ? "FAIL" : "clean",
              g_shared->opens.load(), g_shared->reads.load(), g_shared->commits.load(), elapsed(),
              failed ? " " : "", failed ? g_shared->message : "");
  return failed ? 1 : 0;
}

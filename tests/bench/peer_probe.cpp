// SPDX-License-Identifier: GPL-2.0-or-later
// The two halves of tests/bench/peer_latency.py (docs/benchmarks.md,
// "Multi-MX"): decisions on one MX's store, and the time until they are
// visible in another's, where exigrey-forward merged them.
//
//   peer_probe latency STORE_A STORE_B SAMPLES
//     SAMPLES times, 0 to 100 ms apart at random: one first sighting on A
//     (decide(), as the plugin makes it), then B is read every 200 us until
//     the item is there. Prints one line per sample: milliseconds.
//   peer_probe load STORE RATE SECONDS
//     RATE first sightings per second on STORE for SECONDS (paced, new keys),
//     the background traffic of "under load". Prints how many it made.
//   peer_probe wait STORE ENTRIES TIMEOUT
//     Polls STORE (every 10 ms) until it holds at least ENTRIES entries;
//     prints the seconds it took (exit 1 after TIMEOUT seconds).
//
// Both open the stores as the plugin does with `peers` set: sync = precious
// and the peer log on.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <thread>

#include "exigrey/greylist.h"
#include "exigrey/store.h"

namespace {

using exigrey::Store;
using Clock = std::chrono::steady_clock;

exigrey::StoreOptions options() {
  exigrey::StoreOptions o{exigrey::SyncMode::kPrecious};
  o.peer_log = true;
  return o;
}

exigrey::UnixTime now() { return static_cast<exigrey::UnixTime>(std::time(nullptr)); }

int latency(const std::string& a_path, const std::string& b_path, int samples) {
  const Store a(a_path, options());
  const Store b(b_path, options());
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_us(0, 100'000);
  const std::string run = fmt::format("{}.{}", getpid(), now());
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    const std::string item = fmt::format("<lat{}@{}.test>:<r@y.test>", i, run);
    const auto t0 = Clock::now();
    const exigrey::Decision d = exigrey::decide(a, item + "/lat.test", 300, now());
    if (d.reason != exigrey::Reason::kNew) {
      std::fprintf(stderr, "peer_probe: sample %d was not a first sighting\n", i);
      return 1;
    }
    for (;;) {
      if (b.read().item(item)) break;
      if (Clock::now() - t0 > std::chrono::seconds(10)) {
        std::fprintf(stderr, "peer_probe: sample %d not visible on B within 10 s\n", i);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("%.3f\n", ms);
    std::fflush(stdout);
  }
  return 0;
}

int load(const std::string& path, int rate, int seconds) {
  const Store s(path, options());
  const std::string run = fmt::format("{}.{}", getpid(), now());
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  long made = 0;
  while (Clock::now() < end) {
    const auto due = start + std::chrono::microseconds(made * 1'000'000L / rate);
    if (Clock::now() < due) std::this_thread::sleep_until(due);
    exigrey::decide(s, fmt::format("<l{}@{}.test>:<r@y.test>/load{}.test", made, run, made % 997),
                    300, now());
    ++made;
  }
  std::printf("%ld\n", made);
  return 0;
}

int wait_for(const std::string& path, std::uint64_t entries, int timeout) {
  const Store s(path, options());
  const auto start = Clock::now();
  while (s.read().entry_count() < entries) {
    if (Clock::now() - start > std::chrono::seconds(timeout)) {
      std::fprintf(stderr, "peer_probe: %s holds %llu entries, not %llu, after %d s\n",
                   path.c_str(), static_cast<unsigned long long>(s.read().entry_count()),
                   static_cast<unsigned long long>(entries), timeout);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("%.3f\n", std::chrono::duration<double>(Clock::now() - start).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "latency" && argc == 5) return latency(argv[2], argv[3], std::atoi(argv[4]));
    if (mode == "load" && argc == 5) return load(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
    if (mode == "wait" && argc == 5) {
      return wait_for(argv[2], std::strtoull(argv[3], nullptr, 10), std::atoi(argv[4]));
    }
    std::fprintf(stderr,
                 "usage: peer_probe latency STORE_A STORE_B SAMPLES | load STORE RATE SECONDS | "
                 "wait STORE ENTRIES TIMEOUT\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer_probe: %s\n", e.what());
    return 1;
  }
}

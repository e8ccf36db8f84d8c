// SPDX-License-Identifier: GPL-2.0-or-later
// grey_writer: writes a greylist store through core's decide(), the way the
// Exim plugin does, for the CLI tests (tests/cli/test_cli.py).
//
//   grey_writer script DB
//       reads "NOW DELAY KEY" lines from stdin (KEY escaped as in dumps, so
//       any byte can be given) and runs decide() for each at time NOW;
//       prints "<unseen answer> <reason>" per line.
//   grey_writer hammer DB MILLIS SEED OLD_KEYS LOG
//       decides for MILLIS milliseconds on the real clock with delay 0: half
//       the calls on "old-<n>" (n < OLD_KEYS), half on fresh keys
//       "live-<SEED>-<i>"; appends "<key> <reason> <micros>" to LOG after each
//       call returned. Exits 0 only if no call failed.
//   grey_writer report OUTBOX VERB SUBJECT TIME
//       appends one report to the outbox at path OUTBOX, as the plugin's
//       `report` does.
//   grey_writer hold DB
//       opens a read transaction, prints "ready" and waits to be killed
//       (to leave a stale reader slot behind).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "exigrey/dump.h"
#include "exigrey/greylist.h"
#include "exigrey/outbox.h"

using namespace exigrey;

namespace {

int script(const std::string& db) {
  const Store store(db);
  std::string line;
  int lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) {
      std::fprintf(stderr, "grey_writer: line %d: expected NOW DELAY KEY\n", lineno);
      return 2;
    }
    const UnixTime now = std::stoll(line.substr(0, sp1));
    const std::int64_t delay = std::stoll(line.substr(sp1 + 1, sp2 - sp1 - 1));
    const auto key = dump_unescape(std::string_view(line).substr(sp2 + 1));
    if (!key) {
      std::fprintf(stderr, "grey_writer: line %d: badly escaped key\n", lineno);
      return 2;
    }
    const Decision d = decide(store, *key, delay, now);
    std::printf("%s %s\n", unseen(d) ? "yes" : "no", std::string(to_string(d.reason)).c_str());
  }
  return 0;
}

int hammer(const std::string& db, long millis, unsigned seed, unsigned old_keys,
           const std::string& log_path) {
  const Store store(db);
  std::ofstream log(log_path, std::ios::app);
  std::mt19937 rng(seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  for (unsigned i = 0; std::chrono::steady_clock::now() < end; ++i) {
    std::string key;
    if (i % 2 == 0 && old_keys > 0) {
      key = "old-" + std::to_string(rng() % old_keys);
    } else {
      key = "live-" + std::to_string(seed) + "-" + std::to_string(i);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const Decision d = decide(store, key, 0, SystemClock::instance().now());
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    // One write per line: the benchmark stops a hammer with SIGTERM.
    log << key << ' ' << to_string(d.reason) << ' ' << us << '\n' << std::flush;
  }
  log.flush();
  return log ? 0 : 1;
}

int report(const std::string& path, const std::string& verb, const std::string& subject,
           const std::string& time) {
  Report r;
  r.verb = parse_verb(verb);
  r.subject = parse_subject(subject);
  r.time = std::stoll(time);
  Outbox(path).append(r);
  return 0;
}

int hold(const std::string& db) {
  const Store store(db);
  ReadTxn txn = store.read();
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "script" && argc == 3) return script(argv[2]);
    if (mode == "hold" && argc == 3) return hold(argv[2]);
    if (mode == "report" && argc == 6) return report(argv[2], argv[3], argv[4], argv[5]);
    if (mode == "hammer" && argc == 7) {
      return hammer(argv[2], std::atol(argv[3]), static_cast<unsigned>(std::atol(argv[4])),
                    static_cast<unsigned>(std::atol(argv[5])), argv[6]);
    }
    std::fprintf(stderr,
                 "usage: grey_writer script DB | hammer DB MILLIS SEED OLD_KEYS LOG | hold DB | "
                 "report OUTBOX VERB SUBJECT TIME\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grey_writer: %s\n", e.what());
    return 1;
  }
}

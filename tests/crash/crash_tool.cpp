// SPDX-License-Identifier: GPL-2.0-or-later
// crash_tool: the workload that tests/crash/explore.py records, and the
// checker it runs on every disk image a crash could leave.
//
//   crash_tool workload DIR BOOT_FILE MODEL PHASE [--sync precious|none] [--rounds N]
//       runs one phase of the workload on DIR/seen as a process of its own
//       boot (PHASE a, b or c; BOOT_FILE is set to "boot-PHASE" first).
//       MODEL (outside DIR) carries what the phases wrote from one to the
//       next. Facts go to DIR/crash-marks, which record_io.so records as
//       marks: "must N1 N2 ..." (the precious records that must survive a
//       crash from here on) and "all N1 N2 ..." (every record: after a
//       clean stop, until the next open).
//       a: writes, flushes now and then, purges, ends in a crash (_exit)
//       b: opens after that crash (the recovery is recorded too), writes,
//          flushes, stops clean
//       c: opens the clean store, writes, flushes, exits (exit flush)
//
//   crash_tool check DIR BOOT_FILE MUST WRITTEN [--sync MODE] [--no-recovery]
//       opens DIR/seen after a "reboot" (BOOT_FILE names a new boot) and
//       checks: every name in MUST answers as precious (whitelisted suffix,
//       passed item); every record in the store is one the workload wrote,
//       with times in its range; verify() finds nothing. Prints one line:
//       "ok recovered=0|1", "wrong: ..." (exit 1) or "error: ..." (exit 2).
//       A crash of this process is the explorer's to count.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "exigrey/durability.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/purge.h"
#include "exigrey/verify.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'800'000'000;
constexpr UnixTime kT1 = kT0 + 100'000;
constexpr std::int64_t kDelay = 10;

// What the workload believes the store holds: name -> kind. Names are
// "i:<item>" and "w:<suffix>".
struct Model {
  std::map<std::string, char> current;  // 'p' pending item, 'P' passed item, 'w' whitelist entry
  std::set<std::string> must;           // precious records that must survive a crash
  std::set<std::string> written;        // every name ever written
  UnixTime clock = kT0;

  void load(const std::string& path) {
    std::ifstream in(path);
    std::string tag, name;
    while (in >> tag >> name) {
      if (tag == "clock")
        clock = std::stoll(name);
      else if (tag == "written")
        written.insert(name);
      else if (tag == "must")
        must.insert(name);
      else
        current[name] = tag[0];
    }
  }
  void save(const std::string& path) const {
    std::ofstream out(path);
    out << "clock " << clock << "\n";
    for (const auto& n : written) out << "written " << n << "\n";
    for (const auto& n : must) out << "must " << n << "\n";
    for (const auto& [n, k] : current) out << k << " " << n << "\n";
  }
};

int g_marks = -1;
SyncMode g_mode = SyncMode::kPrecious;
Model* g_model = nullptr;

void mark(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(g_marks, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(20);
}

void mark_set(const char* tag, const std::set<std::string>& names) {
  std::string line = tag;
  for (const auto& n : names) line += " " + n;
  mark(line);
}

bool precious(char kind) { return kind == 'P' || kind == 'w'; }

// Everything precious that the store holds now is in the keep file once a
// flush returned.
void flushed(Model& m) {
  if (g_mode != SyncMode::kPrecious) return;  // no keep file: nothing is kept
  for (const auto& [n, k] : m.current) {
    if (precious(k)) m.must.insert(n);
  }
  mark_set("must", m.must);
}

void new_item(const Store& s, Model& m, const std::string& item, const std::string& suffix) {
  const Decision d = decide(s, item + "/" + suffix, kDelay, m.clock);
  if (d.reason != Reason::kNew) {
    std::fprintf(stderr, "workload: %s: %s, not new\n", item.c_str(),
                 std::string(to_string(d.reason)).c_str());
    _exit(21);
  }
  m.current["i:" + item] = 'p';
  m.written.insert("i:" + item);
}

void pass(const Store& s, Model& m, const std::string& item, const std::string& suffix) {
  new_item(s, m, item, suffix);
  m.clock += kDelay;
  if (decide(s, item + "/" + suffix, kDelay, m.clock).reason != Reason::kPassed) _exit(22);
  m.current["i:" + item] = 'P';
  m.current["w:" + suffix] = 'w';
  m.written.insert("w:" + suffix);
}

void rounds(const Store& s, Model& m, const std::string& phase, int n, bool purge_midway) {
  for (int r = 0; r < n; ++r) {
    const std::string tag = phase + std::to_string(r);
    m.clock += 1;
    for (int i = 0; i < 3; ++i) {
      new_item(s, m, "new-" + tag + "-" + std::to_string(i), "10." + tag + "." + std::to_string(i));
    }
    pass(s, m, "pass-" + tag, "192.0." + tag);
    if (r % 3 == 2) {
      flush(s);
      flushed(m);
    }
    if (purge_midway && r == n / 2) {
      // Pending items of the first round go: they must no longer be asked
      // for, from before the purge starts.
      PurgeOptions o;
      o.cutoff = kT0 + 2;
      std::set<std::string> gone;
      for (const auto& [name, kind] : m.current) {
        if (name.rfind("i:new-" + phase + "0-", 0) == 0) gone.insert(name);
      }
      purge(s, o);
      for (const auto& g : gone) m.current.erase(g);
      mark("purged");
    }
  }
}

int workload(int argc, char** argv) {
  if (argc < 6) return 2;
  const std::string dir = argv[2], boot_file = argv[3], model_file = argv[4], phase = argv[5];
  SyncMode mode = SyncMode::kPrecious;
  int n = 6;
  for (int i = 6; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--sync") mode = parse_sync_mode(argv[i + 1]);
    if (std::string(argv[i]) == "--rounds") n = std::atoi(argv[i + 1]);
  }
  std::ofstream(boot_file) << "boot-" << phase << "\n";
  g_marks = ::open((dir + "/crash-marks").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (g_marks < 0) return 2;
  g_mode = mode;
  static Model m;
  m.load(model_file);
  g_model = &m;
  // Registered before the store is first used, so it runs after core's exit
  // hook: the exit flush has then copied everything precious.
  std::atexit([] { flushed(*g_model); });
  StoreOptions o;
  o.sync = mode;
  o.boot_id_file = boot_file;
  const Store s(dir + "/seen", o);
  try {
    // Before the marker may change: from here on a crash may cost pending items.
    mark("opening " + phase);
    s.open();
    mark("opened " + phase);
    if (phase == "b") {
      // After a crash only the keep file's records are left.
      std::map<std::string, char> kept;
      for (const auto& [name, kind] : m.current) {
        if (m.must.contains(name)) kept[name] = kind;
      }
      m.current = kept;
    }
    if (mode == SyncMode::kNone && phase == "b") m.current.clear();
    rounds(s, m, phase, n, phase == "a");
    m.save(model_file);
    if (phase == "a") _exit(0);  // the crash: no exit flush, no clean stop
    if (phase == "b") {
      if (stop_clean(s, std::chrono::milliseconds(0)) != CleanStop::kMarked) return 23;
      std::set<std::string> all;
      for (const auto& [name, kind] : m.current) all.insert(name);
      flushed(m);  // the clean stop flushed (sync = precious)
      m.save(model_file);
      mark_set("all", all);
      return 0;
    }
    // c: the exit flush copies the rest; the explorer learns it from the
    // final "must" mark, written by the parent process of the next run.
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "workload: %s\n", e.what());
    return 3;
  }
}

std::set<std::string> read_names(const std::string& path) {
  std::set<std::string> out;
  std::ifstream in(path);
  std::string n;
  while (in >> n) out.insert(n);
  return out;
}

// MUST lines: "P name" (precious: must answer as such) or "E name" (must
// exist: every record, after a clean stop).
std::vector<std::pair<char, std::string>> read_facts(const std::string& path) {
  std::vector<std::pair<char, std::string>> out;
  std::ifstream in(path);
  std::string tag, n;
  while (in >> tag >> n) out.emplace_back(tag[0], n);
  return out;
}

int run_check(int argc, char** argv) {
  if (argc < 6) return 2;
  const std::string dir = argv[2], boot_file = argv[3];
  const auto must = read_facts(argv[4]);
  const std::set<std::string> written = read_names(argv[5]);
  StoreOptions o;
  o.boot_id_file = boot_file;
  for (int i = 6; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-recovery") o.crash_recovery = false;
    if (a == "--sync" && i + 1 < argc) o.sync = parse_sync_mode(argv[++i]);
  }
  try {
    const Store s(dir + "/seen", o);
    s.open();
    const auto d = durability(s);
    const bool recovered = d.last_recovery && !d.last_recovery->logged;
    std::string wrong;
    for (const auto& [kind, name] : must) {
      const std::string what = name.substr(2);
      if (name[0] == 'w') {
        if (check(s, "crash-probe/" + what, kDelay, kT1).reason != Reason::kWhitelisted) {
          wrong = "whitelisted suffix " + what + " answers yes";
          break;
        }
      } else {
        ReadTxn txn = s.read();
        const auto rec = txn.item(what);
        if (!rec || (kind == 'P' && rec->count == 0)) {
          wrong = std::string(kind == 'P' ? "passed" : "pending") + " item " + what +
                  (rec ? " is pending again" : " is gone");
          break;
        }
      }
    }
    if (wrong.empty()) {
      const VerifyReport v = verify(s);
      if (!v.ok()) wrong = "garbage: " + (v.problems.empty() ? std::string("?") : v.problems[0]);
    }
    if (wrong.empty()) {
      ReadTxn txn = s.read();
      txn.scan_items({}, [&](const ItemView& v) {
        const ItemRecord& r = v.record;
        if (!written.contains("i:" + std::string(v.name)) || r.created < kT0 || r.created > kT1 ||
            r.used < r.created || r.used > kT1 || r.count > 1) {
          wrong = "garbage answered as data: item " + std::string(v.name);
          return false;
        }
        return true;
      });
      txn.scan_whitelist({}, [&](const WhitelistView& v) {
        if (!written.contains("w:" + std::string(v.suffix)) || v.entry.created < kT0 ||
            v.entry.last_used > kT1) {
          wrong = "garbage answered as data: whitelist entry " + std::string(v.suffix);
          return false;
        }
        return true;
      });
    }
    if (!wrong.empty()) {
      std::printf("wrong: %s\n", wrong.c_str());
      return 1;
    }
    std::printf("ok recovered=%d\n", recovered ? 1 : 0);
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "workload") return workload(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "check") return run_check(argc, argv);
  std::fprintf(stderr,
               "usage: crash_tool workload DIR BOOT_FILE MODEL PHASE [--sync M] [--rounds N]\n"
               "       crash_tool check DIR BOOT_FILE MUST WRITTEN [--sync M] [--no-recovery]\n");
  return 2;
}

// SPDX-License-Identifier: GPL-2.0-or-later
// Several OS processes hammering one store at once.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "exigrey/greylist.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

constexpr int kProcs = 8;
constexpr int kCalls = 2000;
constexpr int kKeys = 500;  // every key is hit by every process, about 4 times each

// Starts kProcs children that wait on one pipe so they begin together; each
// runs body(proc, out) writing result lines to its own file. Returns the
// files' contents, and fails the test if a child failed.
template <typename Body>
std::vector<std::string> run_together(const test::TempDir& dir, const std::string& tag, Body body) {
  int go[2];
  REQUIRE(pipe(go) == 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = test::spawn_child([&] {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 0) return 4;  // EOF = go
      std::ofstream out(dir.file(tag + std::to_string(p)));
      body(p, out);
      return 0;
    });
    REQUIRE(pid >= 0);
    pids.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // release them all at once
  for (pid_t pid : pids) REQUIRE(test::wait_child(pid) == 0);
  std::vector<std::string> results;
  for (int p = 0; p < kProcs; ++p) {
    std::ifstream in(dir.file(tag + std::to_string(p)));
    results.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return results;
}

std::string key_of(int proc, int call) {
  // Overlapping: process p walks the keys from its own offset.
  return "item-" + std::to_string((call * 7 + proc * 61) % kKeys);
}

}  // namespace

TEST_CASE("8 processes x 2000 calls: each key created once, no update lost", "[multiprocess]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  constexpr UnixTime t0 = 1'700'000'000;

  // Phase 1: a long delay, so every call defers; exactly one call per key may
  // report that it created the record.
  auto phase1 = run_together(dir, "p1-", [&](int p, std::ostream& out) {
    Store s(path);
    std::set<std::string> mine;
    for (int i = 0; i < kCalls; ++i) {
      const std::string key = key_of(p, i);
      const Decision d = decide(s, key + "/host-" + std::to_string(p), 600, t0);
      if (d.verdict != Verdict::kDefer) throw std::runtime_error("a call passed in phase 1");
      if (d.reason == Reason::kNew) out << "new " << key << " host-" << p << "\n";
      if (mine.insert(key).second && !unseen(d)) throw std::runtime_error("first call not yes");
    }
  });
  std::map<std::string, int> created;
  std::map<std::string, std::string> first_suffix;  // the suffix recorded by the creator
  for (const auto& text : phase1) {
    std::istringstream in(text);
    std::string word, key, suffix;
    while (in >> word >> key >> suffix) {
      ++created[key];
      first_suffix[key] = suffix;
    }
  }
  CHECK(created.size() == kKeys);
  for (const auto& [key, n] : created) {
    INFO(key);
    CHECK(n == 1);
  }

  // Phase 2: delay 0, so every call passes or is whitelisted. Each pass must
  // be counted in its record (no lost update) and every suffix of a pass
  // must end up whitelisted.
  auto phase2 = run_together(dir, "p2-", [&](int p, std::ostream& out) {
    Store s(path);
    for (int i = 0; i < kCalls; ++i) {
      const std::string key = key_of(p, i);
      // Every 10th call has no suffix, so it cannot be short-cut by the whitelist.
      // Built by appending: GCC 12 -O3 flags "p" + std::string as -Wrestrict (a false positive).
      std::string suffix = "p";
      suffix.append(std::to_string(p)).append("-").append(std::to_string(i % 50));
      const Decision d = decide(s, i % 10 == 0 ? key : key + "/" + suffix, 0, t0 + 1 + i);
      if (d.verdict != Verdict::kPass) throw std::runtime_error("a call deferred in phase 2");
      if (d.reason == Reason::kPassed) {
        out << "pass " << key << " " << (i % 10 == 0 ? "-" : suffix) << "\n";
      }
    }
  });
  std::map<std::string, std::uint32_t> passes;
  std::set<std::string> must_be_whitelisted;
  for (const auto& text : phase2) {
    std::istringstream in(text);
    std::string word, key, suffix;
    while (in >> word >> key >> suffix) {
      ++passes[key];
      if (suffix != "-") must_be_whitelisted.insert(suffix);
    }
  }
  // The first suffix of every key that passed gets whitelisted at its first
  // pass. (Not every host-N: a process that started late may have created
  // no record at all, so its suffix was never anyone's first.)
  for (const auto& [key, n] : passes) must_be_whitelisted.insert(first_suffix.at(key));

  // The store opens cleanly afterwards, in a fresh process.
  const int checker = test::run_child([&] {
    int bad = 0;
    Store s(path);
    auto r = s.read();
    std::size_t items = 0;
    r.scan_items("", [&](const ItemView& v) {
      ++items;
      auto it = passes.find(std::string(v.name));
      const std::uint32_t expected = it == passes.end() ? 0 : it->second;
      if (v.record.count != expected) {
        std::fprintf(stderr, "%s: count %u, expected %u\n", std::string(v.name).c_str(),
                     v.record.count, expected);
        ++bad;
      }
      if (v.record.created != t0) ++bad;
      return true;
    });
    if (items != kKeys) ++bad;
    for (const auto& suffix : must_be_whitelisted) {
      if (!r.whitelisted(suffix)) {
        std::fprintf(stderr, "lost whitelist entry %s\n", suffix.c_str());
        ++bad;
      }
    }
    return bad == 0;
  });
  CHECK(checker == 0);
  CHECK_FALSE(passes.empty());
}

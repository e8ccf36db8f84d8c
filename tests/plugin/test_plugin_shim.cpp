// SPDX-License-Identifier: GPL-2.0-or-later
// The built libexigrey.so, dlopened as Exim does, with stub Exim symbols:
// the C ABI, argument checks, settings, logging and ownership, under the
// sanitizers when the build has them. The real-Exim tests are in tests/exim/.
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "exim_stubs.h"
#include "support/temp_dir.h"

namespace {

using exigrey::test::exim_stubs;
using exigrey::test::TempDir;

constexpr int kOk = 0;    // local_scan.h: OK
constexpr int kFail = 2;  // local_scan.h: FAIL
constexpr unsigned kEximUid = 4242;
constexpr unsigned kEximGid = 4343;

using DlFunc = int (*)(unsigned char** yield, int argc, unsigned char* argv[]);

void* plugin() {
  // Like Exim: opened once per process, never closed.
  static void* handle = [] {
    void* h = dlopen(EXIGREY_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) FAIL("dlopen: " << dlerror());
    return h;
  }();
  return handle;
}

// One spool directory per process: the plugin asks Exim for it once.
const TempDir& spool() {
  static TempDir dir;
  return dir;
}

struct Result {
  int rc;
  std::string text;
};

// Calls ${dlfunc{libexigrey.so}{fn}{args...}} and checks the ABI contract.
Result call(const char* fn, std::vector<std::string> args) {
  auto f = reinterpret_cast<DlFunc>(dlsym(plugin(), fn));
  REQUIRE(f != nullptr);
  std::vector<unsigned char*> argv;
  for (auto& a : args) argv.push_back(reinterpret_cast<unsigned char*>(a.data()));
  argv.push_back(nullptr);
  unsigned char* yield = nullptr;
  const int rc = f(&yield, static_cast<int>(args.size()), argv.data());
  REQUIRE(yield != nullptr);
  CHECK(exigrey::test::is_exim_memory(yield));  // *yield is Exim memory (string_copy)
  return Result{rc, reinterpret_cast<const char*>(yield)};
}

std::string ok(const char* fn, std::vector<std::string> args) {
  const Result r = call(fn, std::move(args));
  INFO(r.text);
  CHECK(r.rc == kOk);
  return r.text;
}

std::string fail(const char* fn, std::vector<std::string> args) {
  const Result r = call(fn, std::move(args));
  CHECK(r.rc == kFail);
  CHECK(r.text.find('\n') == std::string::npos);
  return r.text;
}

// A fresh test: stubs reset, Exim's variables set, and a settings file
// (possibly absent) named by EXIGREY_CONFIG.
struct Fixture {
  TempDir dir;
  std::string config = dir.file("exigrey.conf");
  int generation = 0;

  explicit Fixture(const std::string& text = "") {
    exigrey::test::reset_exim_stubs();
    exim_stubs().variables = {{"$spool_directory", spool().path()},
                              {"$exim_uid", std::to_string(kEximUid)},
                              {"$exim_gid", std::to_string(kEximGid)}};
    if (!text.empty()) std::ofstream(config) << text;
    ::setenv("EXIGREY_CONFIG", config.c_str(), 1);
  }
  // New settings, in a new file: the plugin re-reads a changed file only
  // about once a second, but a different EXIGREY_CONFIG path at once.
  void settings(const std::string& text) {
    config = dir.file("exigrey-" + std::to_string(++generation) + ".conf");
    std::ofstream(config) << text;
    ::setenv("EXIGREY_CONFIG", config.c_str(), 1);
  }
  std::string grey(const std::string& name) const { return spool().path() + "/grey/" + name; }
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("unseen defers the first sighting and passes after the delay", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"a->b", "0", "first"}) == "yes");
  CHECK(ok("unseen", {"a->b", "0", "first"}) == "no");
  CHECK(ok("unseen", {"c->d", "600", "first"}) == "yes");
  CHECK(ok("unseen", {"c->d", "600", "first"}) == "yes");  // too early: still deferred
  CHECK(std::filesystem::exists(fx.grey("first")));
  CHECK(std::filesystem::exists(fx.grey("first") + "-lock"));
}

TEST_CASE("seen gives the reverse answers on the same records", "[plugin]") {
  Fixture fx;
  CHECK(ok("seen", {"k", "0", "rev"}) == "no");
  CHECK(ok("seen", {"k", "0", "rev"}) == "yes");
  CHECK(ok("unseen", {"k", "0", "rev"}) == "no");
  CHECK(ok("unseen", {"m", "10m", "rev"}) == "yes");
  CHECK(ok("seen", {"m", "10m", "rev"}) == "no");
}

TEST_CASE("Defaults apply only to omitted arguments: 600 s and DB seen", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"default-key"}) == "yes");
  CHECK(ok("unseen", {"default-key"}) == "yes");  // 600 s have not passed
  CHECK(std::filesystem::exists(fx.grey("seen")));
  CHECK(ok("unseen", {"default-key", "0"}) == "no");  // same record, delay 0
  CHECK(fail("unseen", {"k", ""}) ==
        "exigrey: unseen: empty DELAY: omit the argument for the default 600s, or give "
        "seconds or Exim units such as 10m");
  CHECK(fail("unseen", {"k", "5", ""}) ==
        "exigrey: unseen: empty DB: omit the argument for the default \"seen\", or give a "
        "name, an absolute path or ./path");
}

TEST_CASE("Delays take Exim units; negative delays act as 0", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"u1", "1h30m", "units"}) == "yes");
  CHECK(ok("unseen", {"u1", "1h30m", "units"}) == "yes");
  CHECK(ok("unseen", {"u1", " 0s ", "units"}) == "no");
  CHECK(ok("unseen", {"u2", "-5", "units"}) == "yes");
  CHECK(ok("unseen", {"u2", "-5", "units"}) == "no");
}

TEST_CASE("The whitelist timeline t0..t3 of Exim::Grey", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"a->b/x", "0", "timeline"}) == "yes");  // t0
  CHECK(ok("unseen", {"a->b/y", "0", "timeline"}) == "no");   // t1: x and y whitelisted
  CHECK(ok("unseen", {"c->b/x", "600", "timeline"}) == "no");
  CHECK(ok("unseen", {"d->b/y", "600", "timeline"}) == "no");
  CHECK(ok("unseen", {"e->f", "600", "timeline"}) == "yes");  // no suffix: no whitelist
}

TEST_CASE("Keys split at the first slash only", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"a/b/c", "0", "slashes"}) == "yes");
  CHECK(ok("unseen", {"a/q", "0", "slashes"}) == "no");      // item a passes; b/c, q whitelisted
  CHECK(ok("unseen", {"z/b/c", "600", "slashes"}) == "no");  // suffix b/c is whitelisted
  CHECK(ok("unseen", {"z/b", "600", "slashes"}) == "yes");   // b alone is not
}

TEST_CASE("Absolute and ./ DB paths bypass the grey directory", "[plugin]") {
  Fixture fx;
  const std::string abs = fx.dir.file("abs.db");
  CHECK(ok("unseen", {"k", "600", abs}) == "yes");
  CHECK(std::filesystem::exists(abs));
  CHECK(ok("unseen", {"k", "600", "other"}) == "yes");  // separate DBs, separate records

  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(fx.dir.path());
  CHECK(ok("unseen", {"k", "0", "./rel.db"}) == "yes");
  std::filesystem::current_path(cwd);
  CHECK(std::filesystem::exists(fx.dir.file("rel.db")));
}

TEST_CASE("Bad arguments fail with a usage line and touch no store", "[plugin]") {
  Fixture fx;
  const std::string db = fx.dir.file("never.db");
  CHECK(fail("unseen", {}) ==
        "exigrey: unseen takes 1 to 3 arguments, got 0: use "
        "${dlfunc{libexigrey.so}{unseen}{KEY[/SUFFIX]}{DELAY}{DB}}");
  CHECK(fail("seen", {"k", "1", db, "extra"}) ==
        "exigrey: seen takes 1 to 3 arguments, got 4: use "
        "${dlfunc{libexigrey.so}{seen}{KEY[/SUFFIX]}{DELAY}{DB}}");
  CHECK(contains(fail("unseen", {"", "1", db}), "exigrey: unseen: empty KEY"));
  CHECK(fail("unseen", {"k", "abc", db}) ==
        "exigrey: invalid delay \"abc\" (use seconds or Exim units such as 10m, 1h30m)");
  CHECK(fail("unseen", {"k", "10x", db}) ==
        "exigrey: invalid delay \"10x\" (use seconds or Exim units such as 10m, 1h30m)");
  CHECK(fail("unseen", {"k", "1.5m", db}) ==
        "exigrey: invalid delay \"1.5m\" (use seconds or Exim units such as 10m, 1h30m)");
  CHECK(fail("unseen", {"k", "99999999999999999999", db}) ==
        "exigrey: invalid delay \"99999999999999999999\" (use seconds or Exim units such as "
        "10m, 1h30m)");
  CHECK(contains(fail("unseen", {"k", "1", "a/b"}), "invalid DB name \"a/b\""));
  CHECK_FALSE(std::filesystem::exists(db));
  // A newline in an argument cannot break Exim's one-line log entry.
  CHECK(fail("unseen", {"k", "1\nm", db}) ==
        "exigrey: invalid delay \"1\\nm\" (use seconds or Exim units such as 10m, 1h30m)");
}

TEST_CASE("The grey directory is created with mode 0750 for Exim's user", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"owner", "0", "owned"}) == "yes");
  struct stat st {};
  REQUIRE(::stat((spool().path() + "/grey").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
  if (::geteuid() != 0) return;  // only root can (and must) give files away
  CHECK(st.st_uid == kEximUid);
  CHECK(st.st_gid == kEximGid);
  for (const std::string& f : {fx.grey("owned"), fx.grey("owned") + "-lock"}) {
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK(st.st_uid == kEximUid);
    CHECK(st.st_gid == kEximGid);
  }
}

TEST_CASE("The settings file chooses the directory and is re-read when it changes", "[plugin]") {
  Fixture fx("directory = " + std::string("/nonexistent-exigrey-parent/grey") + "\n");
  CHECK(contains(fail("unseen", {"k", "0", "s"}),
                 "exigrey: cannot create directory /nonexistent-exigrey-parent/grey: No such "
                 "file or directory"));
  const std::string dir = fx.dir.file("mygrey");
  fx.settings("# moved\ndirectory = " + dir + "\n");
  CHECK(ok("unseen", {"k", "0", "s"}) == "yes");
  CHECK(std::filesystem::exists(dir + "/s"));
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0750);
}

TEST_CASE("Invalid settings are a clear error, even with fail_open", "[plugin]") {
  Fixture fx("fail_open = yes\nsync = sometimes\n");
  CHECK(fail("unseen", {"k"}) ==
        "exigrey: " + fx.config +
            ":2: invalid sync \"sometimes\" (use precious, meta, full or none)");
}

TEST_CASE("Store errors fail closed by default", "[plugin]") {
  Fixture fx;
  const std::string db = fx.dir.file("no-such-dir/x");
  const std::string text = fail("unseen", {"k", "0", db});
  CHECK(contains(text, "exigrey: cannot create store " + db));
  CHECK(exim_stubs().main_log.empty());
}

TEST_CASE("fail_open turns store errors into the pass verdict and a log line", "[plugin]") {
  Fixture fx("fail_open = yes\n");
  const std::string db = fx.dir.file("no-such-dir/x");
  CHECK(ok("unseen", {"k", "0", db}) == "no");
  CHECK(ok("seen", {"k", "0", db}) == "yes");
  REQUIRE(exim_stubs().main_log.size() == 2);
  CHECK(contains(exim_stubs().main_log[0], "exigrey: cannot create store " + db));
  CHECK(contains(exim_stubs().main_log[0], "(fail_open: unseen answers no)"));
  CHECK(contains(exim_stubs().main_log[1], "(fail_open: seen answers yes)"));
  CHECK(exim_stubs().log_flags[0] == 1);  // LOG_MAIN
  // Usage errors are never hidden by fail_open.
  CHECK(contains(fail("unseen", {"k", "abc", db}), "invalid delay"));
}

TEST_CASE("A full store map is an error naming the fix, or a pass with fail_open", "[plugin]") {
  Fixture fx("map_size = 64K\n");
  const std::string db = fx.dir.file("tiny.db");
  Result r{kOk, ""};
  int calls = 0;
  for (; calls < 1000 && r.rc == kOk; ++calls) {
    r = call("unseen", {std::to_string(calls) + std::string(400, 'k'), "0", db});
  }
  REQUIRE(r.rc == kFail);
  CHECK(contains(r.text, "exigrey: store " + db + " is full"));
  CHECK(contains(r.text, "exigrey purge"));
  CHECK(calls > 10);

  // LMDB may still fit a write or two after a failed one (freed pages): go
  // on until it is full again, which fail_open now answers with a pass.
  fx.settings("map_size = 64K\nfail_open = yes\n");
  std::string answer;
  for (int i = 0; i < 100 && exim_stubs().main_log.empty(); ++i) {
    answer = ok("unseen", {"more" + std::to_string(i) + std::string(400, 'k'), "0", db});
  }
  CHECK(answer == "no");
  REQUIRE(exim_stubs().main_log.size() == 1);
  CHECK(contains(exim_stubs().main_log[0], "is full"));
  CHECK(contains(exim_stubs().main_log[0], "(fail_open: unseen answers no)"));
}

TEST_CASE("Decision logging: none, defers or decisions", "[plugin]") {
  Fixture fx("log = defers\n");
  const std::string db = fx.dir.file("log.db");
  CHECK(ok("unseen", {"a->b/1.2.3.4", "0", db}) == "yes");
  CHECK(ok("unseen", {"a->b/1.2.3.4", "0", db}) == "no");
  REQUIRE(exim_stubs().main_log.size() == 1);
  CHECK(exim_stubs().main_log[0] ==
        "exigrey: greylisted (new, retry in 0s) key=\"a->b/1.2.3.4\" db=" + db);

  fx.settings("log = decisions\n");
  CHECK(ok("seen", {"a->b/1.2.3.4", "0", db}) == "yes");
  CHECK(ok("unseen", {"x->y\n", "60", db}) == "yes");
  REQUIRE(exim_stubs().main_log.size() == 3);
  CHECK(exim_stubs().main_log[1] ==
        "exigrey: passed (whitelisted suffix) key=\"a->b/1.2.3.4\" db=" + db);
  CHECK(exim_stubs().main_log[2] ==
        "exigrey: greylisted (new, retry in 60s) key=\"x->y\\n\" db=" + db);

  fx.settings("log = none\n");
  CHECK(ok("unseen", {"q", "0", db}) == "yes");
  CHECK(exim_stubs().main_log.size() == 3);
}

TEST_CASE("Debug output appears only when Exim debugs", "[plugin]") {
  Fixture fx;
  const std::string db = fx.dir.file("debug.db");
  CHECK(ok("unseen", {"k", "5", db}) == "yes");
  CHECK(exim_stubs().debug_output.empty());
  debug_selector = 1;
  CHECK(ok("unseen", {"k", "5", db}) == "yes");
  CHECK(contains(exim_stubs().debug_output,
                 "exigrey: unseen(\"k\", delay 5s, " + db + ") = yes (too early, retry in "));
  CHECK(fail("seen", {"k", "abc", db}) ==
        "exigrey: invalid delay \"abc\" (use seconds or Exim units such as 10m, 1h30m)");
  CHECK(contains(exim_stubs().debug_output, "exigrey: invalid delay \"abc\""));
}

TEST_CASE("Exim's $spool_directory is asked at run time", "[plugin]") {
  Fixture fx;
  CHECK(ok("unseen", {"k", "0", "asked"}) == "yes");
  CHECK(std::filesystem::exists(fx.grey("asked")));
}

TEST_CASE("A changed sync mode does not break a process that has the store open", "[plugin]") {
  Fixture fx("sync = full\n");
  const std::string db = fx.dir.file("sync.db");
  CHECK(ok("unseen", {"k", "0", db}) == "yes");
  fx.settings("sync = none\n");
  CHECK(ok("unseen", {"k", "0", db}) == "no");  // LMDB keeps this process's flags
  const std::string other = fx.dir.file("other.db");
  CHECK(ok("unseen", {"k", "0", other}) == "yes");  // a store opened now uses the new ones
}

TEST_CASE("A changed settings file is read again within about a second", "[plugin]") {
  Fixture fx("log = none\n");
  const std::string db = fx.dir.file("reread.db");
  CHECK(ok("unseen", {"a", "0", db}) == "yes");
  CHECK(exim_stubs().main_log.empty());
  std::ofstream(fx.config) << "log = decisions\n";  // same file, new contents
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK(ok("unseen", {"b", "0", db}) == "yes");
  REQUIRE(exim_stubs().main_log.size() == 1);
  CHECK(contains(exim_stubs().main_log[0], "key=\"b\""));
}

namespace {

// The number after `name=` in a decide answer.
long field(const std::string& answer, const std::string& name) {
  const auto at = answer.find(name + "=");
  REQUIRE(at != std::string::npos);
  return std::stol(answer.substr(at + name.size() + 1));
}

}  // namespace

TEST_CASE("decide answers the decision as fields for ${extract}", "[plugin]") {
  Fixture fx("log = decisions\n");
  const std::string db = fx.dir.file("decide.db");
  CHECK(ok("decide", {"item/10.0.0.1", "1", db}) == "verdict=defer reason=new wait=1 delayed=0");
  const std::string early = ok("decide", {"item/10.0.0.2", "1h", db});
  CHECK(early.starts_with("verdict=defer reason=too-early wait="));
  CHECK(field(early, "wait") > 3500);
  CHECK(field(early, "delayed") == 0);
  // The pass that ends the delay says how long it was (real clock: the
  // second boundary makes it 1 or 2 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string passed = ok("decide", {"item/10.0.0.3", "1", db});
  CHECK(passed.starts_with("verdict=pass reason=passed wait=0 delayed="));
  CHECK(field(passed, "delayed") >= 1);
  CHECK(field(passed, "delayed") <= 3);
  // Later passes of the item and whitelisted suffixes were not held back.
  CHECK(ok("decide", {"item/10.0.0.4", "1", db}) == "verdict=pass reason=known wait=0 delayed=0");
  CHECK(ok("decide", {"other/10.0.0.3", "1", db}) ==
        "verdict=pass reason=whitelisted wait=0 delayed=0");
  // unseen and decide share records: the first suffix 10.0.0.1 is whitelisted.
  CHECK(ok("unseen", {"third/10.0.0.1", "1", db}) == "no");

  const auto& log = exim_stubs().main_log;
  REQUIRE(log.size() == 6);
  CHECK(log[0] == "exigrey: greylisted (new, retry in 1s) key=\"item/10.0.0.1\" db=" + db);
  CHECK(log[1].starts_with("exigrey: greylisted (too early, retry in "));
  CHECK(log[2].starts_with("exigrey: passed after "));
  CHECK(contains(log[2], "s (the delay is over) key=\"item/10.0.0.3\" db=" + db));
  CHECK(log[3] == "exigrey: passed (known item, pass 2) key=\"item/10.0.0.4\" db=" + db);
  CHECK(log[4] == "exigrey: passed (whitelisted suffix) key=\"other/10.0.0.3\" db=" + db);

  CHECK(fail("decide", {}) ==
        "exigrey: decide takes 1 to 3 arguments, got 0: use "
        "${dlfunc{libexigrey.so}{decide}{KEY[/SUFFIX]}{DELAY}{DB}}");
  CHECK(contains(fail("decide", {"k", "soon", db}), "invalid delay \"soon\""));
}

TEST_CASE("decide under fail_open answers a pass with reason fail-open", "[plugin]") {
  Fixture fx("fail_open = yes\n");
  const std::string db = fx.dir.file("no-such-dir/x");
  CHECK(ok("decide", {"k", "0", db}) == "verdict=pass reason=fail-open wait=0 delayed=0");
  REQUIRE(exim_stubs().main_log.size() == 1);
  CHECK(contains(exim_stubs().main_log[0], "(fail_open: decide answers verdict=pass"));
}

TEST_CASE("whitelist adds a suffix that passes unseen at once; whitelisted asks", "[plugin]") {
  Fixture fx("log = decisions\n");
  const std::string db = fx.dir.file("wl.db");
  CHECK(ok("whitelisted", {"bob@example.org", db}) == "no");
  CHECK(ok("whitelist", {"bob@example.org", db}) == "yes");
  CHECK(ok("whitelisted", {"bob@example.org", db}) == "yes");
  CHECK(ok("whitelist", {"bob@example.org", db}) == "yes");  // fresh: no write
  CHECK(ok("unseen", {"anything/bob@example.org", "1h", db}) == "no");
  CHECK(ok("unseen", {"anything/carol@example.org", "1h", db}) == "yes");

  const auto& log = exim_stubs().main_log;
  REQUIRE(log.size() == 6);
  CHECK(log[0] == "exigrey: suffix \"bob@example.org\" is not whitelisted db=" + db);
  CHECK(log[1] == "exigrey: whitelisted suffix \"bob@example.org\" (added) db=" + db);
  CHECK(log[2] == "exigrey: suffix \"bob@example.org\" is whitelisted db=" + db);
  CHECK(log[3] == "exigrey: whitelisted suffix \"bob@example.org\" (fresh) db=" + db);

  // The default DB is "seen" in the grey directory, as for unseen.
  CHECK(ok("whitelist", {"10.9.8.7"}) == "yes");
  CHECK(ok("unseen", {"k/10.9.8.7"}) == "no");
  CHECK(std::filesystem::exists(fx.grey("seen")));
}

TEST_CASE("whitelist and whitelisted reject bad arguments before any store", "[plugin]") {
  Fixture fx("fail_open = yes\n");
  const std::string db = fx.dir.file("never.db");
  CHECK(fail("whitelist", {}) ==
        "exigrey: whitelist takes 1 or 2 arguments, got 0: use "
        "${dlfunc{libexigrey.so}{whitelist}{SUFFIX}{DB}}");
  CHECK(fail("whitelisted", {"a", db, "x"}) ==
        "exigrey: whitelisted takes 1 or 2 arguments, got 3: use "
        "${dlfunc{libexigrey.so}{whitelisted}{SUFFIX}{DB}}");
  CHECK(contains(fail("whitelist", {"", db}), "exigrey: whitelist: empty SUFFIX"));
  CHECK(contains(fail("whitelist", {"a", ""}), "exigrey: whitelist: empty DB"));
  CHECK(fail("whitelist", {std::string(64 * 1024 + 1, 's'), db}) ==
        "exigrey: whitelist: SUFFIX of 65537 bytes is longer than the limit of 65536");
  CHECK(contains(fail("whitelisted", {"a", "a/b"}), "invalid DB name \"a/b\""));
  CHECK_FALSE(std::filesystem::exists(db));
  // A store error under fail_open: not whitelisted, and a log line.
  const std::string broken = fx.dir.file("no-such-dir/x");
  CHECK(ok("whitelist", {"a", broken}) == "no");
  CHECK(ok("whitelisted", {"a", broken}) == "no");
  REQUIRE(exim_stubs().main_log.size() == 2);
  CHECK(contains(exim_stubs().main_log[0], "(fail_open: whitelist answers no)"));
}

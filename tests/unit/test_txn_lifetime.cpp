// SPDX-License-Identifier: GPL-2.0-or-later
// No value read from LMDB is used after its transaction ended.
//
// A value LMDB returns points into its map. Once the transaction that read
// it has ended, nothing protects that page: another process's commits may
// reuse it for other records at once, and the bytes change under the
// reader. In production that needs a preemption at the wrong instant (it
// happened once: a writer read another record's bytes as the store's format
// marker; docs/reliability.md). Here it happens every time: this binary is
// linked with `--wrap` around mdb_txn_abort, mdb_txn_reset and
// mdb_txn_commit, and after every transaction that core ends, a churner
// process rewrites the whole store several times over (shifting every
// record to other offsets and reusing every freed page) before core goes on.
// The churner leaves the logical content as it was, so every operation must
// give the same answer as without it. Every store kind is covered: the
// greylist store, the outbox and the collector's reputation store.
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "exigrey/dump.h"
#include "exigrey/durability.h"
#include "exigrey/greylist.h"
#include "exigrey/listing.h"
#include "exigrey/outbox.h"
#include "exigrey/purge.h"
#include "exigrey/reputation.h"
#include "exigrey/verify.h"
#include "support/child.h"
#include "support/temp_dir.h"

using namespace exigrey;

namespace {

// The churner of the store under test, while armed; -1 otherwise.
int g_request_fd = -1;
int g_reply_fd = -1;
long g_churns = 0;

void churn_now() {
  if (g_request_fd < 0) return;
  const int request = std::exchange(g_request_fd, -1);  // no churn inside the churn
  if (::write(request, "c", 1) != 1) std::abort();
  pollfd p{g_reply_fd, POLLIN, 0};
  // A core that ended a transaction while holding the write lock elsewhere
  // would leave the churner waiting for that lock: say so rather than hang.
  if (::poll(&p, 1, 20'000) != 1) {
    std::fputs(
        "test_txn_lifetime: the churner did not answer in 20 s; does core end a "
        "transaction while it holds the write lock?\n",
        stderr);
    std::abort();
  }
  char c = 0;
  if (::read(g_reply_fd, &c, 1) != 1 || c != 'd') std::abort();
  ++g_churns;
  g_request_fd = request;
}

}  // namespace

extern "C" {
void __real_mdb_txn_abort(MDB_txn* txn);
void __real_mdb_txn_reset(MDB_txn* txn);
int __real_mdb_txn_commit(MDB_txn* txn);

void __wrap_mdb_txn_abort(MDB_txn* txn) {
  __real_mdb_txn_abort(txn);
  churn_now();
}
void __wrap_mdb_txn_reset(MDB_txn* txn) {
  __real_mdb_txn_reset(txn);
  churn_now();
}
int __wrap_mdb_txn_commit(MDB_txn* txn) {
  const int rc = __real_mdb_txn_commit(txn);
  churn_now();
  return rc;
}
}

namespace {

[[noreturn]] void die(const char* what, int rc) {
  std::fprintf(stderr, "churner: %s: %s\n", what, mdb_strerror(rc));
  _exit(3);
}

// One round: insert keys that sort before every record (so the first leaf
// is rebuilt and every record on it moves), rewrite everything, remove
// those keys again, rewrite everything twice more (LMDB reuses a freed page
// from the second commit after the one that freed it).
void churn_store(MDB_env* env, int round) {
  MDB_dbi dbi = 0;
  auto begin = [&] {
    MDB_txn* t = nullptr;
    if (int rc = mdb_txn_begin(env, nullptr, 0, &t)) die("mdb_txn_begin", rc);
    if (int rc = mdb_dbi_open(t, nullptr, 0, &dbi)) die("mdb_dbi_open", rc);
    return t;
  };
  auto commit = [](MDB_txn* t) {
    if (int rc = __real_mdb_txn_commit(t)) die("mdb_txn_commit", rc);
  };
  auto junk_key = [](int i) { return std::string("\0\0churn-", 8) + std::to_string(i); };
  auto rewrite_all = [&] {
    MDB_txn* t = begin();
    std::vector<std::pair<std::string, std::string>> all;
    MDB_cursor* c = nullptr;
    if (int rc = mdb_cursor_open(t, dbi, &c)) die("mdb_cursor_open", rc);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      all.emplace_back(std::string(static_cast<char*>(k.mv_data), k.mv_size),
                       std::string(static_cast<char*>(v.mv_data), v.mv_size));
    }
    mdb_cursor_close(c);
    for (auto& [key, value] : all) {
      MDB_val kk{key.size(), key.data()}, vv{value.size(), value.data()};
      if (int rc = mdb_put(t, dbi, &kk, &vv, 0)) die("mdb_put", rc);
    }
    commit(t);
  };
  MDB_txn* t = begin();
  for (int i = 0; i < 48; ++i) {
    std::string key = junk_key(i);
    std::string value(static_cast<std::size_t>(8 + (round * 37 + i * 53) % 300), 'J');
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    if (int rc = mdb_put(t, dbi, &k, &v, 0)) die("mdb_put", rc);
  }
  commit(t);
  rewrite_all();
  t = begin();
  for (int i = 0; i < 48; ++i) {
    std::string key = junk_key(i);
    MDB_val k{key.size(), key.data()};
    if (int rc = mdb_del(t, dbi, &k, nullptr)) die("mdb_del", rc);
  }
  commit(t);
  rewrite_all();
  rewrite_all();
}

// A process that churns the store at `path` on request.
class Churner {
 public:
  Churner(const std::string& path, std::uint64_t map_size) {
    int req[2], rep[2];
    REQUIRE(pipe(req) == 0);
    REQUIRE(pipe(rep) == 0);
    pid_ = test::spawn_child([&] {
      g_request_fd = -1;
      ::close(req[1]);
      ::close(rep[0]);
      MDB_env* env = nullptr;
      if (int rc = mdb_env_create(&env)) die("mdb_env_create", rc);
      mdb_env_set_maxreaders(env, kMaxReaders);
      mdb_env_set_mapsize(env, map_size);
      if (int rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0660)) {
        die("mdb_env_open", rc);
      }
      char c = 0;
      for (int round = 0; ::read(req[0], &c, 1) == 1; ++round) {
        churn_store(env, round);
        churn_store(env, round + 1000);
        if (::write(rep[1], "d", 1) != 1) return 4;
      }
      return 0;  // the test closed the pipe; _exit without closing LMDB from a forked copy
    });
    REQUIRE(pid_ >= 0);
    ::close(req[0]);
    ::close(rep[1]);
    request_ = req[1];
    reply_ = rep[0];
  }
  ~Churner() {
    disarm();
    ::close(request_);
    ::close(reply_);
    (void)test::wait_child(pid_);
  }
  Churner(const Churner&) = delete;
  Churner& operator=(const Churner&) = delete;

  void arm() {
    g_request_fd = request_;
    g_reply_fd = reply_;
  }
  void disarm() { g_request_fd = -1; }

 private:
  pid_t pid_ = -1;
  int request_ = -1;
  int reply_ = -1;
};

// Creates and fills a store in a child, so this process opens it for the
// first time while armed (the format check at open is one of the reads).
template <typename Fill>
void in_child(Fill fill) {
  REQUIRE(test::run_child(fill) == 0);
}

constexpr UnixTime t0 = 1'800'000'000;

std::string item_name(int i) {
  return "item-" + std::to_string(i) + "-" + std::string(static_cast<std::size_t>(i % 40), 'x');
}

}  // namespace

TEST_CASE("greylist store: every read survives page reuse right after its transaction",
          "[lifetime][store]") {
  test::TempDir dir;
  const std::string path = dir.file("seen");
  in_child([&] {
    const Store s(path);
    WriteTxn txn = s.write();
    for (int i = 0; i < 400; ++i) {
      txn.put_item(
          item_name(i),
          ItemRecord{.created = t0 + i,
                     .used = t0 + i,
                     .count = static_cast<std::uint32_t>(i % 3),
                     .first = i % 3 ? std::nullopt
                                    : std::optional<std::string>("net" + std::to_string(i))});
    }
    for (int i = 0; i < 60; ++i) {
      txn.put_whitelist(
          "white-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 23), 'w'),
          WhitelistEntry{.created = t0 - i, .last_used = t0 + i});
    }
    txn.put_item(std::string(3000, 'L'),
                 ItemRecord{.created = t0, .used = t0, .count = 1, .first = std::nullopt});
    txn.commit();
  });
  // What the store holds, read before any churn (in a child, to keep this
  // process's first open for the armed part).
  const std::string expected_dump = dir.file("expected.dump");
  in_child([&] {
    std::FILE* f = std::fopen(expected_dump.c_str(), "w");
    dump_store(Store(path), [&](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), f);
      std::fputc('\n', f);
    });
    std::fclose(f);
  });
  std::string expected;
  {
    std::FILE* f = std::fopen(expected_dump.c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) expected.append(buf, n);
    std::fclose(f);
  }

  Churner churner(path, kDefaultMapSize);
  churner.arm();
  const Store store(path);
  const long churns_before = g_churns;
  store.open();  // reads the format marker
  CHECK(g_churns > churns_before);

  std::string dumped;
  dump_store(store, [&](std::string_view line) {
    dumped.append(line);
    dumped.push_back('\n');
  });
  CHECK(dumped == expected);

  const VerifyReport report = verify(store);
  CHECK(report.ok());
  CHECK(report.items == 401);

  std::size_t listed = 0;
  for_each_item(
      store, {}, [&](const ItemView&) { return ++listed, true; }, BulkLimits{.scan_chunk = 7});
  CHECK(listed == 401);
  const StoreSummary summary = summarize(store, BulkLimits{.scan_chunk = 5});
  CHECK(summary.items == 401);
  CHECK(summary.whitelist == 60);

  for (int i = 0; i < 400; i += 37) {
    const Decision d = check(store, item_name(i) + "/net" + std::to_string(i), 10, t0 + 400);
    CHECK(d.reason == Reason::kPassed);
  }
  CHECK(decide(store, "any/white-5wwwww", 600, t0 + 500).reason == Reason::kWhitelisted);
  CHECK(decide(store, "fresh/203.0.113.9", 600, t0 + 500).reason == Reason::kNew);
  CHECK(decide(store, "fresh/203.0.113.9", 600, t0 + 600).reason == Reason::kTooEarly);
  CHECK(decide(store, "fresh/203.0.113.10", 600, t0 + 1200).reason == Reason::kPassed);
  CHECK(decide(store, "other/203.0.113.9", 600, t0 + 1201).reason == Reason::kWhitelisted);
  CHECK(decide(store, std::string(3000, 'L') + "/x", 0, t0 + 1300).reason == Reason::kPassed);

  PurgeOptions purge_options;
  purge_options.cutoff = t0 + 200;
  purge_options.whitelist = false;
  purge_options.limits.scan_chunk = 9;
  purge_options.limits.max_ops = 11;
  const PurgeProgress purged = purge(store, purge_options);
  CHECK(purged.removed_items == 200);
  const StoreSummary left = summarize(store);
  CHECK(left.items == 201 + 1);  // and "fresh"
  CHECK(left.whitelist == 63);
  // The keep file (sync = precious) is written from values read in the
  // store: a flush under churn copies exactly the precious records.
  const FlushResult flushed = flush(store);
  CHECK(flushed.logged > 0);
  const DurabilityStatus d = durability(store);
  CHECK(d.unflushed == 0);
  CHECK(d.keep_records == left.passed + left.whitelist);

  const long churns = g_churns - churns_before;
  churner.disarm();
  INFO(churns << " churns");
  CHECK(churns > 100);
}

TEST_CASE("outbox: every read survives page reuse right after its transaction",
          "[lifetime][outbox]") {
  test::TempDir dir;
  const std::string path = dir.file("outbox");
  auto report = [](int i) {
    return Report{.verb = i % 4 ? Verb::kBlack : Verb::kWhite,
                  .subject = parse_subject("198.51.100." + std::to_string(i % 250)),
                  .note = std::string(static_cast<std::size_t>(i % 90), 'n'),
                  .time = t0 + i};
  };
  in_child([&] {
    Outbox box(path);
    for (int i = 0; i < 300; ++i) box.append(report(i));
  });
  Churner churner(path, kDefaultOutboxMapSize);
  churner.arm();
  Outbox box(path);
  const std::vector<OutboxEntry> first = box.peek(120);
  REQUIRE(first.size() == 120);
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(first[i].seq == i + 1);
    CHECK(first[i].report == report(static_cast<int>(i)));
  }
  const OutboxStats stats = box.stats();
  CHECK(stats.pending == 300);
  CHECK(stats.white == 75);
  CHECK(stats.oldest == t0);
  const OutboxStats summary = box.summary();
  CHECK(summary.pending == 300);
  CHECK(summary.oldest == t0);
  CHECK(summary.next_seq == 301);
  CHECK(box.append(report(300)) == 301);
  CHECK(box.remove_upto(100) == 100);
  const std::vector<std::uint64_t> some{101, 103, 105};
  CHECK(box.remove(some) == 3);
  const std::vector<OutboxEntry> rest = box.peek(1000);
  REQUIRE(rest.size() == 198);
  CHECK(rest.front().seq == 102);
  CHECK(rest.front().report == report(101));
  CHECK(rest.back().report == report(300));
  churner.disarm();
}

TEST_CASE("reputation store: every read survives page reuse right after its transaction",
          "[lifetime][reputation]") {
  test::TempDir dir;
  const std::string path = dir.file("reputation");
  auto incoming = [](int i) {
    return IncomingReport{
        Report{.verb = i % 5 ? Verb::kBlack : Verb::kWhite,
               .subject = parse_subject(i % 3 ? "192.0.2." + std::to_string(i % 200)
                                              : "host" + std::to_string(i) + ".example"),
               .note = "",
               .time = t0 + i},
        "reporter-" + std::to_string(i % 7)};
  };
  std::vector<IncomingReport> all;
  for (int i = 0; i < 500; ++i) all.push_back(incoming(i));
  const std::string expected_file = dir.file("expected");
  in_child([&] {
    ReputationStore store(path);
    store.apply(all, t0 + 600, 86400, std::vector<ReporterCursor>{{"reporter-1", 42}});
  });
  Churner churner(path, kDefaultReputationMapSize);
  churner.arm();
  ReputationStore store(path);
  CHECK(store.reporter_cursor("reporter-1") == 42);
  const ReputationTotals totals = store.totals();
  CHECK(totals.black_reports == 400);
  CHECK(totals.white_reports == 100);
  std::size_t subjects = 0, skipped = 0;
  store.for_each([&](const Subject&, const SubjectRecord&) { return ++subjects, true; }, &skipped);
  CHECK(skipped == 0);
  CHECK(subjects == totals.subjects);
  const auto one = store.get(parse_subject("192.0.2.1"));
  REQUIRE(one);
  CHECK(one->votes.size() >= 1);
  store.apply(std::vector<IncomingReport>{incoming(1)}, t0 + 700, 86400,
              std::vector<ReporterCursor>{{"reporter-1", 43}});
  CHECK(store.reporter_cursor("reporter-1") == 43);
  const auto again = store.get(parse_subject("192.0.2.1"));
  REQUIRE(again);
  CHECK(again->black_reports == one->black_reports + 1);
  CHECK(again->last_seen == one->last_seen);
  CHECK(store.prune(t0 + 250, t0 + 250, 1000) > 0);
  churner.disarm();
}

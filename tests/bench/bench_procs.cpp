// SPDX-License-Identifier: GPL-2.0-or-later
// Decisions per second from P processes sharing one store, for exigrey's core
// API and for a minimal raw-LMDB loop doing the same transactions: the
// in-process "limit" lines of tests/bench/compare.sh's concurrency plot.
//
//   exigrey_bench_procs --impl exigrey|raw --sync full|meta|none|precious
//                       --procs P --keys N [--repeat R] [--dir DIR]
//
// A fresh store is made in DIR. P processes are forked; each opens the store
// after the fork (as Exim's per-connection processes do) and waits at a
// barrier. Phase "first": every process decides N keys of its own that the
// store has never seen (each a new record: one write transaction). Phase
// "again": every process decides its N keys R times over (too early: a read
// transaction). The parent times each phase from the barrier's release to the
// last process's end and prints one line:
//
//   impl=exigrey sync=meta procs=8 first_dps=... again_dps=...
//
// Every call is checked to take the expected path (exit 1 otherwise).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/greylist.h"
#include "exigrey/store.h"
#include "exigrey/store_options.h"

namespace {

constexpr std::int64_t kDelay = 600;

struct Args {
  std::string impl = "exigrey";
  std::string sync = "meta";
  int procs = 1;
  int keys = 1000;
  int repeat = 4;
  std::string dir = "/tmp";
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "exigrey_bench_procs: %s\n", what);
  std::exit(2);
}

void lmdb_ok(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "exigrey_bench_procs: %s: %s\n", what, mdb_strerror(rc));
    std::exit(2);
  }
}

unsigned sync_flag(const std::string& s) {
  if (s == "full") return 0;
  if (s == "meta") return MDB_NOMETASYNC;
  if (s == "none" || s == "precious") return MDB_NOSYNC;  // raw LMDB has no keep file
  die("--sync must be full, meta, none or precious");
}

exigrey::SyncMode sync_mode(const std::string& s) {
  if (s == "full") return exigrey::SyncMode::kFull;
  if (s == "meta") return exigrey::SyncMode::kMeta;
  if (s == "precious") return exigrey::SyncMode::kPrecious;
  return exigrey::SyncMode::kNone;
}

// What an Exim ACL passes: <sender>:<recipient>/<client ip>.
std::string key_for(int proc, int i) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "<sender-%d@bench.test>:<r%d@example.test>/10.%d.%d.%d", proc, i,
                proc & 255, (i >> 8) & 255, i & 255);
  return buf;
}

// ---- raw LMDB: the same transactions as decide() on these two paths ----

struct Raw {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  MDB_txn* reader = nullptr;

  Raw(const std::string& path, unsigned flags) {
    lmdb_ok(mdb_env_create(&env), "mdb_env_create");
    lmdb_ok(mdb_env_set_maxreaders(env, exigrey::kMaxReaders), "set_maxreaders");
    lmdb_ok(mdb_env_set_mapsize(env, exigrey::kDefaultMapSize), "set_mapsize");
    lmdb_ok(mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOTLS | flags, 0660), "env_open");
    MDB_txn* txn = nullptr;
    lmdb_ok(mdb_txn_begin(env, nullptr, 0, &txn), "txn_begin");
    lmdb_ok(mdb_dbi_open(txn, nullptr, 0, &dbi), "dbi_open");
    lmdb_ok(mdb_txn_commit(txn), "commit");
    lmdb_ok(mdb_txn_begin(env, nullptr, MDB_RDONLY, &reader), "txn_begin");
    mdb_txn_reset(reader);
  }
};

struct RawKey {
  RawKey(char ns, std::string_view name) {
    buf[0] = ns;
    std::memcpy(buf.data() + 1, name.data(), name.size());
    val = MDB_val{name.size() + 1, buf.data()};
  }
  std::array<char, 512> buf;
  MDB_val val;
};

constexpr char kItemNs = 1;
constexpr char kWhiteNs = 3;
constexpr std::size_t kItemFixed = 25;

// Returns 'n' for a new record, 'e' for too early, '?' otherwise.
char raw_decide(Raw& r, std::string_view key, std::int64_t now) {
  const auto slash = key.rfind('/');
  const std::string_view item = key.substr(0, slash), suffix = key.substr(slash + 1);
  RawKey wk(kWhiteNs, suffix), ik(kItemNs, item);
  MDB_val v;
  lmdb_ok(mdb_txn_renew(r.reader), "txn_renew");
  const bool white = mdb_get(r.reader, r.dbi, &wk.val, &v) == 0;
  const int irc = mdb_get(r.reader, r.dbi, &ik.val, &v);
  std::int64_t created = 0;
  if (irc == 0 && v.mv_size >= kItemFixed)
    std::memcpy(&created, static_cast<char*>(v.mv_data) + 1, 8);
  mdb_txn_reset(r.reader);
  if (white) return '?';
  if (irc == 0) return now - created < kDelay ? 'e' : '?';
  MDB_txn* txn = nullptr;
  lmdb_ok(mdb_txn_begin(r.env, nullptr, 0, &txn), "txn_begin");
  if (mdb_get(txn, r.dbi, &wk.val, &v) != MDB_NOTFOUND ||
      mdb_get(txn, r.dbi, &ik.val, &v) != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return '?';
  }
  std::array<char, kItemFixed + 64> buf{};
  buf[0] = 1;
  std::memcpy(buf.data() + 1, &now, 8);
  std::memcpy(buf.data() + 9, &now, 8);
  const std::uint32_t zero = 0, len = static_cast<std::uint32_t>(suffix.size());
  std::memcpy(buf.data() + 17, &zero, 4);
  std::memcpy(buf.data() + 21, &len, 4);
  std::memcpy(buf.data() + kItemFixed, suffix.data(), suffix.size());
  MDB_val val{kItemFixed + suffix.size(), buf.data()};
  lmdb_ok(mdb_put(txn, r.dbi, &ik.val, &val, 0), "put");
  lmdb_ok(mdb_txn_commit(txn), "commit");
  return 'n';
}

char exigrey_decide(const exigrey::Store& s, std::string_view key, std::int64_t now) {
  const exigrey::Decision d = exigrey::decide(s, key, kDelay, now);
  if (d.reason == exigrey::Reason::kNew) return 'n';
  if (d.reason == exigrey::Reason::kTooEarly) return 'e';
  return '?';
}

void wait_for(int fd) {
  char c;
  if (::read(fd, &c, 1) < 0) die("barrier read");
}

void child(const Args& a, const std::string& path, int proc, int go1, int go2, int done) {
  std::vector<std::string> keys;
  for (int i = 0; i < a.keys; ++i) keys.push_back(key_for(proc, i));
  std::unique_ptr<Raw> raw;
  std::unique_ptr<exigrey::Store> store;
  if (a.impl == "raw") {
    raw = std::make_unique<Raw>(path, sync_flag(a.sync));
  } else {
    store = std::make_unique<exigrey::Store>(path, exigrey::StoreOptions{sync_mode(a.sync)});
    store->open();
  }
  auto call = [&](const std::string& k) {
    const std::int64_t now = std::time(nullptr);
    return raw ? raw_decide(*raw, k, now) : exigrey_decide(*store, k, now);
  };
  bool good = true;
  wait_for(go1);
  for (const auto& k : keys) good &= call(k) == 'n';
  if (::write(done, good ? "1" : "0", 1) != 1) die("write");
  wait_for(go2);
  for (int r = 0; r < a.repeat; ++r) {
    for (const auto& k : keys) good &= call(k) == 'e';
  }
  if (::write(done, good ? "1" : "0", 1) != 1) die("write");
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--impl")
      a.impl = v;
    else if (f == "--sync")
      a.sync = v;
    else if (f == "--procs")
      a.procs = std::atoi(v);
    else if (f == "--keys")
      a.keys = std::atoi(v);
    else if (f == "--repeat")
      a.repeat = std::atoi(v);
    else if (f == "--dir")
      a.dir = v;
    else
      die("usage: --impl exigrey|raw --sync full|meta|none|precious --procs P --keys N [--repeat "
          "R] [--dir "
          "D]");
  }
  if (a.impl != "raw" && a.impl != "exigrey") die("--impl must be exigrey or raw");
  sync_flag(a.sync);
  std::string templ = a.dir + "/exigrey-procs-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) die("mkdtemp");
  const std::string path = templ + "/store";
  {  // create the file in the parent, then let it go: children open their own
    if (a.impl == "raw") {
      Raw r(path, sync_flag(a.sync));
      mdb_txn_abort(r.reader);
      mdb_env_close(r.env);
    } else {
      // a child makes it (no environment may live across fork in this parent)
      const pid_t pid = fork();
      if (pid == 0) {
        exigrey::Store(path, exigrey::StoreOptions{sync_mode(a.sync)}).open();
        ::_exit(0);
      }
      int st = 0;
      waitpid(pid, &st, 0);
    }
  }
  int go1[2], go2[2], done[2];
  if (pipe(go1) || pipe(go2) || pipe(done)) die("pipe");
  std::vector<pid_t> kids;
  for (int p = 0; p < a.procs; ++p) {
    const pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      ::close(go1[1]);
      ::close(go2[1]);
      ::close(done[0]);
      child(a, path, p, go1[0], go2[0], done[1]);
    }
    kids.push_back(pid);
  }
  ::close(go1[0]);
  ::close(go2[0]);
  ::close(done[1]);
  ::usleep(200000);  // let every child open the store
  bool good = true;
  auto phase = [&](int go) {
    const auto t0 = std::chrono::steady_clock::now();
    ::close(go);  // every child's read returns: the barrier opens
    for (int p = 0; p < a.procs; ++p) {
      char c = '0';
      if (::read(done[0], &c, 1) != 1) die("a child died");
      good &= c == '1';
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double first = phase(go1[1]);
  const double again = phase(go2[1]);
  for (pid_t k : kids) waitpid(k, nullptr, 0);
  std::error_code ec;
  std::filesystem::remove_all(templ, ec);
  const double n = double(a.procs) * a.keys;
  std::printf("impl=%s sync=%s procs=%d keys=%d first_dps=%.0f again_dps=%.0f\n", a.impl.c_str(),
              a.sync.c_str(), a.procs, a.keys, n / first, n * a.repeat / again);
  if (!good) {
    std::fprintf(stderr, "exigrey_bench_procs: a call did not take the expected path\n");
    return 1;
  }
  return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
// Micro-benchmarks of exigrey::decide(), one per decision path and sync mode,
// each beside a minimal hand-written LMDB loop doing the same transactions.
//
// Paths (greylist.h):
//   whitelisted  read txn: 1 get (the suffix's whitelist entry, fresh)
//   too_early    read txn: 2 gets (whitelist miss, item hit)
//   new          read txn: 2 gets (both miss); write txn: 2 gets, 1 put, commit
//   pass         read txn: 2 gets (whitelist miss, item hit); write txn:
//                3 gets, 2 puts (item updated, suffix whitelisted), commit
// The raw loop opens its own file with the same flags (MDB_NOSUBDIR |
// MDB_NOTLS | the sync flag, kMaxReaders, kDefaultMapSize), reuses one read
// txn (reset/renew), builds keys on the stack and encodes the same value
// bytes, so the difference is what exigrey's layers cost. One more,
// decide/whitelisted/meta/exigrey_handle_per_call, makes a new Store handle
// for every call (the registry lookup a long-lived handle skips).
//
// Every store holds the same data, inserted in the same order: --exigrey_items
// background items (default 100000) and 10 % as many whitelist entries, plus
// kRing keys per path. The write paths consume their ring of keys and restore
// it, with the timer paused, every kRing iterations, so the store does not
// grow while it is measured.
//
// Each benchmark checks that every call took the path it is named after and
// the binary exits non-zero otherwise (the ctest smoke test relies on that).
// Timings are only reported, never asserted.
//
// Extra flags (before or after Google Benchmark's own):
//   --exigrey_dir=DIR     where the stores go (default: $TMPDIR or /tmp); the
//                         fsync cost of full/meta is that file system's
//   --exigrey_items=N     background items per store (default 100000)
//   --exigrey_modes=LIST  sync modes to make stores for, e.g. "meta" or
//                         "meta,none" (default full,meta,none); the store-growth
//                         run (tests/bench/store_growth.sh) fills 10M items
//                         into one mode only
//
// With precious among the modes, decide/{new,pass}/precious/exigrey_peer_log
// run on a second precious store opened with the peer log (setting `peers`):
// the cost sharing with other MX hosts adds to a decision.
//
// One more benchmark, report/outbox_append, times Outbox::append (what the
// plugin's `report` does: one fully synced commit to the durable outbox).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/durability.h"
#include "exigrey/greylist.h"
#include "exigrey/outbox.h"
#include "exigrey/records.h"
#include "exigrey/report.h"
#include "exigrey/store.h"
#include "exigrey/store_options.h"

namespace {

using exigrey::Decision;
using exigrey::ItemRecord;
using exigrey::Namespace;
using exigrey::Reason;
using exigrey::Store;
using exigrey::SyncMode;
using exigrey::UnixTime;
using exigrey::WhitelistEntry;

static_assert(std::endian::native == std::endian::little, "the raw codec writes host order");

constexpr UnixTime kNow = 1'700'000'000;
constexpr std::int64_t kDelay = 600;
constexpr std::size_t kRing = 1024;  // keys per path, cycled through
constexpr std::array kModes{SyncMode::kFull, SyncMode::kMeta, SyncMode::kNone, SyncMode::kPrecious};

std::size_t g_items = 100000;
std::vector<SyncMode> g_modes(kModes.begin(), kModes.end());
constexpr std::size_t kSetupBatch = 100000;  // entries per setup transaction
bool g_failed = false;

enum class Path { kWhitelisted, kTooEarly, kNew, kPass };
constexpr std::array kPaths{Path::kWhitelisted, Path::kTooEarly, Path::kNew, Path::kPass};

const char* path_name(Path p) {
  switch (p) {
    case Path::kWhitelisted:
      return "whitelisted";
    case Path::kTooEarly:
      return "too_early";
    case Path::kNew:
      return "new";
    case Path::kPass:
      return "pass";
  }
  return "?";
}

// ---- the data set: what an Exim ACL passes, <sender>:<recipient>/<client ip> ----

std::string item_name(std::string_view tag, std::size_t i) {
  return fmt::format("<bounce-{}-{}@lists.example.com>:<postmaster@example.org>", tag, i);
}
std::string ip(unsigned a, unsigned b, std::size_t i) {
  return fmt::format("{}.{}.{}.{}", a, b, (i >> 8) & 255u, i & 255u);
}

struct Key {
  std::string item;
  std::string suffix;
  std::string full;  // item/suffix, what decide() gets
};

Key make_key(std::string_view tag, unsigned a, unsigned b, std::size_t i) {
  Key k{item_name(tag, i), ip(a, b, i), {}};
  k.full = k.item + "/" + k.suffix;
  return k;
}

// One entry of the initial contents, as (LMDB key, LMDB value) bytes.
struct Entry {
  std::string key;
  std::string value;
};

std::vector<Key> keys_for(Path p) {
  std::vector<Key> keys;
  keys.reserve(kRing);
  for (std::size_t i = 0; i < kRing; ++i) {
    switch (p) {
      case Path::kWhitelisted:
        keys.push_back(make_key("wl", 172, 16, i));
        break;  // suffix = base wl
      case Path::kTooEarly:
        keys.push_back(make_key("early", 198, 51, i));
        break;
      case Path::kNew:
        keys.push_back(make_key("new", 100, 64, i));
        break;
      case Path::kPass:
        keys.push_back(make_key("pass", 203, 0, i));
        break;
    }
  }
  return keys;
}

const std::vector<Key>& keys(Path p) {
  static const std::array<std::vector<Key>, 4> all{keys_for(Path::kWhitelisted),
                                                   keys_for(Path::kTooEarly), keys_for(Path::kNew),
                                                   keys_for(Path::kPass)};
  return all[static_cast<std::size_t>(p)];
}

// The state a pass-path item is restored to before each round.
ItemRecord pass_ready(const Key& k) { return ItemRecord{kNow - 3600, kNow - 3600, 0, k.suffix}; }

Entry item_entry(std::string_view name, const ItemRecord& r) {
  return {exigrey::encode_key(Namespace::kItem, name), exigrey::encode_item(r, false, name)};
}
Entry wl_entry(std::string_view suffix, const WhitelistEntry& w) {
  return {exigrey::encode_key(Namespace::kWhitelist, suffix),
          exigrey::encode_whitelist(w, false, suffix)};
}

// Everything every store starts with, in insertion order.
std::vector<Entry> initial_contents() {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < g_items; ++i) {
    out.push_back(
        item_entry(item_name("base", i), ItemRecord{kNow - 86400, kNow - 3600, 3, std::nullopt}));
  }
  // Whitelist entries; the first kRing are the suffixes of the whitelisted path.
  for (std::size_t i = 0; i < std::max(g_items / 10, kRing); ++i) {
    out.push_back(wl_entry(ip(172, 16, i), WhitelistEntry{kNow - 86400, kNow}));
  }
  for (const Key& k : keys(Path::kTooEarly)) {
    out.push_back(item_entry(k.item, ItemRecord{kNow, kNow, 0, k.suffix}));
  }
  for (const Key& k : keys(Path::kPass)) out.push_back(item_entry(k.item, pass_ready(k)));
  return out;
}

// ---- raw LMDB ----

unsigned sync_flag(SyncMode m) {
  switch (m) {
    case SyncMode::kFull:
      return 0;
    case SyncMode::kMeta:
      return MDB_NOMETASYNC;
    case SyncMode::kNone:
      return MDB_NOSYNC;
    case SyncMode::kPrecious:
      return MDB_NOSYNC;  // the store itself never syncs
  }
  return 0;
}

[[noreturn]] void die(const char* what, int rc) {
  std::fprintf(stderr, "exigrey_bench_core: %s failed: %s\n", what, mdb_strerror(rc));
  std::exit(2);
}

void ok(int rc, const char* what) {
  if (rc != 0) die(what, rc);
}

class RawStore {
 public:
  RawStore(const std::string& path, SyncMode mode) {
    ok(mdb_env_create(&env_), "mdb_env_create");
    ok(mdb_env_set_maxreaders(env_, exigrey::kMaxReaders), "mdb_env_set_maxreaders");
    ok(mdb_env_set_mapsize(env_, exigrey::kDefaultMapSize), "mdb_env_set_mapsize");
    ok(mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | MDB_NOTLS | sync_flag(mode), 0660),
       "mdb_env_open");
    MDB_txn* txn = nullptr;
    ok(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    ok(mdb_dbi_open(txn, nullptr, 0, &dbi_), "mdb_dbi_open");
    ok(mdb_txn_commit(txn), "mdb_txn_commit");
    ok(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &reader_), "mdb_txn_begin");
    mdb_txn_reset(reader_);
  }
  ~RawStore() {
    mdb_txn_abort(reader_);
    mdb_env_close(env_);
  }
  RawStore(const RawStore&) = delete;
  RawStore& operator=(const RawStore&) = delete;

  MDB_env* env() const { return env_; }
  MDB_dbi dbi() const { return dbi_; }
  MDB_txn* reader() const { return reader_; }

  // Untimed setup: puts (value non-empty) or deletes (value empty) in one txn.
  void apply(const std::vector<Entry>& entries) {
    MDB_txn* txn = nullptr;
    ok(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    std::size_t in_txn = 0;
    for (const Entry& e : entries) {
      if (++in_txn > kSetupBatch) {  // big stores: bounded transactions
        ok(mdb_txn_commit(txn), "mdb_txn_commit");
        ok(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
        in_txn = 1;
      }
      MDB_val k{e.key.size(), const_cast<char*>(e.key.data())};
      if (e.value.empty()) {
        const int rc = mdb_del(txn, dbi_, &k, nullptr);
        if (rc != MDB_NOTFOUND) ok(rc, "mdb_del");
      } else {
        MDB_val v{e.value.size(), const_cast<char*>(e.value.data())};
        ok(mdb_put(txn, dbi_, &k, &v, 0), "mdb_put");
      }
    }
    ok(mdb_txn_commit(txn), "mdb_txn_commit");
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* reader_ = nullptr;
};

// A key on the stack: namespace byte + name, as exigrey stores names that fit.
struct RawKey {
  RawKey(Namespace ns, std::string_view name) {
    buf[0] = static_cast<char>(ns);
    std::memcpy(buf.data() + 1, name.data(), name.size());
    val = MDB_val{name.size() + 1, buf.data()};
  }
  std::array<char, exigrey::kMaxKeyBytes> buf;
  MDB_val val;
};

// The fixed part of the value layouts (records.cpp).
constexpr std::size_t kItemFixed = 25;
constexpr std::size_t kWlFixed = 17;

template <typename T>
T load(const MDB_val& v, std::size_t at) {
  T x;
  std::memcpy(&x, static_cast<const char*>(v.mv_data) + at, sizeof x);
  return x;
}
template <typename T>
void store(char* out, std::size_t at, T x) {
  std::memcpy(out + at, &x, sizeof x);
}

struct Split {
  std::string_view item, suffix;
};
Split split(std::string_view key) {
  const auto slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

int raw_get(MDB_txn* txn, MDB_dbi dbi, Namespace ns, std::string_view name, MDB_val& v) {
  RawKey k(ns, name);
  return mdb_get(txn, dbi, &k.val, &v);
}

// Each raw_* returns true if the call took its path.

bool raw_whitelisted(RawStore& s, std::string_view key, UnixTime now) {
  const Split p = split(key);
  MDB_txn* txn = s.reader();
  ok(mdb_txn_renew(txn), "mdb_txn_renew");
  MDB_val v;
  const int rc = raw_get(txn, s.dbi(), Namespace::kWhitelist, p.suffix, v);
  const bool fresh = rc == 0 && v.mv_size == kWlFixed && load<std::uint8_t>(v, 0) == 1 &&
                     now - load<std::int64_t>(v, 9) <= exigrey::kWhitelistRefreshAfter;
  mdb_txn_reset(txn);
  return fresh;
}

bool raw_too_early(RawStore& s, std::string_view key, UnixTime now) {
  const Split p = split(key);
  MDB_txn* txn = s.reader();
  ok(mdb_txn_renew(txn), "mdb_txn_renew");
  MDB_val v;
  bool early = raw_get(txn, s.dbi(), Namespace::kWhitelist, p.suffix, v) == MDB_NOTFOUND &&
               raw_get(txn, s.dbi(), Namespace::kItem, p.item, v) == 0 && v.mv_size >= kItemFixed &&
               load<std::uint8_t>(v, 0) == 1 && now - load<std::int64_t>(v, 1) < kDelay;
  mdb_txn_reset(txn);
  return early;
}

// The read-only look decide() takes before writing: both gets miss (new) or
// the item is there and old enough (pass).
bool raw_read_first(RawStore& s, const Split& p, UnixTime now, bool item_expected) {
  MDB_txn* txn = s.reader();
  ok(mdb_txn_renew(txn), "mdb_txn_renew");
  MDB_val v;
  bool go = raw_get(txn, s.dbi(), Namespace::kWhitelist, p.suffix, v) == MDB_NOTFOUND;
  const int rc = raw_get(txn, s.dbi(), Namespace::kItem, p.item, v);
  go = go && (item_expected
                  ? rc == 0 && v.mv_size >= kItemFixed && now - load<std::int64_t>(v, 1) >= kDelay
                  : rc == MDB_NOTFOUND);
  mdb_txn_reset(txn);
  return go;
}

bool raw_new(RawStore& s, std::string_view key, UnixTime now) {
  const Split p = split(key);
  if (p.suffix.size() > 64 || !raw_read_first(s, p, now, false)) return false;
  MDB_txn* txn = nullptr;
  ok(mdb_txn_begin(s.env(), nullptr, 0, &txn), "mdb_txn_begin");
  MDB_val v;
  if (raw_get(txn, s.dbi(), Namespace::kWhitelist, p.suffix, v) != MDB_NOTFOUND ||
      raw_get(txn, s.dbi(), Namespace::kItem, p.item, v) != MDB_NOTFOUND) {
    mdb_txn_abort(txn);
    return false;
  }
  std::array<char, kItemFixed + 64> buf;
  buf[0] = 1;
  store<std::int64_t>(buf.data(), 1, now);
  store<std::int64_t>(buf.data(), 9, now);
  store<std::uint32_t>(buf.data(), 17, 0);
  store<std::uint32_t>(buf.data(), 21, static_cast<std::uint32_t>(p.suffix.size()));
  std::memcpy(buf.data() + kItemFixed, p.suffix.data(), p.suffix.size());
  RawKey k(Namespace::kItem, p.item);
  MDB_val val{kItemFixed + p.suffix.size(), buf.data()};
  ok(mdb_put(txn, s.dbi(), &k.val, &val, 0), "mdb_put");
  ok(mdb_txn_commit(txn), "mdb_txn_commit");
  return true;
}

bool raw_pass(RawStore& s, std::string_view key, UnixTime now) {
  const Split p = split(key);
  if (!raw_read_first(s, p, now, true)) return false;
  MDB_txn* txn = nullptr;
  ok(mdb_txn_begin(s.env(), nullptr, 0, &txn), "mdb_txn_begin");
  MDB_val v;
  if (raw_get(txn, s.dbi(), Namespace::kWhitelist, p.suffix, v) != MDB_NOTFOUND ||
      raw_get(txn, s.dbi(), Namespace::kItem, p.item, v) != 0 || v.mv_size < kItemFixed) {
    mdb_txn_abort(txn);
    return false;
  }
  // Update the item: used = now, count + 1, first dropped.
  std::array<char, kItemFixed> item;
  std::memcpy(item.data(), v.mv_data, 17);
  const auto first_len = load<std::uint32_t>(v, 21);
  const std::string_view first(static_cast<const char*>(v.mv_data) + kItemFixed, first_len);
  const bool first_is_suffix = first == p.suffix;
  store<std::int64_t>(item.data(), 9, now);
  store<std::uint32_t>(item.data(), 17, load<std::uint32_t>(v, 17) + 1);
  store<std::uint32_t>(item.data(), 21, 0);
  RawKey ik(Namespace::kItem, p.item);
  MDB_val iv{item.size(), item.data()};
  ok(mdb_put(txn, s.dbi(), &ik.val, &iv, 0), "mdb_put");
  // Whitelist the suffix (the first suffix is the same one here).
  RawKey wk(Namespace::kWhitelist, p.suffix);
  if (mdb_get(txn, s.dbi(), &wk.val, &v) != MDB_NOTFOUND || !first_is_suffix) {
    mdb_txn_abort(txn);
    return false;
  }
  std::array<char, kWlFixed> wl;
  wl[0] = 1;
  store<std::int64_t>(wl.data(), 1, now);
  store<std::int64_t>(wl.data(), 9, now);
  MDB_val wv{wl.size(), wl.data()};
  ok(mdb_put(txn, s.dbi(), &wk.val, &wv, 0), "mdb_put");
  ok(mdb_txn_commit(txn), "mdb_txn_commit");
  return true;
}

// ---- exigrey ----

void exigrey_apply(const Store& store, const std::vector<Entry>& entries) {
  // Through the public API; the bytes equal the raw store's (same codec).
  // Big stores go in bounded transactions.
  for (std::size_t at = 0; at < entries.size(); at += kSetupBatch) {
    exigrey::WriteTxn txn = store.write();
    const std::size_t end = std::min(entries.size(), at + kSetupBatch);
    for (std::size_t i = at; i < end; ++i) {
      const Entry& e = entries[i];
      const std::string_view name = std::string_view(e.key).substr(1);
      const auto ns = static_cast<Namespace>(e.key[0]);
      std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(e.value.data()),
                                       e.value.size());
      if (ns == Namespace::kItem) {
        if (e.value.empty()) {
          txn.erase_item(name);
        } else {
          txn.put_item(name, exigrey::decode_item(bytes, false, nullptr));
        }
      } else if (e.value.empty()) {
        txn.erase_whitelist(name);
      } else {
        txn.put_whitelist(name, exigrey::decode_whitelist(bytes, false, nullptr));
      }
    }
    txn.commit();
  }
  // sync = precious: what was logged goes to the keep file now, as the
  // package's timer does, so the timed loop starts from a steady state.
  exigrey::flush(store);
}

// What restores a write path's ring: new keys deleted; pass items back to
// "old enough, first = suffix" and their suffixes no longer whitelisted.
std::vector<Entry> ring_reset(Path p) {
  std::vector<Entry> out;
  for (const Key& k : keys(p)) {
    if (p == Path::kNew) {
      out.push_back({exigrey::encode_key(Namespace::kItem, k.item), {}});
    } else {
      out.push_back(item_entry(k.item, pass_ready(k)));
      out.push_back({exigrey::encode_key(Namespace::kWhitelist, k.suffix), {}});
    }
  }
  return out;
}

// ---- the fixtures: one exigrey store and one raw store per sync mode ----

struct Stores {
  std::unique_ptr<Store> exigrey;
  std::unique_ptr<RawStore> raw;
};
std::array<Stores, kModes.size()> g_stores;
// sync = precious with `peers` set: every write also appends to the peer log.
std::unique_ptr<Store> g_peer_logged;
std::string g_dir;

Stores& stores(SyncMode m) { return g_stores[static_cast<std::size_t>(m)]; }

// A store as a running MX has it (sync = precious): its records written over
// time and flushed in small steps, not logged all at once. It is filled with
// sync = meta in a child (no keep log, no peer log), and adopted by the
// caller's handle: the keep file is copied from it whole, and the keep log
// starts empty.
void fill_adopted(const std::string& path, const std::vector<Entry>& contents) {
  const pid_t pid = fork();
  if (pid == 0) {
    exigrey_apply(Store(path, exigrey::StoreOptions{SyncMode::kMeta}), contents);
    // _exit: no destructor may close the raw environments inherited from
    // the parent (LMDB would clear the parent's reader slots).
    _exit(0);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::fprintf(stderr, "exigrey_bench_core: filling the precious store failed\n");
    std::exit(2);
  }
}

void set_up(const std::string& base) {
  std::string templ = base + "/exigrey-bench-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::perror("exigrey_bench_core: mkdtemp");
    std::exit(2);
  }
  g_dir = templ;
  const std::vector<Entry> contents = initial_contents();
  for (SyncMode m : g_modes) {
    const std::string mode(exigrey::to_string(m));
    Stores& s = stores(m);
    const std::string path = g_dir + "/exigrey-" + mode;
    s.exigrey = std::make_unique<Store>(path, exigrey::StoreOptions{m});
    s.raw = std::make_unique<RawStore>(g_dir + "/raw-" + mode, m);
    if (m == SyncMode::kPrecious) {
      fill_adopted(path, contents);
      s.exigrey->open();
      exigrey::StoreOptions logged{m};
      logged.peer_log = true;
      g_peer_logged = std::make_unique<Store>(g_dir + "/exigrey-precious-peers", logged);
      fill_adopted(g_peer_logged->path(), contents);
      g_peer_logged->open();
    } else {
      exigrey_apply(*s.exigrey, contents);
    }
    // The format marker exigrey writes at creation, so both hold the same entries.
    s.raw->apply({{std::string(exigrey::kFormatKey), std::string(exigrey::kFormatValue)}});
    s.raw->apply(contents);
  }
}

void tear_down() {
  for (Stores& s : g_stores) s.raw.reset();  // exigrey's envs close at exit
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

// ---- the benchmarks ----

// When each path is called: too_early shortly after creation, the rest at kNow.
UnixTime call_time(Path p) { return p == Path::kTooEarly ? kNow + 10 : kNow; }

bool exigrey_call(const Store& store, Path p, std::string_view key, UnixTime now) {
  const Decision d = exigrey::decide(store, key, kDelay, now);
  benchmark::DoNotOptimize(d);
  switch (p) {
    case Path::kWhitelisted:
      return d.reason == Reason::kWhitelisted && !d.wrote;
    case Path::kTooEarly:
      return d.reason == Reason::kTooEarly && !d.wrote;
    case Path::kNew:
      return d.reason == Reason::kNew && d.wrote;
    case Path::kPass:
      return d.reason == Reason::kPassed && d.wrote;
  }
  return false;
}

bool raw_call(RawStore& s, Path p, std::string_view key, UnixTime now) {
  switch (p) {
    case Path::kWhitelisted:
      return raw_whitelisted(s, key, now);
    case Path::kTooEarly:
      return raw_too_early(s, key, now);
    case Path::kNew:
      return raw_new(s, key, now);
    case Path::kPass:
      return raw_pass(s, key, now);
  }
  return false;
}

enum class Impl { kExigrey, kRaw };

enum class Variant { kPlain, kPeerLog };

void run(benchmark::State& state, Path p, SyncMode m, Impl impl, Variant v = Variant::kPlain) {
  Stores& s = stores(m);
  const Store& store = v == Variant::kPeerLog ? *g_peer_logged : *s.exigrey;
  const std::vector<Key>& ks = keys(p);
  const UnixTime now = call_time(p);
  const bool writes = p == Path::kNew || p == Path::kPass;
  // Position in the ring, kept across runs of this benchmark.
  static std::array<std::size_t, kPaths.size() * kModes.size() * 2> positions{};
  static std::array<std::size_t, kPaths.size()> peer_log_positions{};
  std::size_t& next =
      v == Variant::kPeerLog
          ? peer_log_positions[static_cast<std::size_t>(p)]
          : positions[(static_cast<std::size_t>(p) * kModes.size() + static_cast<std::size_t>(m)) *
                          2 +
                      static_cast<std::size_t>(impl)];
  for (auto _ : state) {
    if (next == ks.size()) {
      next = 0;
      if (writes) {
        state.PauseTiming();
        const std::vector<Entry> reset = ring_reset(p);
        if (impl == Impl::kExigrey) {
          exigrey_apply(store, reset);
        } else {
          s.raw->apply(reset);
        }
        state.ResumeTiming();
      }
    }
    const std::string_view key = ks[next++].full;
    const bool took_path =
        impl == Impl::kExigrey ? exigrey_call(store, p, key, now) : raw_call(*s.raw, p, key, now);
    if (!took_path) {
      g_failed = true;
      state.SkipWithError("the call did not take the path this benchmark is named after");
      break;
    }
  }
}

// decide() through a Store handle made for the call: adds the handle and the
// process-wide registry lookup (path -> environment) that a cached handle skips.
void run_handle_per_call(benchmark::State& state) {
  const Store& cached = *stores(SyncMode::kMeta).exigrey;
  const std::vector<Key>& ks = keys(Path::kWhitelisted);
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == ks.size()) next = 0;
    const Store fresh(cached.path(), cached.options());
    if (!exigrey_call(fresh, Path::kWhitelisted, ks[next++].full, kNow)) {
      g_failed = true;
      state.SkipWithError("the call did not take the whitelisted path");
      break;
    }
  }
}

// What the plugin's `report` does: one report appended to the durable outbox
// (always fully synced).
void run_outbox_append(benchmark::State& state) {
  exigrey::Outbox outbox(g_dir + "/outbox");
  exigrey::Report r;
  r.verb = exigrey::parse_verb("black");
  r.subject = exigrey::parse_subject("192.0.2.1");
  r.time = kNow;
  for (auto _ : state) benchmark::DoNotOptimize(outbox.append(r));
}

bool have_mode(SyncMode m) { return std::find(g_modes.begin(), g_modes.end(), m) != g_modes.end(); }

void register_all() {
  for (Path p : kPaths) {
    for (SyncMode m : g_modes) {
      for (Impl impl : {Impl::kExigrey, Impl::kRaw}) {
        const std::string name = fmt::format("decide/{}/{}/{}", path_name(p), exigrey::to_string(m),
                                             impl == Impl::kExigrey ? "exigrey" : "raw");
        benchmark::RegisterBenchmark(name.c_str(), [p, m, impl](benchmark::State& st) {
          run(st, p, m, impl);
        })->UseRealTime();  // commits wait for fsync: wall time is what Exim waits
      }
    }
  }
  if (have_mode(SyncMode::kPrecious)) {
    // What sharing greylisting with other MX hosts (`peers`) adds to a
    // decision: one more put, of the peer log entry, in the same commit.
    for (Path p : {Path::kNew, Path::kPass}) {
      const std::string name = fmt::format("decide/{}/precious/exigrey_peer_log", path_name(p));
      benchmark::RegisterBenchmark(name.c_str(), [p](benchmark::State& st) {
        run(st, p, SyncMode::kPrecious, Impl::kExigrey, Variant::kPeerLog);
      })->UseRealTime();
    }
  }
  if (have_mode(SyncMode::kMeta)) {
    benchmark::RegisterBenchmark("decide/whitelisted/meta/exigrey_handle_per_call",
                                 run_handle_per_call)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("report/outbox_append", run_outbox_append)->UseRealTime();
}

// Takes our own --exigrey_* flags out of argv; returns false on a bad one.
bool take_own_flags(int& argc, char** argv, std::string& dir) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--exigrey_dir=")) {
      dir = std::string(arg.substr(14));
    } else if (arg.starts_with("--exigrey_items=")) {
      try {
        g_items = std::stoul(std::string(arg.substr(16)));
      } catch (const std::exception&) {
        std::fprintf(stderr, "exigrey_bench_core: bad --exigrey_items\n");
        return false;
      }
    } else if (arg.starts_with("--exigrey_modes=")) {
      g_modes.clear();
      for (SyncMode m : kModes) {
        if (std::string_view(arg).substr(16).find(exigrey::to_string(m)) !=
            std::string_view::npos) {
          g_modes.push_back(m);
        }
      }
      if (g_modes.empty()) {
        std::fprintf(stderr, "exigrey_bench_core: bad --exigrey_modes\n");
        return false;
      }
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  if (!take_own_flags(argc, argv, dir)) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  try {
    set_up(dir);
    benchmark::AddCustomContext("exigrey_items", std::to_string(g_items));
    benchmark::AddCustomContext("exigrey_dir", g_dir);
    register_all();
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exigrey_bench_core: %s\n", e.what());
    g_failed = true;
  }
  benchmark::Shutdown();
  tear_down();
  return g_failed ? 1 : 0;
}

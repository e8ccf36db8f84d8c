// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the byte-level pieces that core's own stores (records,
// the outbox, the collector's reputation store) share: little-endian
// integers, a bounds-checked reader of record values, and RAII owners of an
// LMDB transaction and cursor on a detail::Env. Greylist stores go through
// the typed Store API instead (store.h).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "env.h"
#include "exigrey/error.h"

namespace exigrey::detail {

template <typename T>
void put_le(std::string& out, T value) {
  auto u = static_cast<std::make_unsigned_t<T>>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(u & 0xffu));
    u = static_cast<decltype(u)>(u >> 8);
  }
}

// Reads a record value front to back; every read past the end throws
// StoreError(kCorrupt) with the message given at construction.
class LeReader {
 public:
  LeReader(std::string_view bytes, const char* corrupt_message)
      : p_(bytes), message_(corrupt_message) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      u = static_cast<decltype(u)>(
          u | (static_cast<decltype(u)>(static_cast<unsigned char>(p_[i])) << (8 * i)));
    }
    p_.remove_prefix(sizeof(T));
    return static_cast<T>(u);
  }
  std::string_view bytes(std::size_t n) {
    need(n);
    const auto out = p_.substr(0, n);
    p_.remove_prefix(n);
    return out;
  }
  std::string_view rest() { return bytes(p_.size()); }
  std::size_t left() const { return p_.size(); }
  bool done() const { return p_.empty(); }
  [[noreturn]] void corrupt() const { throw StoreError(ErrorKind::kCorrupt, message_); }

 private:
  void need(std::size_t n) const {
    if (p_.size() < n) corrupt();
  }
  std::string_view p_;
  const char* message_;
};

inline MDB_val val_of(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view view_of(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// A read (cached, renewed) or write transaction; a write one aborts unless committed.
class RawTxn {
 public:
  enum Mode { kRead, kWrite };
  RawTxn(Env& env, Mode mode) : env_(env), write_(mode == kWrite) {
    txn_ = write_ ? env.begin_write() : env.begin_read();
  }
  ~RawTxn() {
    if (txn_ == nullptr) return;
    if (write_) {
      mdb_txn_abort(txn_);
    } else {
      env_.end_read(txn_);
    }
  }
  RawTxn(const RawTxn&) = delete;
  RawTxn& operator=(const RawTxn&) = delete;

  MDB_txn* get() const { return txn_; }
  void commit() {
    // LMDB frees the handle even when the commit fails: release it first.
    const int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
    if (rc != 0) env_.fail("mdb_txn_commit", rc);
  }
  std::optional<std::string_view> find(std::string_view key) {
    MDB_val k = val_of(key), v{};
    const int rc = mdb_get(txn_, env_.dbi(), &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0) env_.fail("mdb_get", rc);
    return view_of(v);
  }
  void put(std::string_view key, std::string_view value) {
    MDB_val k = val_of(key), v = val_of(value);
    const int rc = mdb_put(txn_, env_.dbi(), &k, &v, 0);
    if (rc != 0) env_.fail("mdb_put", rc);
  }
  // Returns false when there was nothing to erase.
  bool erase(std::string_view key) {
    MDB_val k = val_of(key);
    const int rc = mdb_del(txn_, env_.dbi(), &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) env_.fail("mdb_del", rc);
    return true;
  }
  // A u64 counter record; `fallback` when absent.
  std::uint64_t counter(std::string_view key, std::uint64_t fallback = 0) {
    const auto v = find(key);
    if (!v) return fallback;
    if (v->size() != 8) throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt counter record");
    return LeReader(*v, "").get<std::uint64_t>();
  }
  void put_counter(std::string_view key, std::uint64_t value) {
    std::string bytes;
    put_le<std::uint64_t>(bytes, value);
    put(key, bytes);
  }

 private:
  Env& env_;
  bool write_;
  MDB_txn* txn_ = nullptr;
};

// A cursor, closed before its transaction ends (declare it in an inner scope).
// get() and the helpers return false at the end (MDB_NOTFOUND).
class RawCursor {
 public:
  RawCursor(Env& env, MDB_txn* txn) : env_(env) {
    const int rc = mdb_cursor_open(txn, env.dbi(), &c_);
    if (rc != 0) env.fail("mdb_cursor_open", rc);
  }
  ~RawCursor() { mdb_cursor_close(c_); }
  RawCursor(const RawCursor&) = delete;
  RawCursor& operator=(const RawCursor&) = delete;
  bool get(MDB_val& k, MDB_val& v, MDB_cursor_op op) {
    const int rc = mdb_cursor_get(c_, &k, &v, op);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) env_.fail("mdb_cursor_get", rc);
    return true;
  }
  // Positions at the first key >= `key`.
  bool seek(std::string_view key, MDB_val& k, MDB_val& v) {
    k = val_of(key);
    return get(k, v, MDB_SET_RANGE);
  }
  bool first(MDB_val& k, MDB_val& v) { return get(k, v, MDB_FIRST); }
  bool next(MDB_val& k, MDB_val& v) { return get(k, v, MDB_NEXT); }
  void del() {
    const int rc = mdb_cursor_del(c_, 0);
    if (rc != 0) env_.fail("mdb_cursor_del", rc);
  }

 private:
  Env& env_;
  MDB_cursor* c_ = nullptr;
};

}  // namespace exigrey::detail

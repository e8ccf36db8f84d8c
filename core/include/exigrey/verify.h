// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/verify.h: reads a whole greylist store to find damage that the
// decision path would meet only when a sender happens to hit it.
//
// verify() walks every entry of one read snapshot in key order and checks
// what can be checked without page checksums (LMDB keeps none): keys in
// strictly ascending order, every key in a known namespace, the format
// record present and right, every record decodes, a hashed key is the
// SHA-256 of the name its record carries, and the number of entries walked
// equals the count in LMDB's database header.
//
// Errors: throws StoreError when the store cannot be opened or read at all
// (as any reader would); damage found while walking is reported, not thrown.
// Garbage inside a page can still make LMDB itself read out of bounds and
// crash the process: run it in a child process (as `exigrey verify` does)
// to report that as damage too.
//
// Ownership: the report owns its strings. Process safety: one read
// snapshot; it never writes and never blocks Exim, purge or another writer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "exigrey/store.h"

namespace exigrey {

struct VerifyReport {
  // Problems past this many are counted, not described.
  static constexpr std::size_t kMaxDescribed = 20;

  std::uint64_t walked = 0;        // entries visited
  std::uint64_t items = 0;         // item records among them (plain and hashed)
  std::uint64_t whitelist = 0;     // whitelist entries among them
  std::uint64_t meta = 0;          // meta records (the format marker, the keep log counter, ...)
  std::uint64_t keep_log = 0;      // keep log entries (sync = precious: not yet flushed)
  std::uint64_t peer_log = 0;      // peer log entries (peers: not yet acknowledged by every peer)
  std::uint64_t lmdb_entries = 0;  // what LMDB's database header counts
  std::uint64_t problem_count = 0;
  std::vector<std::string> problems;  // the first kMaxDescribed, one line each

  bool ok() const noexcept { return problem_count == 0; }
};

// How often verify() reports progress, in entries walked.
inline constexpr std::uint64_t kVerifyProgressEvery = 1024;

// Walks the store. `progress`, if given, is called with the number of
// entries walked so far every kVerifyProgressEvery entries.
VerifyReport verify(const Store& store,
                    const std::function<void(std::uint64_t walked)>& progress = {});

}  // namespace exigrey

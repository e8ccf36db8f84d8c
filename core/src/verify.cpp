// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/verify.h"

#include <fmt/format.h>

#include <span>
#include <string_view>

#include "exigrey/dump.h"
#include "exigrey/error.h"
#include "exigrey/records.h"
#include "keep.h"
#include "peer_log.h"

namespace exigrey {
namespace {

constexpr std::size_t kShownNameBytes = 80;

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Decoders' messages start with the program name; ours go after a key.
std::string_view reason(const Error& e) {
  std::string_view what = e.what();
  if (what.starts_with("exigrey: ")) what.remove_prefix(9);
  return what;
}

// A key as an admin can find it again: its namespace and its name escaped as
// in a dump ("-" for an empty name; cut short: a damaged key can be any
// length of garbage).
std::string describe(std::string_view key) {
  if (key.empty()) return "an empty key";
  const auto ns = static_cast<Namespace>(key[0]);
  const std::string_view name = key.substr(1);
  const char* kind = "entry";
  switch (ns) {
    case Namespace::kMeta:
      kind = "meta record";
      break;
    case Namespace::kItem:
      kind = "item";
      break;
    case Namespace::kItemHashed:
      kind = "hashed item";
      break;
    case Namespace::kWhitelist:
      kind = "whitelist entry";
      break;
    case Namespace::kWhitelistHashed:
      kind = "hashed whitelist entry";
      break;
    case Namespace::kKeepLog:
      kind = "keep log entry";
      break;
    case Namespace::kPeerLog:
      kind = "peer log entry";
      break;
  }
  std::string shown = dump_escape(name.substr(0, kShownNameBytes));
  if (name.size() > kShownNameBytes) shown += "...";
  return fmt::format("{} {}", kind, shown);
}

class Walker {
 public:
  explicit Walker(VerifyReport& report) : r_(report) {}

  void visit(std::string_view key, std::string_view value) {
    ++r_.walked;
    // LMDB's default order: bytes compared unsigned, a prefix first. A page
    // whose keys are out of order makes lookups miss records that are there.
    if (have_prev_ && !(prev_ < key)) {
      problem(fmt::format("{} comes after {}: the tree's key order is broken", describe(key),
                          describe(prev_)));
    }
    prev_.assign(key);
    have_prev_ = true;
    if (key.empty()) {
      problem("an entry with an empty key");
      return;
    }
    switch (static_cast<Namespace>(key[0])) {
      case Namespace::kMeta:
        return meta(key, value);
      case Namespace::kItem:
        return named(key, value, Namespace::kItem, false);
      case Namespace::kItemHashed:
        return named(key, value, Namespace::kItem, true);
      case Namespace::kWhitelist:
        return named(key, value, Namespace::kWhitelist, false);
      case Namespace::kWhitelistHashed:
        return named(key, value, Namespace::kWhitelist, true);
      case Namespace::kKeepLog:
        return keep_log(key, value, detail::kKeepSeqKey, r_.keep_log);
      case Namespace::kPeerLog:
        return keep_log(key, value, detail::kPeerSeqKey, r_.peer_log);
    }
    problem(fmt::format("{}: unknown namespace byte 0x{:02x}", describe(key),
                        static_cast<unsigned char>(key[0])));
  }

  void finish() {
    if (!format_seen_) {
      problem(fmt::format("no format record ({:?}): not a whole exigrey store", kFormatValue));
    }
    if (r_.walked != r_.lmdb_entries) {
      problem(
          fmt::format("LMDB's header counts {} entries, the walk found {}: pages are missing "
                      "or linked twice",
                      r_.lmdb_entries, r_.walked));
    }
  }

 private:
  void problem(std::string text) {
    ++r_.problem_count;
    if (r_.problems.size() < VerifyReport::kMaxDescribed) r_.problems.push_back(std::move(text));
  }

  void meta(std::string_view key, std::string_view value) {
    ++r_.meta;
    if (key == detail::kFlushedKey || key == kPurgedKey ||
        key.starts_with(detail::kPeerMetaPrefix)) {
      if (value.size() != 8) {
        problem(fmt::format("{}: {} bytes, not 8", describe(key), value.size()));
      }
    } else if (key != kFormatKey) {
      problem(fmt::format("{}: unknown meta record", describe(key)));
    } else if (value != kFormatValue) {
      format_seen_ = true;
      problem(fmt::format("the format record says {:?}, not {:?}", value, kFormatValue));
    } else {
      format_seen_ = true;
    }
  }

  // The keep log and the peer log: key: 0x05 (0x06) + u64be number; value:
  // i64 time + the LMDB key of an item or whitelist entry. `counter` is the
  // log's next number, at the end of its namespace.
  void keep_log(std::string_view key, std::string_view value, std::string_view counter,
                std::uint64_t& entries) {
    if (key == counter) {  // the log's counter: meta
      ++r_.meta;
      if (value.size() != 8) {
        problem(fmt::format("{}: {} bytes, not 8", describe(key), value.size()));
      }
      return;
    }
    ++entries;
    if (key.size() != 9) {
      problem(fmt::format("{}: a key of {} bytes, not 9", describe(key), key.size()));
    } else if (value.size() < 10 || value[8] < static_cast<char>(Namespace::kItem) ||
               value[8] > static_cast<char>(Namespace::kWhitelistHashed)) {
      problem(fmt::format("{}: does not name an item or a whitelist entry", describe(key)));
    }
  }

  void named(std::string_view key, std::string_view value, Namespace plain, bool hashed) {
    ++(plain == Namespace::kItem ? r_.items : r_.whitelist);
    if (!hashed && key.size() == 1) problem(fmt::format("{}: an empty name", describe(key)));
    try {
      std::string full;
      if (plain == Namespace::kItem) {
        (void)decode_item(bytes_of(value), hashed, hashed ? &full : nullptr);
      } else {
        (void)decode_whitelist(bytes_of(value), hashed, hashed ? &full : nullptr);
      }
      // A hashed key is found by hashing the name: if the stored name does
      // not give this key back, no lookup can ever reach the record.
      if (hashed && encode_key(plain, full) != key) {
        problem(fmt::format("{}: the name its record carries ({} bytes) does not hash to its key",
                            describe(key), full.size()));
      }
    } catch (const Error& e) {
      problem(fmt::format("{}: {}", describe(key), reason(e)));
    }
  }

  VerifyReport& r_;
  std::string prev_;
  bool have_prev_ = false;
  bool format_seen_ = false;
};

}  // namespace

VerifyReport verify(const Store& store, const std::function<void(std::uint64_t)>& progress) {
  VerifyReport report;
  const ReadTxn txn = store.read();
  report.lmdb_entries = txn.entry_count();
  // Damaged sibling links can send a cursor round a loop: stop well past
  // what the header claims, which finish() then reports.
  const std::uint64_t limit = report.lmdb_entries * 2 + 1024;
  Walker walker(report);
  txn.scan_raw([&](std::string_view key, std::string_view value) {
    walker.visit(key, value);
    if (progress && report.walked % kVerifyProgressEvery == 0) progress(report.walked);
    return report.walked < limit;
  });
  walker.finish();
  return report;
}

}  // namespace exigrey

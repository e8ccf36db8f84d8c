// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/records.h: the logical records of a greylist store and their
// on-disk encoding.
//
// A store holds two namespaces in one LMDB database, told apart by the first
// key byte, so no item can ever collide with a whitelist entry whatever its
// bytes are (docs/internals.md has the byte layout):
//   items:     item  -> ItemRecord
//   whitelist: suffix -> WhitelistEntry
// Names longer than LMDB's key limit are stored under a SHA-256 digest, with
// the full name kept in the value so listings still show it.
//
// decode_* throw StoreError(kCorrupt) on malformed bytes; they never read
// out of bounds. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "exigrey/clock.h"

namespace exigrey {

struct ItemRecord {
  UnixTime created = 0;
  UnixTime used = 0;
  std::uint32_t count = 0;           // passes seen (saturates)
  std::optional<std::string> first;  // the suffix of the first sighting, until a pass
  friend bool operator==(const ItemRecord&, const ItemRecord&) = default;
};

struct WhitelistEntry {
  UnixTime created = 0;
  UnixTime last_used = 0;
  friend bool operator==(const WhitelistEntry&, const WhitelistEntry&) = default;
};

enum class Namespace : std::uint8_t {
  kMeta = 0x00,
  kItem = 0x01,
  kItemHashed = 0x02,
  kWhitelist = 0x03,
  kWhitelistHashed = 0x04,
  kKeepLog = 0x05,  // precious changes waiting for the keep file (sync = precious, keep.h)
  kPeerLog = 0x06,  // changes waiting for the other MX hosts (peers.h)
};

// LMDB's key limit in the Debian build (mdb_env_get_maxkeysize); checked at open.
inline constexpr std::size_t kMaxKeyBytes = 511;
// Longest name stored verbatim: one namespace byte goes in front.
inline constexpr std::size_t kMaxPlainName = kMaxKeyBytes - 1;
// Longest item or suffix accepted at all (a sanity bound on what Exim passes).
inline constexpr std::size_t kMaxNameBytes = 64 * 1024;

// The LMDB key for `name` in the item or whitelist namespace.
std::string encode_key(Namespace plain_ns, std::string_view name);
bool is_hashed(Namespace ns) noexcept;

// `full_name` is stored only for hashed keys (pass the name; it is ignored otherwise).
std::string encode_item(const ItemRecord& r, bool hashed, std::string_view full_name);
std::string encode_whitelist(const WhitelistEntry& w, bool hashed, std::string_view full_name);

// Decoding. For hashed keys `*full_name` receives the stored name (may be null).
ItemRecord decode_item(std::span<const std::byte> value, bool hashed, std::string* full_name);
WhitelistEntry decode_whitelist(std::span<const std::byte> value, bool hashed,
                                std::string* full_name);

// The meta record that marks a store as exigrey's, and its format version.
inline constexpr std::string_view kFormatKey = std::string_view(
    "\x00"
    "format",
    7);
inline constexpr std::string_view kFormatValue = "exigrey-store 1";
// When the last purge finished (i64): written twice at its end, because
// LMDB gives a page freed by commit T to commits from T+2 on, and the
// decision right after a purge of a full store needs those pages.
inline constexpr std::string_view kPurgedKey = std::string_view(
    "\x00"
    "purged",
    7);

}  // namespace exigrey

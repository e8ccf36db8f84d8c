// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/records.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cstring>
#include <limits>

#include "exigrey/error.h"
#include "raw_store.h"

namespace exigrey {
namespace {

// Value layouts (docs/internals.md):
//   item:      u8 version=1 | i64 created | i64 used | u32 count | u32 first_len | first | [name]
//   whitelist: u8 version=1 | i64 created | i64 last_used | [name]
// Integers are little-endian; [name] is present only under a hashed key.
constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kItemFixed = 1 + 8 + 8 + 4 + 4;
constexpr std::size_t kWhitelistFixed = 1 + 8 + 8;

using detail::put_le;
using Reader = detail::LeReader;

Reader reader_of(std::span<const std::byte> value) {
  return Reader(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()),
                "exigrey: corrupt record in store (truncated value)");
}

void check_version(Reader& r) {
  const auto v = r.get<std::uint8_t>();
  if (v != kRecordVersion) {
    throw StoreError(ErrorKind::kCorrupt,
                     fmt::format("exigrey: record format {} not understood (this is format {}); "
                                 "is the store from a newer exigrey?",
                                 v, kRecordVersion));
  }
}

}  // namespace

bool is_hashed(Namespace ns) noexcept {
  return ns == Namespace::kItemHashed || ns == Namespace::kWhitelistHashed;
}

std::string encode_key(Namespace plain_ns, std::string_view name) {
  if (name.size() > kMaxNameBytes) {
    throw UsageError(fmt::format("exigrey: key of {} bytes is longer than the limit of {}",
                                 name.size(), kMaxNameBytes));
  }
  std::string key;
  if (name.size() <= kMaxPlainName) {
    key.reserve(1 + name.size());
    key.push_back(static_cast<char>(plain_ns));
    key.append(name);
    return key;
  }
  // The hashed namespace is the plain one + 1 (see Namespace).
  key.push_back(static_cast<char>(static_cast<std::uint8_t>(plain_ns) + 1));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
  key.append(reinterpret_cast<const char*>(digest), sizeof digest);
  return key;
}

std::string encode_item(const ItemRecord& r, bool hashed, std::string_view full_name) {
  std::string out;
  const std::string_view first = r.first ? std::string_view(*r.first) : std::string_view();
  out.reserve(kItemFixed + first.size() + (hashed ? full_name.size() : 0));
  put_le<std::uint8_t>(out, kRecordVersion);
  put_le<std::int64_t>(out, r.created);
  put_le<std::int64_t>(out, r.used);
  put_le<std::uint32_t>(out, r.count);
  if (first.size() > kMaxNameBytes) {
    throw UsageError("exigrey: suffix longer than the limit");
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(first.size()));
  out.append(first);
  if (hashed) out.append(full_name);
  return out;
}

std::string encode_whitelist(const WhitelistEntry& w, bool hashed, std::string_view full_name) {
  std::string out;
  out.reserve(kWhitelistFixed + (hashed ? full_name.size() : 0));
  put_le<std::uint8_t>(out, kRecordVersion);
  put_le<std::int64_t>(out, w.created);
  put_le<std::int64_t>(out, w.last_used);
  if (hashed) out.append(full_name);
  return out;
}

ItemRecord decode_item(std::span<const std::byte> value, bool hashed, std::string* full_name) {
  Reader r = reader_of(value);
  check_version(r);
  ItemRecord rec;
  rec.created = r.get<std::int64_t>();
  rec.used = r.get<std::int64_t>();
  rec.count = r.get<std::uint32_t>();
  const auto first_len = r.get<std::uint32_t>();
  if (first_len > 0) rec.first = std::string(r.bytes(first_len));  // suffixes are never empty
  if (hashed) {
    std::string name(r.rest());
    if (full_name) *full_name = std::move(name);
  } else if (r.left() != 0) {
    throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt record in store (trailing bytes)");
  }
  return rec;
}

WhitelistEntry decode_whitelist(std::span<const std::byte> value, bool hashed,
                                std::string* full_name) {
  Reader r = reader_of(value);
  check_version(r);
  WhitelistEntry w;
  w.created = r.get<std::int64_t>();
  w.last_used = r.get<std::int64_t>();
  if (hashed) {
    std::string name(r.rest());
    if (full_name) *full_name = std::move(name);
  } else if (r.left() != 0) {
    throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt record in store (trailing bytes)");
  }
  return w;
}

}  // namespace exigrey

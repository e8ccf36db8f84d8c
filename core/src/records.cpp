#include "exigrey/records.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cstring>
#include <limits>

#include "exigrey/error.h"

namespace exigrey {
namespace {

// Value layouts (docs/internals.md):
//   item:      u8 version=1 | i64 created | i64 used | u32 count | u32 first_len | first | [name]
//   whitelist: u8 version=1 | i64 created | i64 last_used | [name]
// Integers are little-endian; [name] is present only under a hashed key.
constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kItemFixed = 1 + 8 + 8 + 4 + 4;
constexpr std::size_t kWhitelistFixed = 1 + 8 + 8;

template <typename T>
void put_le(std::string& out, T value) {
  auto u = static_cast<std::make_unsigned_t<T>>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(u & 0xffu));
    u = static_cast<decltype(u)>(u >> 8);
  }
}

class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  template <typename T>
  T le() {
    need(sizeof(T));
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      u = static_cast<decltype(u)>(u | (static_cast<decltype(u)>(bytes_[pos_ + i]) << (8 * i)));
    }
    pos_ += sizeof(T);
    return static_cast<T>(u);
  }
  std::string take(std::size_t n) {
    need(n);
    std::string s(reinterpret_cast<const char*>(bytes_.data()) + pos_, n);
    pos_ += n;
    return s;
  }
  std::string rest() { return take(bytes_.size() - pos_); }
  std::size_t left() const { return bytes_.size() - pos_; }

 private:
  void need(std::size_t n) const {
    if (n > bytes_.size() - pos_) {
      throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt record in store (truncated value)");
    }
  }
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

void check_version(Reader& r) {
  const auto v = r.le<std::uint8_t>();
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
  Reader r(value);
  check_version(r);
  ItemRecord rec;
  rec.created = r.le<std::int64_t>();
  rec.used = r.le<std::int64_t>();
  rec.count = r.le<std::uint32_t>();
  const auto first_len = r.le<std::uint32_t>();
  if (first_len > 0) rec.first = r.take(first_len);  // suffixes are never empty
  if (hashed) {
    std::string name = r.rest();
    if (full_name) *full_name = std::move(name);
  } else if (r.left() != 0) {
    throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt record in store (trailing bytes)");
  }
  return rec;
}

WhitelistEntry decode_whitelist(std::span<const std::byte> value, bool hashed,
                                std::string* full_name) {
  Reader r(value);
  check_version(r);
  WhitelistEntry w;
  w.created = r.le<std::int64_t>();
  w.last_used = r.le<std::int64_t>();
  if (hashed) {
    std::string name = r.rest();
    if (full_name) *full_name = std::move(name);
  } else if (r.left() != 0) {
    throw StoreError(ErrorKind::kCorrupt, "exigrey: corrupt record in store (trailing bytes)");
  }
  return w;
}

}  // namespace exigrey

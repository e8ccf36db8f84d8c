// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/tsig.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <new>
#include <stdexcept>

#include "exigrey/dns_wire.h"
#include "exigrey/error.h"
#include "exigrey/text.h"

namespace exigrey::dns {
namespace {

struct Algorithm {
  std::string_view name;    // as on the wire, without the root label
  std::string_view digest;  // OpenSSL's name
  std::size_t mac_size;
};

constexpr std::array<Algorithm, 5> kAlgorithms = {{
    {"hmac-sha256", "SHA256", 32},
    {"hmac-sha384", "SHA384", 48},
    {"hmac-sha512", "SHA512", 64},
    {"hmac-sha224", "SHA224", 28},
    {"hmac-sha1", "SHA1", 20},
}};

constexpr std::uint64_t kMaxTime = (std::uint64_t{1} << 48) - 1;
// RFC 8945 5.3.1: at least every 100th answer of a stream is signed.
constexpr unsigned kMaxUnsignedRun = 99;

[[noreturn]] void bad_key(std::string_view why) {
  throw UsageError(fmt::format("invalid TSIG key: {}", why));
}

[[noreturn]] void fail(std::string_view why) {
  throw Error(ErrorKind::kCorrupt, fmt::format("TSIG verification failed: {}", why));
}

const Algorithm* find_algorithm(std::string_view name) {
  for (const Algorithm& a : kAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

unsigned char byte_at(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put48(std::string& out, std::uint64_t v) {
  for (int shift = 40; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

std::uint16_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((byte_at(s, at) << 8) | byte_at(s, at + 1));
}

void set16(std::string& s, std::size_t at, std::uint16_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v & 0xff);
}

// kdig and Knot write secrets padded; unpadded input is accepted too, as
// long as no bits are missing.
bool base64_decode(std::string_view in, std::string& out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

// A key as the wire needs it; building one checks the key.
struct WireKey {
  const Algorithm* alg = nullptr;
  std::string name;       // normalized text
  std::string name_wire;  // canonical (lower-case) wire form
  std::string alg_wire;
  std::string secret;
};

WireKey wire_key(const TsigKey& key) {
  WireKey k;
  k.alg = find_algorithm(ascii_lower(key.algorithm));
  if (k.alg == nullptr) {
    bad_key(
        "unsupported algorithm (use hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224 or "
        "hmac-sha1)");
  }
  try {
    k.name = normalize_name(key.name);
  } catch (const UsageError&) {
    bad_key("the key name is not a valid DNS name");
  }
  if (k.name.empty()) bad_key("empty key name");
  if (key.secret.empty()) bad_key("empty secret");
  k.name_wire = encode_name(k.name);
  k.alg_wire = encode_name(k.alg->name);
  k.secret = key.secret;
  return k;
}

std::string hmac(const WireKey& key, std::string_view data) {
  // Fetched once; EVP_MAC objects are thread-safe to share.
  static EVP_MAC* const mac_algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac_algorithm == nullptr) throw std::runtime_error("exigrey: OpenSSL has no HMAC");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_algorithm);
  if (ctx == nullptr) throw std::bad_alloc();
  std::string digest_name(key.alg->digest);
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name.data(), 0),
                               OSSL_PARAM_construct_end()};
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  const bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.secret.data()),
                   key.secret.size(), params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
      EVP_MAC_final(ctx, mac, &len, sizeof mac) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) throw std::runtime_error("exigrey: HMAC failed in OpenSSL");
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// A MAC as it enters the next digest: its 2-byte size, then the MAC
// (RFC 8945 4.3.1); nothing for an unsigned request.
void add_prior_mac(std::string& data, std::string_view mac) {
  if (mac.empty()) return;
  put16(data, static_cast<std::uint16_t>(mac.size()));
  data += mac;
}

// RFC 8945 4.3.3: what the first signature of an exchange covers after the message.
void add_variables(std::string& data, const WireKey& key, std::uint64_t time_signed,
                   std::uint16_t fudge, std::uint16_t error, std::string_view other) {
  data += key.name_wire;
  put16(data, kClassANY);
  data.append(4, '\0');  // TTL
  data += key.alg_wire;
  put48(data, time_signed);
  put16(data, fudge);
  put16(data, error);
  put16(data, static_cast<std::uint16_t>(other.size()));
  data += other;
}

// RFC 8945 5.3.1: later signatures of a stream cover only these.
void add_timers(std::string& data, std::uint64_t time_signed, std::uint16_t fudge) {
  put48(data, time_signed);
  put16(data, fudge);
}

std::uint16_t arcount(std::string_view wire) { return get16(wire, 10); }

// `digest_prefix`: what comes before the message in the digest; `full`:
// all variables (a request, or the first answer) or the timers only.
std::string sign_message(std::string& wire, const WireKey& key, std::uint64_t time_signed,
                         std::uint16_t fudge, std::string_view digest_prefix, bool full) {
  if (wire.size() < 12) throw UsageError("DNS message to sign is shorter than its header");
  if (time_signed > kMaxTime) throw UsageError("TSIG time signed does not fit in 48 bits");
  if (arcount(wire) == 0xffff) throw UsageError("DNS message has no room for a TSIG record");
  std::string data(digest_prefix);
  data += wire;
  if (full) {
    add_variables(data, key, time_signed, fudge, 0, {});
  } else {
    add_timers(data, time_signed, fudge);
  }
  const std::string mac = hmac(key, data);

  std::string rdata = key.alg_wire;
  put48(rdata, time_signed);
  put16(rdata, fudge);
  put16(rdata, static_cast<std::uint16_t>(mac.size()));
  rdata += mac;
  rdata.append(wire, 0, 2);  // original ID
  put16(rdata, 0);           // error
  put16(rdata, 0);           // other len
  std::string rr = key.name_wire;
  put16(rr, static_cast<std::uint16_t>(Type::kTSIG));
  put16(rr, kClassANY);
  rr.append(4, '\0');  // TTL
  put16(rr, static_cast<std::uint16_t>(rdata.size()));
  rr += rdata;
  if (wire.size() + rr.size() > kMaxMessageBytes) {
    throw UsageError("DNS message too long to sign (over 65535 bytes with its TSIG)");
  }
  wire += rr;
  set16(wire, 10, static_cast<std::uint16_t>(arcount(wire) + 1));
  return mac;
}

struct TsigFields {
  std::string algorithm;  // normalized text
  std::uint64_t time_signed = 0;
  std::uint16_t fudge = 0;
  std::string mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::string other;
};

[[noreturn]] void bad_tsig_rdata(std::string_view why) {
  throw Error(ErrorKind::kCorrupt, fmt::format("malformed TSIG rdata: {}", why));
}

TsigFields parse_tsig_rdata(std::string_view rdata) {
  // The parser has already made the algorithm name a whole, uncompressed name.
  std::size_t at = 0;
  while (at < rdata.size() && rdata[at] != 0) at += 1u + byte_at(rdata, at);
  if (at >= rdata.size()) bad_tsig_rdata("no algorithm name");
  ++at;
  TsigFields f;
  f.algorithm = normalize_name(name_text(rdata.substr(0, at)));
  auto need = [&](std::size_t n) {
    if (rdata.size() - at < n) bad_tsig_rdata("truncated");
  };
  need(10);
  for (int i = 0; i < 6; ++i) f.time_signed = (f.time_signed << 8) | byte_at(rdata, at++);
  f.fudge = get16(rdata, at);
  const std::uint16_t mac_size = get16(rdata, at + 2);
  at += 4;
  need(mac_size);
  f.mac = std::string(rdata.substr(at, mac_size));
  at += mac_size;
  need(6);
  f.original_id = get16(rdata, at);
  f.error = get16(rdata, at + 2);
  const std::uint16_t other_len = get16(rdata, at + 4);
  at += 6;
  need(other_len);
  f.other = std::string(rdata.substr(at, other_len));
  at += other_len;
  if (at != rdata.size()) bad_tsig_rdata("bytes after the other data");
  return f;
}

[[noreturn]] void server_error(const TsigFields& f) {
  switch (f.error) {
    case 16:
      fail("the server refused our signature (BADSIG: wrong secret?)");
    case 17:
      fail("the server does not know our key or algorithm (BADKEY)");
    case 18: {
      std::string server_time;
      if (f.other.size() == 6) {
        std::uint64_t t = 0;
        for (char c : f.other) t = (t << 8) | static_cast<unsigned char>(c);
        server_time = fmt::format("; server time {}", t);
      }
      fail(fmt::format("the server refused our time (BADTIME{}): check the clocks", server_time));
    }
    case 22:
      fail("the server refused our truncated MAC (BADTRUNC)");
    default:
      fail(fmt::format("the server answered TSIG error {}", f.error));
  }
}

}  // namespace

TsigKey parse_tsig_key(std::string_view text) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kBlanks);
  text = first == std::string_view::npos ? std::string_view{} : text.substr(first);
  text = text.substr(0, text.find_last_not_of(kBlanks) + 1);
  std::string_view parts[3];
  std::size_t n = 0;
  for (;;) {
    const std::size_t colon = text.find(':');
    if (n == 3) bad_key("expected [alg:]name:base64secret");
    parts[n++] = text.substr(0, colon);
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  if (n < 2) bad_key("expected [alg:]name:base64secret");
  TsigKey key;
  if (n == 3) {
    std::string alg = ascii_lower(parts[0]);
    if (!alg.empty() && alg.back() == '.') alg.pop_back();
    key.algorithm = alg;
  }
  key.name = std::string(parts[n - 2]);
  if (!base64_decode(parts[n - 1], key.secret)) bad_key("the secret is not base64");
  // Checks the algorithm, name and secret, and gives the name's normal form.
  key.name = wire_key(key).name;
  return key;
}

std::string tsig_sign(std::string& wire, const TsigKey& key, std::uint64_t time_signed,
                      std::uint16_t fudge, std::string_view request_mac) {
  std::string prefix;
  add_prior_mac(prefix, request_mac);
  return sign_message(wire, wire_key(key), time_signed, fudge, prefix, true);
}

TsigVerifier::TsigVerifier(const TsigKey& key, std::string request_mac, std::uint64_t now)
    : key_(key), prior_mac_(std::move(request_mac)), now_(now) {
  key_.name = wire_key(key).name;
}

bool TsigVerifier::verify(std::string_view wire, bool require_signed) {
  const Message m = parse_message(wire);
  if (m.tsig_offset == 0) {
    if (signed_ == 0) {
      fail(fmt::format("the answer is not signed (rcode {})", rcode_name(m.rcode)));
    }
    if (require_signed) fail("the last answer is not signed");
    if (unsigned_run_ >= kMaxUnsignedRun) fail("more than 99 unsigned answers in a row");
    unsigned_since_.append(wire);
    ++unsigned_run_;
    return false;
  }
  const WireKey key = wire_key(key_);
  const Record& rr = m.additional.back();
  if (rr.klass != kClassANY || rr.ttl != 0) bad_tsig_rdata("class not ANY or TTL not 0");
  const TsigFields f = parse_tsig_rdata(rr.rdata);
  if (rr.name != key.name) fail(fmt::format("signed with another key '{}'", rr.name));
  if (f.algorithm != key.alg->name) {
    fail(fmt::format("signed with another algorithm '{}'", f.algorithm));
  }
  if (f.error != 0) server_error(f);
  if (f.mac.size() != key.alg->mac_size) {
    fail(fmt::format("MAC of {} bytes, not {} (truncated MACs are not accepted)", f.mac.size(),
                     key.alg->mac_size));
  }

  // The message as it was before signing: TSIG record off, its ID back.
  std::string message(wire.substr(0, m.tsig_offset));
  set16(message, 0, f.original_id);
  set16(message, 10, static_cast<std::uint16_t>(arcount(message) - 1));
  std::string data;
  add_prior_mac(data, prior_mac_);
  if (signed_ == 0) {
    data += message;
    add_variables(data, key, f.time_signed, f.fudge, f.error, f.other);
  } else {
    data += unsigned_since_;
    data += message;
    add_timers(data, f.time_signed, f.fudge);
  }
  const std::string expected = hmac(key, data);
  if (CRYPTO_memcmp(expected.data(), f.mac.data(), expected.size()) != 0) {
    fail("wrong MAC (another secret, or the message was changed)");
  }
  // Checked after the MAC (RFC 8945 5.2.3): only a genuine time is worth reporting.
  const std::uint64_t skew = f.time_signed > now_ ? f.time_signed - now_ : now_ - f.time_signed;
  if (skew > f.fudge) {
    fail(fmt::format("signed {} s from our time, more than the fudge of {} s: check the clocks",
                     skew, f.fudge));
  }
  prior_mac_ = f.mac;
  ++signed_;
  unsigned_run_ = 0;
  unsigned_since_.clear();
  return true;
}

TsigSigner::TsigSigner(const TsigKey& key, std::string request_mac)
    : key_(key), prior_mac_(std::move(request_mac)) {
  key_.name = wire_key(key).name;
}

std::string TsigSigner::sign(std::string& wire, std::uint64_t time_signed, std::uint16_t fudge) {
  std::string prefix;
  add_prior_mac(prefix, prior_mac_);
  if (!first_) prefix += unsigned_since_;
  std::string mac = sign_message(wire, wire_key(key_), time_signed, fudge, prefix, first_);
  prior_mac_ = mac;
  first_ = false;
  unsigned_since_.clear();
  return mac;
}

void TsigSigner::pass_unsigned(std::string_view wire) {
  if (first_) throw UsageError("TSIG: the first answer of a stream must be signed");
  unsigned_since_.append(wire);
}

}  // namespace exigrey::dns

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/tsig.h: TSIG (RFC 8945), the shared-secret signatures of DNS
// messages, for the collector's UPDATEs and AXFRs to a name server.
//
// A request is signed with tsig_sign(); the answers are checked with a
// TsigVerifier made from the request's MAC: one answer for an UPDATE, a
// stream of them for an AXFR (RFC 8945 5.3.1: the first answer is signed
// over the request MAC, the message and all TSIG variables; each later
// signature covers the previous MAC, the messages since (unsigned ones may
// come between, at most 99 in a row) and only the time signed and fudge;
// the first and the last answer must be signed). TsigSigner does the same
// for the answering side (used by tests; what a server would run).
// Algorithms: hmac-sha256 (default), hmac-sha384, hmac-sha512,
// hmac-sha224, hmac-sha1. MACs are full length: a truncated MAC (RFC 8945
// 5.2.2.1) is refused. Time is Unix seconds (48 bits on the wire).
//
// Errors: UsageError("invalid TSIG key: why") for a bad key text, name,
// algorithm or secret (never echoing the secret); UsageError for a message
// too short to sign; Error(kCorrupt, "TSIG ...: why") when an answer does
// not verify (another key or algorithm, wrong MAC, time outside fudge, a
// TSIG error from the server named: BADSIG, BADKEY, BADTIME, or unsigned
// where it must be signed) and Error(kCorrupt, "malformed DNS message: ...")
// when it does not parse. std::bad_alloc or std::runtime_error if OpenSSL
// fails.
//
// Ownership: keys, signers and verifiers own copies of everything they
// are given (the secret included). Thread safety: the functions are pure;
// a TsigVerifier or TsigSigner is one stream's state, not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace exigrey::dns {

struct TsigKey {
  std::string name;                       // DNS name, normalized by parse_tsig_key
  std::string algorithm = "hmac-sha256";  // lower-case, no trailing dot
  std::string secret;                     // raw bytes
};

// kdig's -y form "[alg:]name:base64secret"; blanks and line breaks around
// it are ignored, the algorithm is case-insensitive.
TsigKey parse_tsig_key(std::string_view text);

inline constexpr std::uint16_t kDefaultFudge = 300;

// Appends a TSIG record to the complete message `wire` (ARCOUNT + 1;
// original ID = the message's ID; error 0; no other data) and returns the
// MAC (what the verifier of the answer needs). Given `request_mac`, signs
// an answer to that request (the first of a stream: RFC 8945 4.3.1).
std::string tsig_sign(std::string& wire, const TsigKey& key, std::uint64_t time_signed,
                      std::uint16_t fudge = kDefaultFudge, std::string_view request_mac = {});

// Checks the answers to one signed request, in the order received.
class TsigVerifier {
 public:
  // UsageError for a bad key.
  TsigVerifier(const TsigKey& key, std::string request_mac, std::uint64_t now);
  // The clock for the checks that follow (a long transfer may want it updated).
  void set_now(std::uint64_t now) noexcept { now_ = now; }
  // Throws Error(kCorrupt, "TSIG ...: why") as described above, leaving the
  // state as it was. Returns whether the message carried a TSIG.
  bool verify(std::string_view wire, bool require_signed);
  // Answers verified so far that were signed.
  std::size_t signed_count() const noexcept { return signed_; }

 private:
  TsigKey key_;
  std::string prior_mac_;  // the request's MAC, then the last verified answer's
  std::uint64_t now_;
  std::size_t signed_ = 0;
  unsigned unsigned_run_ = 0;
  std::string unsigned_since_;  // unsigned answers since the last signed one (<= 99 x 64 KiB)
};

// Signs a stream of answers to one signed request (the other side of TsigVerifier).
class TsigSigner {
 public:
  TsigSigner(const TsigKey& key, std::string request_mac);
  // Signs the next answer; returns its MAC.
  std::string sign(std::string& wire, std::uint64_t time_signed,
                   std::uint16_t fudge = kDefaultFudge);
  // An answer sent unsigned: the next signature covers it.
  void pass_unsigned(std::string_view wire);

 private:
  TsigKey key_;
  std::string prior_mac_;
  bool first_ = true;
  std::string unsigned_since_;
};

}  // namespace exigrey::dns

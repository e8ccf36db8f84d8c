// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/batch.h: the signed batch protocol between exigrey-forward and
// exigrey-collect (docs/protocol.md is the specification; this is its codec).
//
// Encoding is for the forwarder; the parse functions are for the collector
// and treat every byte as hostile: each has a bound and throws ProtocolError
// carrying the NAK reason of the protocol ("malformed", ...). MAC comparison
// is constant-time. Network I/O is not here: callers read a header line, then
// `length` body bytes, then the MAC line.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/error.h"
#include "exigrey/report.h"

namespace exigrey {

inline constexpr std::string_view kBatchMagic = "EXIGREY/1";
inline constexpr std::size_t kMaxReporterId = 64;
inline constexpr std::size_t kMaxBatchReports = 1000;
inline constexpr std::size_t kMaxBatchBody = 256 * 1024;
inline constexpr std::size_t kMaxProtocolLine = 512;  // header, MAC and answer lines
inline constexpr std::size_t kMinSecret = 32;
// The accepted window of a batch's `sent` time around the receiver's clock:
// it bounds how long a captured batch stays interesting (docs/protocol.md).
inline constexpr std::int64_t kMaxBatchAge = 24 * 3600;
inline constexpr std::int64_t kMaxBatchFuture = 300;
inline constexpr std::size_t kMaxSecret = 256;

// A refusal: `reason()` is the protocol's NAK reason word.
class ProtocolError : public Error {
 public:
  ProtocolError(std::string reason, const std::string& message)
      : Error(ErrorKind::kUsage, message), reason_(std::move(reason)) {}
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

struct BatchHeader {
  std::string reporter;
  std::uint64_t seq = 0;
  UnixTime sent = 0;
  std::uint32_t count = 0;
  std::uint32_t length = 0;
};

// One report of a batch with its id: the reporter's outbox sequence number,
// strictly increasing within a batch and across the reporter's batches.
struct BatchItem {
  std::uint64_t id = 0;
  Report report;
  friend bool operator==(const BatchItem&, const BatchItem&) = default;
};

// `seq` on the wire is the id of the last item.
struct Batch {
  std::string reporter;
  UnixTime sent = 0;
  std::vector<BatchItem> items;
};

// Checks a reporter id (1..64 bytes of [A-Za-z0-9._-]); throws UsageError.
void check_reporter_id(std::string_view id);
// Checks a secret (kMinSecret..kMaxSecret printable bytes); throws UsageError.
void check_secret(std::string_view secret);

// The whole frame: header line, body, MAC line. Throws UsageError on a batch
// outside the bounds (no reports, too many, ids not increasing, a note with
// control bytes, ...).
std::string encode_batch(const Batch& batch, std::string_view secret);

// `line` without its "\n" (a trailing "\r" is tolerated).
BatchHeader parse_batch_header(std::string_view line);
// Checks the MAC line (without "\n") against header_line (with its "\n") + body.
// The NAK reason for a batch sent at `sent` when it is `now` ("too-old",
// "too-new"), or empty inside the window.
std::string_view sent_time_refusal(UnixTime sent, UnixTime now) noexcept;

void verify_batch_mac(std::string_view mac_line, std::string_view secret,
                      std::string_view header_line, std::string_view body);
// Parses exactly header.count report lines filling exactly the body; ids
// must increase strictly and the last must equal header.seq.
std::vector<BatchItem> parse_batch_body(std::string_view body, const BatchHeader& header);

// HMAC-SHA256 over header_line + body, as 64 lower-case hex digits.
std::string batch_mac(std::string_view secret, std::string_view header_line, std::string_view body);

// Answers.
enum class AnswerKind { kAck, kAckDup, kNak };
struct Answer {
  AnswerKind kind = AnswerKind::kNak;
  std::uint64_t seq = 0;
  std::string reason;  // NAK only
};
std::string format_answer(const Answer& answer);  // with "\n"
Answer parse_answer(std::string_view line);       // without "\n"; throws ProtocolError

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/plain_line.h: the seed's plain report protocol, one line at a time.
//
// A plain report is one line `VERB SUBJECT [NOTE]` ended by "\n", exactly
// what Exim's ${readsocket{inet:HOST:PORT}{black $sender_host_address\n}...}
// or `echo black 1.2.3.4 | socat - TCP:HOST:PORT` send. VERB and SUBJECT are
// validated and normalised by report.h (parse_verb, parse_subject); fields
// are separated by one or more blanks (space or tab); a trailing "\r" is
// dropped (CRLF clients); the optional NOTE is the rest of the line after
// the subject and obeys parse_note's limits.
//
// LineFramer splits a byte stream into lines with a hard bound on what it
// buffers: a line longer than its limit is discarded as it streams in (the
// framer never holds more than the limit) and reported once, as kTooLong,
// when its end arrives. Nothing in this header allocates more than the limit.
//
// Thread safety: parse_plain_line is pure; a LineFramer belongs to one
// connection and is not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exigrey/report.h"

namespace exigrey {

// The default and the largest accepted line limit, in bytes without "\n".
inline constexpr std::size_t kDefaultMaxPlainLine = 512;
inline constexpr std::size_t kMaxPlainLineLimit = 64 * 1024;

// Why a line was refused. Each value has a stable name (to_string) used as
// the `reason` label of exigrey-collect's rejection metrics.
enum class LineError : std::uint8_t {
  kNone,        // a report
  kBlank,       // an empty or all-blank line: skipped, not an error
  kTooLong,     // longer than the framer's limit
  kNul,         // contains a NUL byte
  kControl,     // contains another control byte (other than tab and a final CR)
  kSyntax,      // not `VERB SUBJECT [NOTE]`
  kBadVerb,     // not black or white
  kBadSubject,  // not an IP address or a domain name
  kBadNote,     // note too long
  kPartial,     // bytes without "\n" when the connection ended
};

std::string_view to_string(LineError error) noexcept;

struct PlainLine {
  LineError error = LineError::kNone;
  Report report;        // valid when error == kNone; report.time is left 0
  std::string message;  // one line, for logs, when error is neither kNone nor kBlank
};

// Parses one line, given without its "\n".
PlainLine parse_plain_line(std::string_view line);

// Splits a stream into lines of at most `max_line` bytes (not counting "\n").
class LineFramer {
 public:
  // `max_line` is clamped to 1..kMaxPlainLineLimit.
  explicit LineFramer(std::size_t max_line = kDefaultMaxPlainLine);

  // Feeds `data` and calls `on_line(std::string_view line, bool too_long)`
  // for every line that ends in it: a complete line (too_long false, the
  // view is valid only during the call), or the end of an over-long line
  // (too_long true, the view is empty).
  template <typename OnLine>
  void feed(std::string_view data, OnLine&& on_line) {
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      const std::string_view chunk = data.substr(0, nl);
      if (discarding_) {
        discarded_ += chunk.size();
      } else if (buffer_.size() + chunk.size() > max_line_) {
        discarding_ = true;
        discarded_ = buffer_.size() + chunk.size();
        buffer_.clear();
      } else {
        buffer_.append(chunk);
      }
      if (nl == std::string_view::npos) return;
      data.remove_prefix(nl + 1);
      if (discarding_) {
        discarding_ = false;
        discarded_ = 0;
        on_line(std::string_view(), true);
      } else {
        on_line(std::string_view(buffer_), false);
        buffer_.clear();
      }
    }
  }

  // Bytes of an unfinished line (buffered or being discarded) at this point.
  bool has_partial() const noexcept { return discarding_ || !buffer_.empty(); }
  // Length so far of the over-long line being discarded (0 if none).
  std::size_t discarding() const noexcept { return discarding_ ? discarded_ : 0; }
  std::size_t max_line() const noexcept { return max_line_; }

 private:
  std::size_t max_line_;
  std::string buffer_;
  bool discarding_ = false;
  std::size_t discarded_ = 0;
};

}  // namespace exigrey

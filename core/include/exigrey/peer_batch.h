// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/peer_batch.h: the signed batches that carry greylisting facts
// between the MX hosts of a site (docs/protocol.md, "Peer batches";
// docs/multi-mx.md). The frame is that of the report batches (header line,
// body, MAC line: HMAC-SHA256 with the sender's secret), the answers are
// the same, and every record is one dump line (dump.h) after its id:
//
//   EXIGREY/1 GREY <sender> <db> <seq> <sent> <count> <length>\n
//   <id> item <name> <created> <used> <count> <first|->\n
//   <id> white <suffix> <created> <last_used>\n
//   MAC <64 hex>\n
//
// Parsing treats every byte as hostile and throws ProtocolError with the
// NAK reason ("malformed"). Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/batch.h"
#include "exigrey/peers.h"

namespace exigrey {

inline constexpr std::size_t kMaxPeerBatchRecords = 1000;
// The body may carry names up to kMaxNameBytes escaped (three bytes each).
inline constexpr std::size_t kMaxPeerBatchBody = 1024 * 1024;

struct PeerBatchHeader {
  std::string sender;  // the sending host's name (as a reporter id)
  std::string db;      // the store, as a plain DB name ("seen")
  std::uint64_t seq = 0;
  UnixTime sent = 0;
  std::uint32_t count = 0;
  std::uint32_t length = 0;
};

struct PeerBatch {
  std::string sender;
  std::string db;
  UnixTime sent = 0;
  std::vector<PeerRecord> records;  // ids strictly increasing
};

// Throws UsageError on a batch outside the bounds.
std::string encode_peer_batch(const PeerBatch& batch, std::string_view secret);
// `line` without its "\n".
PeerBatchHeader parse_peer_batch_header(std::string_view line);
// The MAC check is verify_batch_mac (batch.h): the same rule.
std::vector<PeerRecord> parse_peer_batch_body(std::string_view body, const PeerBatchHeader& header);

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: the peer log of a store shared with other MX hosts
// (docs/multi-mx.md, peers.h). Namespace 0x06: key 0x06 + u64be id, value
// i64 time logged + the LMDB key of the record written. The next id lives at
// 0x06 0xff (after every entry, as the keep log's counter). Ids are never
// reused: a store that lost its log (restored after a crash) starts its
// counter at the time in microseconds, above any id it gave before, because
// the peers take ids at or below what they committed for replays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "exigrey/records.h"

namespace exigrey::detail {

inline constexpr char kPeerLogNs = static_cast<char>(Namespace::kPeerLog);
inline constexpr std::string_view kPeerSeqKey = std::string_view("\x06\xff", 2);
// Meta records of the peers: "\0peer:NAME" (a peer's last committed id) and
// "\0peerdropped" (log entries dropped at the bound).
inline constexpr std::string_view kPeerMetaPrefix = std::string_view(
    "\x00"
    "peer",
    5);

inline std::string peer_log_key(std::uint64_t id) {
  std::string key(1, kPeerLogNs);
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  return key;
}

}  // namespace exigrey::detail

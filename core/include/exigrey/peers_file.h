// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/peers_file.h: the MX hosts of a site that share greylisting
// (docs/multi-mx.md): one line per host, the same file on every host.
//
//   # NAME   ADDRESS:PORT       SECRET (32..256 printable bytes)   [scope=items,whitelist]
//   mx1      192.0.2.1:2526     3f0c...
//   mx2      [2001:db8::2]:2526 8a1e...    scope=items
//
// NAME as a reporter id (1..64 of [A-Za-z0-9._-]); ADDRESS where that host's
// exigrey-forward listens for the others (checked by the forwarder, which
// resolves it); SECRET what that host signs its batches with; scope the
// record kinds its batches may change here (default items,whitelist: with
// scope=items, whitelist entries from it are refused). Blank lines and '#'
// lines are ignored. Errors: UsageError "<file>:<line>: ..." that never
// quotes a secret; load_peers reads the file as a secret file
// (secret_file.h). Thread safety: pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace exigrey {

struct PeerEntry {
  std::string name;
  std::string address;  // HOST:PORT as written
  std::string secret;
  bool may_whitelist = true;
  friend bool operator==(const PeerEntry&, const PeerEntry&) = default;
};

std::vector<PeerEntry> parse_peers(std::string_view text, std::string_view origin);
std::vector<PeerEntry> load_peers(const std::string& path);

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/admin.h: the operator's commands on the collector's store
// (exigrey-collect lookup | ban | unban | delist | list), safe while the
// collector runs: each is one LMDB transaction beside it, and the running
// collector publishes the change within about a second (publisher.h).
//
// Output: aligned text for a person, or one JSON object per line (--json).
// Errors: UsageError (bad subject, reason, duration) and StoreError, turned
// into one line and exit status 1 by collect_main. Thread safety: one
// command per process.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "exigrey/collect_config.h"

namespace exigrey::collect {

struct AdminCommand {
  std::string name;      // lookup, ban, unban, delist, list
  std::string subject;   // lookup, ban, unban, delist
  std::string reason;    // ban, unban, delist
  std::string duration;  // ban (required), delist (optional exemption)
  bool json = false;
  // list filters
  bool listed = false;
  bool banned = false;
  bool delisted = false;
  bool requests = false;
  std::string category;
  std::size_t limit = 0;  // 0: all
};

// Whether the command writes to the store (it then opens it read-write).
bool admin_writes(std::string_view name) noexcept;

// Runs the command against cfg.state_dir with cfg.policy; returns the exit status.
int run_admin(const CollectConfig& cfg, const AdminCommand& cmd, std::FILE* out);

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/outbox.h: the durable local queue of reports waiting for
// exigrey-forward.
//
// The plugin's `report` appends here and never touches the network; the
// forwarder peeks batches in order and removes a report only once every
// collector has acknowledged it. The outbox is its own LMDB environment at
// <dir>/outbox (lock at <dir>/outbox-lock), always opened with full sync:
// append() returns only after the report is on disk, so a report that
// `report` accepted survives a power cut.
//
// Bounds: at most `max_pending` reports wait; beyond that append() drops the
// OLDEST report (the newest evidence matters most) and counts the drop in
// stats().dropped. A full map is a StoreError(kMapFull) naming the fix.
//
// Errors: StoreError (see store.h) and UsageError (bad options).
// Process safety: any number of processes may append, peek and remove at
// once; each call is one LMDB transaction. Sequence numbers increase by one
// per append across all processes and are never reused.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/report.h"

namespace exigrey {

inline constexpr std::string_view kOutboxName = "outbox";
inline constexpr std::uint64_t kDefaultOutboxMapSize = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kDefaultMaxPending = 1'000'000;

struct OutboxEntry {
  std::uint64_t seq = 0;
  Report report;
};

struct OutboxStats {
  std::uint64_t pending = 0;
  std::uint64_t black = 0;
  std::uint64_t white = 0;
  std::optional<UnixTime> oldest;  // time of the oldest pending report
  std::uint64_t next_seq = 1;      // the sequence number the next append gets
  std::uint64_t dropped = 0;       // reports dropped because max_pending was reached
};

struct OutboxOptions {
  std::uint64_t map_size = kDefaultOutboxMapSize;
  std::uint64_t max_pending = kDefaultMaxPending;
  bool read_only = false;
};

class Outbox {
 public:
  // The outbox path inside a store directory.
  static std::string path_in(std::string_view dir);

  // Names the outbox; opened lazily (like Store, fork-safe).
  explicit Outbox(std::string path, OutboxOptions options = {});
  const std::string& path() const noexcept { return path_; }

  // Appends one report, durably; returns its sequence number.
  std::uint64_t append(const Report& report);
  // Up to `max` reports with seq > `after`, in order.
  std::vector<OutboxEntry> peek(std::size_t max, std::uint64_t after = 0) const;
  // Removes the given reports (acknowledged); returns how many were there.
  std::size_t remove(std::span<const std::uint64_t> seqs);
  // Removes every report with seq <= `last` (acknowledged by every
  // collector); returns how many. One transaction per call: callers pass
  // batch-sized steps.
  std::size_t remove_upto(std::uint64_t last);
  // Everything, per verb included: reads every pending report (for the CLI).
  OutboxStats stats() const;
  // pending, oldest (the time of the first report in queue order) and
  // next_seq only, without reading the reports: cheap at any backlog, for
  // daemons that sample it often. Per-verb counts stay 0.
  OutboxStats summary() const;

 private:
  std::string path_;
  OutboxOptions options_;
};

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward/forwarder.h: drains the outbox to every collector.
//
// Per collector it keeps, in memory only, the highest report id that the
// collector acknowledged, and sends the next batch above it: one batch in
// flight per collector, at most `batch_size` reports, sent when full or when
// its first report has waited `batch_delay`. A report leaves the outbox only
// when every collector has acknowledged it. After a restart everything
// pending is sent again and the collectors count it once (docs/protocol.md).
// Failures back off exponentially (with jitter) up to `backoff_max`; the
// other collectors are not held up beyond one exchange timeout.
//
// With `peers`, it also runs PeerSync (peer_sync.h): greylisting shared with
// the other MX hosts. With no collectors it does only that and the upkeep.
//
// Every minute it also clears stale reader slots of the stores in `dir` and,
// where the greylist uses sync mode `none`, flushes them to disk.
//
// Thread safety: run() on one thread; `stop` may be set from anywhere (a
// signal handler sets it). Errors: run() reports delivery problems as log
// lines and metrics, never by throwing; it throws only on a broken outbox.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "exigrey-forward/peer_sync.h"
#include "exigrey/config.h"
#include "exigrey/endpoint.h"

namespace exigrey::forward {

struct ForwardOptions {
  std::string dir;  // the store directory; the outbox is <dir>/outbox
  std::vector<Endpoint> collectors;
  std::string reporter;
  std::string secret;
  std::string tls_ca_file;
  bool once = false;  // drain and return instead of running forever
  std::size_t batch_size = 500;
  std::chrono::milliseconds batch_delay{200};
  std::chrono::milliseconds poll{50};
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds timeout{10'000};
  std::chrono::seconds maintenance_every{20};  // stale readers, keep file flushes
  Config config;                         // sync mode and map size of the greylist stores in `dir`
  std::optional<PeerSyncOptions> peers;  // share greylisting with the site's MX hosts
};

// Returns kExitOk (0) when stopped or drained, kExitFailure (3) when --once
// could not deliver (exigrey/exit_status.h).
int run_forwarder(const ForwardOptions& options, daemon::Metrics& metrics,
                  const std::atomic<bool>& stop);

}  // namespace exigrey::forward

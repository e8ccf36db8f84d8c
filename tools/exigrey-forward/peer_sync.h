// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward/peer_sync.h: greylisting shared with the site's other MX
// hosts (docs/multi-mx.md): ships this host's peer log to every peer and
// takes theirs (PeerListener).
//
// A watcher thread reads the newest id of every store's peer log in `dir`
// every `poll` and wakes one thread per peer when it moved; that thread
// sends what its peer has not acknowledged as signed GREY batches of at
// most kMaxPeerBatchRecords, one in flight; an ACK (or `ACK dup`) moves the
// peer's cursor for that store, in memory. The watcher also deletes the log
// entries every peer acknowledged. A restart sends the log again from its
// start and the peers answer `dup` for what they merged (at-least-once; the
// merge is idempotent). A peer that is down, slow or refusing is retried
// with capped exponential backoff (backoff.h) and holds up neither the
// other peers nor any decision; the log keeps what it has not acknowledged,
// bounded by `log_max` entries per store (maintain()).
//
// When this host's own scope is `items`, its whitelist entries are not sent
// (the peers would refuse them).
//
// Thread safety: maintain() from one thread (the forwarder's loop); the
// threads stop and join in the destructor. Errors: the constructor throws
// UsageError for a peers file without this host, or std::system_error when
// the listener cannot bind; delivery problems are log lines and metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "exigrey/config.h"
#include "exigrey/peers_file.h"

namespace exigrey::forward {

struct PeerSyncOptions {
  std::string dir;
  StoreOptions store;
  std::string self;              // this host's name in the peers file
  std::vector<PeerEntry> peers;  // the whole file, this host included
  std::string listen;            // ADDR:PORT to listen on; empty: this host's entry
  std::uint32_t rate = 20'000;   // records per second taken from each peer
  std::uint64_t log_max = 1'000'000;
  std::chrono::milliseconds poll{50};
  std::chrono::milliseconds backoff_min{200};
  // Short: a peer is on the site's network, a refused connection costs
  // nothing, and a peer that comes back should be caught up within seconds.
  std::chrono::milliseconds backoff_max{5'000};
  std::chrono::milliseconds timeout{5'000};
};

class PeerSync {
 public:
  PeerSync(PeerSyncOptions options, daemon::Metrics& metrics);
  ~PeerSync();
  PeerSync(const PeerSync&) = delete;
  PeerSync& operator=(const PeerSync&) = delete;

  // Bounds every store's log to log_max entries (logs what it dropped) and
  // updates the log gauges.
  void maintain();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exigrey::forward

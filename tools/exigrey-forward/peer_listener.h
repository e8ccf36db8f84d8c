// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward/peer_listener.h: takes the greylisting batches of the
// site's other MX hosts (docs/multi-mx.md, docs/protocol.md "Peer batches")
// and merges them into the local stores.
//
// Per batch: the sender must be a host of the peers file other than this
// one; the HMAC must be made with its secret (constant-time check); `sent`
// within [now - 24 h, now + 5 min]; the body well formed; whitelist entries
// only from a host whose scope allows them; at most `rate` records per second
// per sender (a token bucket of one second's depth). Then every record is
// merged (merge_from_peer: the join of the two states) and the sender's
// last id committed in the same transaction, and the answer is ACK, or
// `ACK <seq> dup` for a batch at or below that id (a retransmission or a
// replay: nothing changes). A refusal answers NAK with its reason (malformed,
// unknown-peer, bad-mac, too-old, too-new, scope, busy, store), changes
// nothing, is logged with the sender, its address and the reason, and is
// counted in exigrey_forward_peer_batches_refused_total{reason}; `busy` is
// flow control (a peer catching up meets it every batch), logged once a
// minute per sender with a count.
//
// A batch names its store by its plain DB name ("seen"): it is merged into
// <dir>/<db>, which is created if it does not exist yet (as the plugin would
// on its first decision there).
//
// Thread safety: the io_context's thread only; merges run on it (one LMDB
// write transaction per batch). Errors: the constructor throws when it
// cannot bind; a batch's failure is its answer, never an exception.
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/frame_listener.h"
#include "common/metrics.h"
#include "exigrey/config.h"
#include "exigrey/peers_file.h"

namespace exigrey::forward {

struct PeerListenerOptions {
  std::string dir;     // the store directory
  StoreOptions store;  // how to open the stores (from the settings)
  std::string self;    // this host's name in the peers file
  std::vector<PeerEntry> peers;
  std::uint32_t rate = 20'000;  // records per second per sender
};

class PeerListener {
 public:
  PeerListener(asio::io_context& io, const asio::ip::tcp::endpoint& at, PeerListenerOptions options,
               daemon::Metrics& metrics);
  ~PeerListener();
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  void stop();
  std::uint16_t port() const;

 private:
  struct State;
  class Session;
  std::shared_ptr<State> state_;
  daemon::FrameListener listener_;
};

}  // namespace exigrey::forward

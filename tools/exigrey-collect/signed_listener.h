// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/signed_listener.h: signed batches from exigrey-forward
// (docs/protocol.md), over TCP.
//
// Per connection (the framing is common/frame_listener.h's): read a header
// line, the body and the MAC line; check the
// reporter (keys file), the HMAC-SHA256 (constant time), the time window
// and the body; then count only reports whose id is above the reporter's
// committed cursor and answer ACK once they and the new cursor are durable
// (Aggregator::submit_signed). Retransmissions and replays answer
// `ACK <seq> dup` and count nothing. A refusal answers NAK with its reason,
// is logged (reporter, peer, reason; never a secret) and counted in
// exigrey_collect_batches_refused_total{reason}; unknown-reporter, bad-mac
// and malformed also close the connection.
//
// TLS: with a certificate and key (TlsFiles), every connection must
// complete a TLS handshake (TLS 1.2 or later) within idle_timeout first; the
// HMAC still authenticates each batch, TLS adds confidentiality.
//
// Limits: header and MAC lines kMaxProtocolLine, body kMaxBatchBody, at most
// max_connections connections (new ones beyond are closed), idle_timeout
// between batches. One batch of a reporter is committed at a time: a second
// connection of the same reporter meanwhile gets `NAK busy`.
//
// Thread safety: the io_context's thread only.
#pragma once

#include <asio.hpp>
#include <memory>

#include "aggregator.h"
#include "common/frame_listener.h"
#include "common/metrics.h"
#include "exigrey/clock.h"
#include "exigrey/collect_config.h"
#include "exigrey/keys.h"
#include "exigrey/reputation.h"

namespace exigrey::collect {

using daemon::TlsFiles;

class SignedListener {
 public:
  // Binds and listens now; throws std::system_error when it cannot (also
  // for unreadable TLS files).
  SignedListener(asio::io_context& io, const Endpoint& at, Aggregator& aggregator,
                 const ReputationStore& store, daemon::Metrics& metrics, const Clock& clock,
                 KeyRing keys, ListenerLimits limits, const TlsFiles& tls = {});
  ~SignedListener();
  SignedListener(const SignedListener&) = delete;
  SignedListener& operator=(const SignedListener&) = delete;

  void set_keys(KeyRing keys);
  void set_limits(ListenerLimits limits);
  void stop();
  std::uint16_t port() const;

  // The reporter id under which a signed reporter's votes are stored.
  static std::string reporter_id(std::string_view reporter);

 private:
  struct State;
  class Session;
  std::shared_ptr<State> state_;
  daemon::FrameListener listener_;
};

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
// common/frame_listener.h: a TCP (optionally TLS) listener for the signed
// frames of docs/protocol.md: a header line, a body of the length the header
// gives, a MAC line; one answer line per frame; frames follow each other on
// one connection. exigrey-collect takes report batches with it and
// exigrey-forward takes its peers' greylisting batches: the framing, the
// limits and the connection handling are this file's, what a frame means
// and whether it is accepted are the session's.
//
// Per connection the listener makes one FrameSession (SessionFactory). The
// session parses the header (FrameSession::on_header: the body length, or a
// refusal that is answered and closes the connection, since the stream
// cannot be resynchronised), then gets the whole frame (on_frame) and
// answers it through the Reply, now or later (a commit on another thread
// may answer through asio::post). The session logs and counts refusals.
//
// Limits: a header or MAC line longer than kMaxProtocolLine, a body above
// FrameLimits::max_body (both checked before reading on), more than
// max_connections open (new ones are closed at once), idle_timeout without a
// complete frame (the timer stops while the session holds a frame). A TLS
// handshake (TLS 1.2 or later) must finish within idle_timeout.
//
// Errors: the constructor throws std::system_error when it cannot bind or
// read the TLS files. Thread safety: the io_context's thread only; the
// listener and its sessions never throw into the io_context.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "exigrey/batch.h"

namespace exigrey::daemon {

struct TlsFiles {
  std::string cert;  // PEM chain; empty: plain TCP
  std::string key;
};

struct FrameLimits {
  std::size_t max_body = kMaxBatchBody;
  std::int64_t idle_timeout = 30;  // seconds
  std::size_t max_connections = 512;
};

// Answers a frame: the answer line, and whether to close after it.
using Reply = std::function<void(const Answer& answer, bool close_after)>;

class FrameSession {
 public:
  virtual ~FrameSession() = default;
  // `line` without "\n". The body length, or the refusal to answer (then
  // the connection is closed).
  struct Next {
    std::size_t body_length = 0;
    std::optional<Answer> refuse;
  };
  virtual Next on_header(std::string_view line) = 0;
  // A frame the listener refused (a line or body above its limit): log and
  // count `why`; the answer is sent and the connection closed.
  virtual Answer on_malformed(std::string_view why) = 0;
  // `header_line` with its "\n", `mac_line` without. Calls `reply` once.
  virtual void on_frame(const std::string& header_line, const std::string& body,
                        std::string_view mac_line, Reply reply) = 0;
};

using SessionFactory = std::function<std::unique_ptr<FrameSession>(const std::string& peer)>;

class FrameListener {
 public:
  // `name` prefixes its log lines ("signed", "peers"); `open` counts the
  // open connections (a metrics gauge).
  FrameListener(asio::io_context& io, const asio::ip::tcp::endpoint& at, std::string name,
                SessionFactory sessions, FrameLimits limits, std::atomic<std::int64_t>& open,
                const TlsFiles& tls = {});
  ~FrameListener();
  FrameListener(const FrameListener&) = delete;
  FrameListener& operator=(const FrameListener&) = delete;

  void set_limits(FrameLimits limits);
  void stop();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace exigrey::daemon

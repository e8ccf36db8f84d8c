// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/plain_listener.h: the seed's plain protocol over TCP.
//
// Accepts connections on one address, only from sources in the allow-list
// (others are closed at once and counted). Each connection is read as
// `VERB SUBJECT [NOTE]` lines (plain_line.h) and answered with nothing: a
// client may send one line and close (Exim's ${readsocket}, socat), or keep
// the connection open and stream lines. Each good line goes to the
// Aggregator with the reporter id "plain:<source address>" (an IPv6 source
// counts as its /64, so one host cannot pose as many reporters).
//
// Limits on everything a client controls (ListenerLimits):
//   - a line is at most max_line bytes; a longer one is counted (too_long)
//     and skipped, and a line beyond kAbusiveLineFactor x max_line (at least
//     64 KiB) closes the connection: it is not the protocol;
//   - bad lines are counted by reason and skipped; after max_bad_lines of
//     them the connection is closed as abusive;
//   - a connection without a complete line for idle_timeout is closed;
//   - at most max_connections are open; a new one closes the connection
//     that has been idle longest, so idle floods cannot lock reporters out;
//   - reports per second per source are limited by a token bucket
//     (source_rate, source_burst); excess lines are counted (rate_limited);
//   - a connection buffers at most its partial line: sockets are read, when
//     readable, into one buffer shared by all (at most 256 KiB per connection
//     per turn of the loop, for fairness).
// A bad client only ever loses its own connection.
//
// Thread safety: use from the io_context's thread only.
#pragma once

#include <asio.hpp>
#include <memory>

#include "aggregator.h"
#include "collect_metrics.h"
#include "exigrey/collect_config.h"
#include "exigrey/ip_network.h"

namespace exigrey::collect {

class PlainListener {
 public:
  static constexpr std::size_t kAbusiveLineFactor = 16;
  static constexpr std::size_t kMinAbusiveLine = 64 * 1024;

  // Binds and listens now; throws std::system_error naming nothing (the
  // caller adds the address) when it cannot.
  PlainListener(asio::io_context& io, const Endpoint& at, Aggregator& aggregator,
                CollectMetrics& metrics, ListenerLimits limits, NetworkSet allow);
  ~PlainListener();
  PlainListener(const PlainListener&) = delete;
  PlainListener& operator=(const PlainListener&) = delete;

  // New limits apply at once (max_line to new connections only).
  void set_limits(ListenerLimits limits, NetworkSet allow);
  // Stops accepting and closes every connection.
  void stop();
  std::uint16_t port() const;

  // The reporter id of a plain source.
  static std::string reporter_id(const IpAddress& source);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace exigrey::collect

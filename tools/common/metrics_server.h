// SPDX-License-Identifier: GPL-2.0-or-later
// common/metrics_server.h: answers `GET /metrics` over HTTP/1.0-style
// one-shot connections on the caller's io_context.
//
// Bounded like every listener: the request head may be at most 4 KiB and
// must arrive within 5 s; at most 16 connections at once, more are closed
// at once. Other paths get 404, other methods 405. The listener never throws
// out of its handlers; a failed accept is logged and accepting goes on.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <string>

#include "exigrey/endpoint.h"

namespace exigrey::daemon {

class MetricsServer {
 public:
  // Binds now (throws std::system_error naming the address when it cannot).
  MetricsServer(asio::io_context& io, const Endpoint& where, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  std::uint16_t port() const;  // the bound port (useful with port 0 in tests)

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace exigrey::daemon

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/web_listener.h: the public lookup web page and JSON API
// (web_page.h renders them), an HTTP/1.1 server on the caller's io_context.
//
// Routes:
//   GET  /                 the lookup form
//   GET  /lookup?q=Q       the answer for Q, HTML
//   GET  /api/lookup?q=Q   the same, application/json
//   POST /request          a removal request (form: subject, contact, message), HTML
//   POST /api/request      the same, answering {"outcome":"recorded"|...}
// Other paths get 404, other methods on these paths 405 with Allow.
//
// One request per connection, answered with `Connection: close`. Limits on
// everything a client controls (WebLimits):
//   - the request head is at most kMaxHead bytes (414 when the request line
//     alone is longer, 431 otherwise), a body at most kMaxBody bytes and only
//     with a valid Content-Length (411 without, 413 beyond, 400 when bad or
//     combined with Transfer-Encoding); `q` at most kMaxQueryBytes (414);
//     malformed requests and bad form encoding get 400;
//   - a connection lives at most `timeout` from accept to close (a slow
//     client is closed without an answer);
//   - at most max_connections are open; a new one closes the oldest;
//   - lookups and removal requests per client address (an IPv6 client
//     counts as its /64) are limited by token buckets; over the limit, 429
//     with Retry-After. The bucket table holds at most max_clients entries,
//     dropping the least recently seen.
// Every response carries a strict Content-Security-Policy (no script at
// all), nosniff, no-referrer and no-store headers. LookupFn and RequestFn
// run on the io_context's thread and should be quick; an exception from
// them becomes a 500 page. The RequestFn enforces its storage bounds
// (kFull) and the listener checks the fields' sizes and shapes first
// (kInvalid without calling it).
//
// Metrics: exigrey_collect_web_requests_total{route}, _web_refused_total
// {reason}, exigrey_collect_removal_requests_total{outcome}. Refusals (and
// failed requests) are logged at most once a second; the count of those not
// logged follows within a second, so a flood costs a line a second.
//
// Thread safety: use from the io_context's thread only. The handlers hold
// the listener's state alive, so destroying the WebListener (which stops
// it) is safe while connections are open.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "exigrey/endpoint.h"
#include "web_page.h"

namespace exigrey::collect {

struct WebLimits {
  std::size_t max_connections = 64;
  std::chrono::seconds timeout{10};
  // Token buckets per client IP (per second, burst); a rate of 0 is no limit.
  double lookup_rate = 5, lookup_burst = 20;          // GET /lookup and /api/lookup
  double request_rate = 1.0 / 60, request_burst = 3;  // removal requests
  std::size_t max_clients = 10000;                    // bounded rate table (evict oldest)
};

class WebListener {
 public:
  static constexpr std::size_t kMaxHead = 8 * 1024;
  static constexpr std::size_t kMaxBody = 4 * 1024;

  using LookupFn = std::function<PublicView(std::string_view query)>;
  using RequestFn =
      std::function<RequestOutcome(const std::string& subject, const std::string& contact,
                                   const std::string& message, const std::string& client)>;

  // Binds and listens now; throws std::system_error naming the address
  // when it cannot. `where.host` must be an address literal.
  WebListener(asio::io_context& io, const Endpoint& where, WebText text, WebLimits limits,
              LookupFn lookup, RequestFn request, daemon::Metrics& metrics);
  ~WebListener();
  WebListener(const WebListener&) = delete;
  WebListener& operator=(const WebListener&) = delete;

  // Apply to the next request (max_connections and timeout to new connections).
  void set_text(WebText text);
  void set_limits(WebLimits limits);
  std::uint16_t port() const;  // the bound port (useful with port 0 in tests)
  // Stops accepting and closes every connection.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace exigrey::collect

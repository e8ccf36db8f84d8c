// SPDX-License-Identifier: GPL-2.0-or-later
#include "web_listener.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/accept_loop.h"
#include "common/log.h"
#include "exigrey/text.h"

namespace exigrey::collect {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

constexpr std::size_t kReadChunk = 4096;
// After the answer, the rest of what the client sent is read and dropped
// for a moment before closing: closing with unread bytes would send a reset
// that can destroy the answer before the client reads it (a 413 or 431).
constexpr auto kLinger = std::chrono::seconds(2);
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
constexpr auto kLogEvery = std::chrono::seconds(1);

constexpr std::string_view kSecurityHeaders =
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n"
    "Cache-Control: no-store\r\n";

enum class Route : std::size_t {
  kHome,
  kLookup,
  kApiLookup,
  kRequest,
  kApiRequest,
  kOther,
  kCount
};
constexpr std::array<std::string_view, 6> kRouteNames = {"home",    "lookup",      "api_lookup",
                                                         "request", "api_request", "other"};

enum class Refusal : std::size_t {
  kRate,
  kTooLarge,
  kBadRequest,
  kNotFound,
  kMethod,
  kConnections,
  kTimeout,
  kCount
};
constexpr std::array<std::string_view, 7> kRefusalNames = {
    "rate", "too_large", "bad_request", "not_found", "method", "connections", "timeout"};

constexpr std::array<RequestOutcome, 6> kOutcomes = {
    RequestOutcome::kRecorded,    RequestOutcome::kAlreadyPending, RequestOutcome::kNotListed,
    RequestOutcome::kRateLimited, RequestOutcome::kFull,           RequestOutcome::kInvalid};

Route route_of(std::string_view path) {
  if (path == "/") return Route::kHome;
  if (path == "/lookup") return Route::kLookup;
  if (path == "/api/lookup") return Route::kApiLookup;
  if (path == "/request") return Route::kRequest;
  if (path == "/api/request") return Route::kApiRequest;
  return Route::kOther;
}

bool is_post_route(Route r) { return r == Route::kRequest || r == Route::kApiRequest; }

struct Response {
  int status = 200;
  bool json = false;
  std::string body;
  std::string headers;  // extra header lines, each ending in \r\n
};

std::string serialize(const Response& r) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}; charset=utf-8\r\nContent-Length: {}\r\n{}{}"
      "Connection: close\r\n\r\n{}",
      r.status, status_reason(r.status), r.json ? "application/json" : "text/html", r.body.size(),
      r.headers, kSecurityHeaders, r.body);
}

bool is_tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110's optional white space: space and tab only (a CR inside a field
// line is not white space in HTTP).
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct Head {
  std::string method;
  std::string path;
  std::string query;
  std::optional<std::size_t> content_length;
  bool transfer_encoding = false;
  std::string content_type;  // lower case, without parameters
};

// A request head that is not HTTP/1.x as RFC 9112 writes it: status and why.
struct BadHead {
  int status;
  std::string_view why;
};

// Parses the head (without the final empty line). Strict: what a browser
// or an ordinary client never sends is refused rather than guessed at.
std::variant<Head, BadHead> parse_head(std::string_view text) {
  Head h;
  const std::size_t eol = text.find("\r\n");
  const std::string_view line = text.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 2);

  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return BadHead{400, "malformed request line"};
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 16) return BadHead{400, "malformed request line"};
  for (const char c : method) {
    if (!is_tchar(c)) return BadHead{400, "malformed method"};
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/") && version.size() == 8) {
      return BadHead{505, "only HTTP/1.0 and HTTP/1.1"};
    }
    return BadHead{400, "malformed request line"};
  }
  if (target.empty() || target.front() != '/') return BadHead{400, "the target must be a path"};
  for (const char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') return BadHead{400, "bad byte in the target"};
  }
  h.method = std::string(method);
  const std::size_t qm = target.find('?');
  h.path = std::string(target.substr(0, qm));
  if (qm != std::string_view::npos) h.query = std::string(target.substr(qm + 1));

  bool host = false;
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n");
    const std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    const std::size_t colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos) return BadHead{400, "malformed header"};
    const std::string_view name = field.substr(0, colon);
    for (const char c : name) {
      if (!is_tchar(c)) return BadHead{400, "malformed header"};  // also obs-fold, "Name :"
    }
    const std::string_view value = trim_ows(field.substr(colon + 1));
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return BadHead{400, "control byte in a header"};
    }
    const std::string key = ascii_lower(name);
    if (key == "host") {
      if (host) return BadHead{400, "two Host headers"};
      host = true;
    } else if (key == "content-length") {
      if (value.empty() || value.size() > 9)
        return BadHead{value.empty() ? 400 : 413, "bad Content-Length"};
      std::size_t n = 0;
      for (const char c : value) {
        if (c < '0' || c > '9') return BadHead{400, "bad Content-Length"};
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      if (h.content_length && *h.content_length != n) return BadHead{400, "two Content-Lengths"};
      h.content_length = n;
    } else if (key == "transfer-encoding") {
      h.transfer_encoding = true;
    } else if (key == "content-type") {
      h.content_type = ascii_lower(trim_ows(value.substr(0, value.find(';'))));
    }
  }
  if (version == "HTTP/1.1" && !host) return BadHead{400, "HTTP/1.1 without Host"};
  if (h.transfer_encoding && h.content_length) {
    return BadHead{400, "Content-Length with Transfer-Encoding"};
  }
  return h;
}

// An e-mail address as people type it: local@domain, no spaces, no
// characters that only serve to build headers or lists. Not RFC 5322 in
// full (quoted local parts are refused), which no one needs here.
bool plausible_email(std::string_view s) {
  if (s.size() > kMaxContactBytes) return false;
  const std::size_t at = s.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == s.size() || at > 64) return false;
  for (const char c : s.substr(0, at)) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f ||
        std::string_view("<>()[]\\,;:\"@").find(c) != std::string_view::npos) {
      return false;
    }
  }
  const std::string_view domain = s.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (const char c : domain) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = u >= 0x80 || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                    (u >= '0' && u <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The rate-limit key of a client: its address, an IPv6 one as its /64 (one
// host usually has a whole /64 to pick addresses from).
std::string client_key(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_string();
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes).to_string() + "/64";
}

std::string client_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

struct Bucket {
  double tokens = 0;
  Clock::time_point last{};
  bool used = false;
};

// Takes a token; returns 0 on success, otherwise the whole seconds until
// one is there (for Retry-After). A rate of 0 (or less) means no limit.
long take(Bucket& b, double rate, double burst, Clock::time_point now) {
  if (rate <= 0) return 0;
  if (!b.used) {
    b.tokens = burst;
    b.used = true;
  } else {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst, b.tokens + elapsed * rate);
  }
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double wait = std::ceil((1.0 - b.tokens) / rate);
  return wait >= 86400 ? 86400L : std::max(1L, static_cast<long>(wait));
}

// At most one log line a second: a flood of refusals must not flood the log.
struct LogThrottle {
  // nullopt: do not log now; otherwise log, with this many lines not logged since.
  std::optional<std::uint64_t> admit() {
    const auto now = Clock::now();
    if (logged_once && now - last < kLogEvery) {
      ++unlogged;
      return std::nullopt;
    }
    logged_once = true;
    last = now;
    return std::exchange(unlogged, 0);
  }
  // The count not logged, which the caller logs now.
  std::uint64_t take_unlogged() {
    if (unlogged == 0) return 0;
    last = Clock::now();
    return std::exchange(unlogged, 0);
  }
  static std::string suffix(std::uint64_t n) {
    return n == 0 ? std::string() : fmt::format(" ({} more not logged)", n);
  }
  Clock::time_point last{};
  std::uint64_t unlogged = 0;
  bool logged_once = false;
};

}  // namespace

struct WebListener::Impl : std::enable_shared_from_this<WebListener::Impl> {
  struct Connection;
  using ConnectionList = std::list<std::shared_ptr<Connection>>;

  struct Connection : std::enable_shared_from_this<Connection> {
    enum class State { kHead, kBody, kWriting, kLingering, kClosed };

    Connection(std::shared_ptr<Impl> owner, tcp::socket s, asio::ip::address from)
        : impl(std::move(owner)),
          socket(std::move(s)),
          timer(socket.get_executor()),
          key(client_key(from)),
          client(client_text(from)) {}

    void start(std::chrono::seconds timeout) {
      timer.expires_after(timeout);
      arm_timer();
      read();
    }

    void arm_timer() {
      timer.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec || self->state == State::kClosed) return;
        if (self->state != State::kLingering)
          self->impl->refuse(Refusal::kTimeout, self->client, "too slow");
        self->close();
      });
    }

    void read() {
      socket.async_read_some(
          asio::buffer(chunk),
          [self = shared_from_this()](std::error_code ec, std::size_t n) { self->on_read(ec, n); });
    }

    void on_read(std::error_code ec, std::size_t n) {
      if (state == State::kClosed) return;
      if (state == State::kLingering) {
        lingered += n;
        if (ec || lingered > kMaxLingerBytes) {
          close();
        } else {
          read();
        }
        return;
      }
      if (ec) {
        close();  // the client went away before its request was complete
        return;
      }
      buf.append(chunk.data(), n);
      try {
        if (state == State::kHead) {
          on_head_bytes();
        } else if (state == State::kBody) {
          on_body_bytes();
        }
      } catch (const std::exception& e) {
        // A failing LookupFn or RequestFn (the store, say): this client
        // gets a 500, the listener goes on.
        impl->failed(client, e.what());
        if (state == State::kHead || state == State::kBody) {
          respond(Response{500,
                           head.path.starts_with("/api/"),
                           head.path.starts_with("/api/")
                               ? render_error_json(500, "internal error")
                               : render_error_page(500, "internal error"),
                           {}});
        }
      }
      if (state == State::kHead || state == State::kBody) read();
    }

    void on_head_bytes() {
      const std::size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos || end + 4 > kMaxHead) {
        if (end == std::string::npos && buf.size() <= kMaxHead) return;  // more to come
        ++impl->route_counter(Route::kOther);
        const std::size_t eol = buf.find("\r\n");
        if (eol == std::string::npos || eol > kMaxHead) {
          refuse(Refusal::kTooLarge, 414, "the request line is too long", false);
        } else {
          refuse(Refusal::kTooLarge, 431, "the request head is too large", false);
        }
        return;
      }
      auto parsed = parse_head(std::string_view(buf).substr(0, end));
      body_start = end + 4;
      if (const auto* bad = std::get_if<BadHead>(&parsed)) {
        ++impl->route_counter(Route::kOther);
        refuse(bad->status == 413 ? Refusal::kTooLarge : Refusal::kBadRequest, bad->status,
               bad->why, false);
        return;
      }
      head = std::move(std::get<Head>(parsed));
      impl->handle_head(*this);
    }

    void on_body_bytes() {
      if (buf.size() - body_start < *head.content_length) return;
      impl->handle_body(*this);
    }

    // Answers with an error page (JSON on /api/) and counts the refusal.
    void refuse(Refusal reason, int status, std::string_view why, bool json,
                std::string headers = {}) {
      impl->refuse(reason, client, why);
      Response r{status, json,
                 json ? render_error_json(status, why) : render_error_page(status, why),
                 std::move(headers)};
      respond(std::move(r));
    }

    void respond(Response r) {
      state = State::kWriting;
      reply = serialize(r);
      asio::async_write(socket, asio::buffer(reply),
                        [self = shared_from_this()](std::error_code ec, std::size_t) {
                          if (self->state == State::kClosed) return;
                          if (ec) {
                            self->close();
                            return;
                          }
                          self->linger();
                        });
    }

    void linger() {
      state = State::kLingering;
      std::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      timer.expires_after(kLinger);  // cancels the deadline's wait
      arm_timer();
      buf.clear();
      buf.shrink_to_fit();
      read();
    }

    void close() {
      if (state == State::kClosed) return;
      const auto keep = shared_from_this();  // the list may hold the last reference
      state = State::kClosed;
      timer.cancel();
      std::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      impl->connections.erase(position);
    }

    std::shared_ptr<Impl> impl;
    tcp::socket socket;
    asio::steady_timer timer;
    std::string key;     // rate-limit key
    std::string client;  // the address, for RequestFn and the log
    std::array<char, kReadChunk> chunk{};
    std::string buf;
    std::size_t body_start = 0;
    std::size_t lingered = 0;
    Head head;
    Route route = Route::kOther;
    std::string reply;
    State state = State::kHead;
    ConnectionList::iterator position;
  };

  struct Client {
    Bucket lookup, request;
    std::list<std::string>::iterator position;
  };

  Impl(asio::io_context& io, WebText t, WebLimits l, LookupFn lf, RequestFn rf, daemon::Metrics& m)
      : acceptor(io),
        accept_retry(io),
        flush_timer(io),
        text(std::move(t)),
        limits(l),
        lookup_fn(std::move(lf)),
        request_fn(std::move(rf)) {
    for (std::size_t i = 0; i < kRouteNames.size(); ++i) {
      routes[i] = &m.counter("exigrey_collect_web_requests_total",
                             "Requests to the public lookup page and API, by route.",
                             fmt::format("route=\"{}\"", kRouteNames[i]));
    }
    for (std::size_t i = 0; i < kRefusalNames.size(); ++i) {
      refusals[i] = &m.counter("exigrey_collect_web_refused_total",
                               "Web requests and connections refused, by reason.",
                               fmt::format("reason=\"{}\"", kRefusalNames[i]));
    }
    for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
      outcomes[i] = &m.counter("exigrey_collect_removal_requests_total",
                               "Removal requests received on the web page and API, by outcome.",
                               fmt::format("outcome=\"{}\"", to_string(kOutcomes[i])));
    }
  }

  std::atomic<std::uint64_t>& route_counter(Route r) {
    return *routes[static_cast<std::size_t>(r)];
  }

  void count_outcome(RequestOutcome o) {
    for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
      if (kOutcomes[i] == o) ++*outcomes[i];
    }
  }

  void accept() { daemon::accept_loop(shared_from_this(), "web", &Impl::take_connection); }

  void take_connection(tcp::socket s) {
    try {
      admit(std::move(s));
    } catch (const std::exception& e) {
      LOG_WARNING("web: could not take a connection: {}", e.what());
    }
  }

  void admit(tcp::socket s) {
    std::error_code ec;
    const tcp::endpoint peer = s.remote_endpoint(ec);
    if (ec) return;  // already gone
    // A connection that has had its answer goes first, silently; then the
    // oldest: a flood of idle connections has to outrun the ordinary
    // clients rather than just fill the table once.
    while (connections.size() >= std::max<std::size_t>(1, limits.max_connections)) {
      const auto done = std::find_if(connections.begin(), connections.end(), [](const auto& c) {
        return c->state == Connection::State::kLingering;
      });
      if (done != connections.end()) {
        (*done)->close();
        continue;
      }
      const auto oldest = connections.front();
      refuse(Refusal::kConnections, oldest->client, "too many connections, closed the oldest");
      oldest->close();
    }
    auto c = std::make_shared<Connection>(shared_from_this(), std::move(s), peer.address());
    connections.push_back(c);
    c->position = std::prev(connections.end());
    c->start(limits.timeout);
  }

  // Counts a refusal; logs at most one line a second, and the count of
  // those not logged a second later (schedule_flush), so none goes unaccounted.
  void refuse(Refusal reason, const std::string& client, std::string_view why) {
    ++*refusals[static_cast<std::size_t>(reason)];
    if (const auto unlogged = refusal_log.admit()) {
      LOG_INFO("web: refused {} ({}): {}{}", client,
               kRefusalNames[static_cast<std::size_t>(reason)], daemon::printable(why, 120),
               LogThrottle::suffix(*unlogged));
    } else {
      schedule_flush();
    }
  }

  void failed(const std::string& client, std::string_view what) {
    if (const auto unlogged = failure_log.admit()) {
      LOG_WARNING("web: request from {} failed: {}{}", client, daemon::printable(what, 200),
                  LogThrottle::suffix(*unlogged));
    } else {
      schedule_flush();
    }
  }

  void schedule_flush() {
    if (flush_pending || stopped) return;
    flush_pending = true;
    flush_timer.expires_after(kLogEvery);
    flush_timer.async_wait([self = shared_from_this()](std::error_code ec) {
      self->flush_pending = false;
      if (ec || self->stopped) return;
      if (const auto n = self->refusal_log.take_unlogged()) {
        LOG_INFO("web: {} more refusals not logged", n);
      }
      if (const auto n = self->failure_log.take_unlogged()) {
        LOG_WARNING("web: {} more failed requests not logged", n);
      }
    });
  }

  // 0, or the seconds the client has to wait.
  long take_token(const std::string& key, bool removal) {
    const auto now = Clock::now();
    auto it = clients.find(key);
    if (it == clients.end()) {
      while (!lru.empty() && clients.size() >= std::max<std::size_t>(1, limits.max_clients)) {
        clients.erase(lru.front());
        lru.pop_front();
      }
      lru.push_back(key);
      it = clients.emplace(key, Client{{}, {}, std::prev(lru.end())}).first;
    } else {
      lru.splice(lru.end(), lru, it->second.position);
    }
    Client& c = it->second;
    return removal ? take(c.request, limits.request_rate, limits.request_burst, now)
                   : take(c.lookup, limits.lookup_rate, limits.lookup_burst, now);
  }

  void handle_head(Connection& c) {
    const Head& h = c.head;
    c.route = route_of(h.path);
    ++route_counter(c.route);
    const bool json = h.path.starts_with("/api/");
    if (c.route == Route::kOther) {
      c.refuse(Refusal::kNotFound, 404, "there is nothing here", json);
      return;
    }
    const bool post = is_post_route(c.route);
    if (h.method != (post ? "POST" : "GET")) {
      c.refuse(Refusal::kMethod, 405, post ? "use POST" : "use GET", json,
               post ? "Allow: POST\r\n" : "Allow: GET\r\n");
      return;
    }
    if (!post) {
      if (h.content_length.value_or(0) != 0 || h.transfer_encoding) {
        c.refuse(Refusal::kBadRequest, 400, "a GET request has no body", json);
        return;
      }
      if (c.route == Route::kHome) {
        c.respond(Response{200, false, render_home(text), {}});
        return;
      }
      lookup(c, json);
      return;
    }
    if (!h.content_length) {
      c.refuse(Refusal::kBadRequest, 411, "a request needs a Content-Length", json);
      return;
    }
    if (*h.content_length > kMaxBody) {
      c.refuse(Refusal::kTooLarge, 413, "the request is too large", json);
      return;
    }
    if (h.content_type != "application/x-www-form-urlencoded") {
      c.refuse(Refusal::kBadRequest, 415, "send the form as application/x-www-form-urlencoded",
               json);
      return;
    }
    // Before the body is read: a flood costs neither reading nor parsing.
    if (const long wait = take_token(c.key, true); wait > 0) {
      count_outcome(RequestOutcome::kRateLimited);
      c.refuse(Refusal::kRate, 429, "too many requests, try again later", json,
               fmt::format("Retry-After: {}\r\n", wait));
      return;
    }
    c.state = Connection::State::kBody;
    c.on_body_bytes();
  }

  void lookup(Connection& c, bool json) {
    const Head& h = c.head;
    // Encoded, q is at most three bytes per byte: beyond, no need to decode.
    if (h.query.size() > 3 * kMaxQueryBytes + 64) {
      c.refuse(Refusal::kTooLarge, 414, "the query is too long", json);
      return;
    }
    if (const long wait = take_token(c.key, false); wait > 0) {
      c.refuse(Refusal::kRate, 429, "too many lookups, try again later", json,
               fmt::format("Retry-After: {}\r\n", wait));
      return;
    }
    const auto form = parse_form(h.query);
    if (!form) {
      c.refuse(Refusal::kBadRequest, 400, "the query is not valid form encoding", json);
      return;
    }
    const auto q = form->find("q");
    const std::string query(q == form->end() ? std::string_view() : trim_ows(q->second));
    if (query.size() > kMaxQueryBytes) {
      c.refuse(Refusal::kTooLarge, 414, "the query is too long", json);
      return;
    }
    PublicView view;
    if (query.empty()) {
      view.error = "enter an IP address or a domain name";
    } else {
      view = lookup_fn(query);
      view.query = query;
    }
    c.respond(
        Response{200, json, json ? render_lookup_json(view, text) : render_lookup(view, text), {}});
  }

  void handle_body(Connection& c) {
    const bool json = c.route == Route::kApiRequest;
    const std::string_view body =
        std::string_view(c.buf).substr(c.body_start, *c.head.content_length);
    const auto form = parse_form(body);
    RequestOutcome outcome = RequestOutcome::kInvalid;
    std::string subject;
    if (form) {
      const auto field = [&](const char* name) {
        const auto it = form->find(name);
        return it == form->end() ? std::string() : std::string(trim_ows(it->second));
      };
      subject = field("subject");
      const std::string contact = field("contact");
      const auto message = form->find("message");
      const std::string text_message = message == form->end() ? std::string() : message->second;
      if (!subject.empty() && subject.size() <= kMaxQueryBytes && plausible_email(contact) &&
          text_message.size() <= kMaxMessageBytes) {
        outcome = request_fn(subject, contact, text_message, c.client);
      }
    }
    if (subject.size() > kMaxQueryBytes) subject.clear();  // not echoed back
    count_outcome(outcome);
    if (outcome == RequestOutcome::kRecorded) {
      LOG_INFO("web: removal request for {} from {}", daemon::printable(subject, 260), c.client);
    }
    Response r{http_status(outcome),
               json,
               json ? render_request_json(outcome, subject)
                    : render_request_result(outcome, subject, text),
               {}};
    if (outcome == RequestOutcome::kRateLimited) r.headers = "Retry-After: 60\r\n";
    if (outcome == RequestOutcome::kInvalid)
      refuse(Refusal::kBadRequest, c.client, "invalid removal request");
    c.respond(std::move(r));
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    std::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    flush_timer.cancel();
    while (!connections.empty()) connections.front()->close();
  }

  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  asio::steady_timer flush_timer;
  WebText text;
  WebLimits limits;
  LookupFn lookup_fn;
  RequestFn request_fn;
  std::array<std::atomic<std::uint64_t>*, kRouteNames.size()> routes{};
  std::array<std::atomic<std::uint64_t>*, kRefusalNames.size()> refusals{};
  std::array<std::atomic<std::uint64_t>*, kOutcomes.size()> outcomes{};
  ConnectionList connections;
  std::unordered_map<std::string, Client> clients;
  std::list<std::string> lru;  // client keys, least recently seen first
  LogThrottle refusal_log, failure_log;
  bool flush_pending = false;
  bool stopped = false;
};

WebListener::WebListener(asio::io_context& io, const Endpoint& where, WebText text,
                         WebLimits limits, LookupFn lookup, RequestFn request,
                         daemon::Metrics& metrics)
    : impl_(std::make_shared<Impl>(io, std::move(text), limits, std::move(lookup),
                                   std::move(request), metrics)) {
  try {
    const tcp::endpoint ep(asio::ip::make_address(where.host), where.port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "web listener on " + where.to_string());
  }
  impl_->accept();
}

WebListener::~WebListener() { impl_->stop(); }

void WebListener::set_text(WebText text) { impl_->text = std::move(text); }

void WebListener::set_limits(WebLimits limits) {
  impl_->limits = limits;
  while (impl_->clients.size() > std::max<std::size_t>(1, limits.max_clients)) {
    impl_->clients.erase(impl_->lru.front());
    impl_->lru.pop_front();
  }
}

std::uint16_t WebListener::port() const { return impl_->acceptor.local_endpoint().port(); }

void WebListener::stop() { impl_->stop(); }

}  // namespace exigrey::collect

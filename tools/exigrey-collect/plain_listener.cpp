// SPDX-License-Identifier: GPL-2.0-or-later
#include "plain_listener.h"

#include <array>
#include <chrono>
#include <list>
#include <unordered_map>

#include "common/accept_loop.h"
#include "common/log.h"
#include "exigrey/plain_line.h"

namespace exigrey::collect {
namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;

constexpr std::size_t kReadChunk = 64 * 1024;
// Fairness: one connection reads at most this much per turn of the loop.
constexpr std::size_t kMaxReadPerTurn = 256 * 1024;
constexpr auto kSweepEvery = std::chrono::milliseconds(500);
constexpr auto kBucketIdle = std::chrono::seconds(60);
// Rate buckets kept at most (about 100 bytes each); beyond, new sources go
// unlimited until the sweep frees idle buckets: memory stays bounded.
constexpr std::size_t kMaxBuckets = 65536;

IpAddress from_asio(const asio::ip::address& a) {
  IpAddress out;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  }
  out.v6 = true;
  const auto b = a.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), out.bytes.begin());
  return out.unmapped();
}

struct Bucket {
  double tokens = 0;
  Clock::time_point last;
};

}  // namespace

struct PlainListener::Impl : std::enable_shared_from_this<PlainListener::Impl> {
  struct Connection;
  using ConnectionList = std::list<std::shared_ptr<Connection>>;

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(std::shared_ptr<Impl> owner, tcp::socket s, IpAddress from, std::size_t max_line)
        : impl(std::move(owner)),
          socket(std::move(s)),
          source(from),
          reporter(reporter_id(from)),
          framer(max_line) {}

    // Waits until the socket is readable, then reads what is there into the
    // listener's one shared buffer: a connection owns no read buffer, only
    // its partial line, and everything read in one turn of the loop becomes
    // one store commit.
    void read() {
      socket.async_wait(tcp::socket::wait_read,
                        [self = shared_from_this()](std::error_code ec) { self->on_ready(ec); });
    }

    void on_ready(std::error_code ec) {
      if (closed) return;
      if (ec) {
        close(CloseReason::kError);
        return;
      }
      std::size_t this_turn = 0;
      while (this_turn < kMaxReadPerTurn) {
        const std::size_t n = socket.read_some(asio::buffer(impl->read_buffer), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec) {
          on_end(ec);
          return;
        }
        this_turn += n;
        impl->metrics.bytes_received += n;
        process(std::string_view(impl->read_buffer.data(), n));
        if (closed || !check_abuse()) return;
      }
      read();
    }

    void on_end(std::error_code ec) {
      if (ec != asio::error::eof) {
        close(CloseReason::kError);
        return;
      }
      if (framer.has_partial()) {
        const bool long_line = framer.discarding() > 0;
        ++impl->metrics.rejected(long_line ? LineError::kTooLong : LineError::kPartial);
        LOG_DEBUG("plain {}: {} line at end of connection dropped", source.to_string(),
                  long_line ? "over-long" : "incomplete");
      }
      close(CloseReason::kEof);
    }

    // Closes the connection if it is plainly abusive; returns false then.
    bool check_abuse() {
      const std::size_t abusive_line =
          std::max(kMinAbusiveLine, kAbusiveLineFactor * framer.max_line());
      if (framer.discarding() > abusive_line) {
        ++impl->metrics.rejected(LineError::kTooLong);
        LOG_DEBUG("plain {}: closed, a line of over {} bytes is not the protocol",
                  source.to_string(), abusive_line);
        close(CloseReason::kAbusive);
        return false;
      }
      if (bad_lines > impl->limits.max_bad_lines) {
        LOG_DEBUG("plain {}: closed after {} bad lines", source.to_string(), bad_lines);
        close(CloseReason::kAbusive);
        return false;
      }
      return true;
    }

    void process(std::string_view data) {
      framer.feed(data, [&](std::string_view line, bool too_long) {
        if (bad_lines > impl->limits.max_bad_lines) return;  // closing after this read
        impl->touch(*this);
        if (too_long) {
          reject(LineError::kTooLong, "line too long");
          return;
        }
        PlainLine p = parse_plain_line(line);
        if (p.error == LineError::kBlank) return;
        if (p.error != LineError::kNone) {
          reject(p.error, p.message);
          return;
        }
        if (!impl->take_token(reporter)) {
          ++impl->metrics.rate_limited();
          return;
        }
        impl->aggregator.submit(std::move(p.report), reporter);
      });
    }

    void reject(LineError error, std::string_view why) {
      ++bad_lines;
      ++impl->metrics.rejected(error);
      LOG_DEBUG("plain {}: bad line ({}): {}", source.to_string(), to_string(error),
                daemon::printable(why, 160));
    }

    void close(CloseReason reason) {
      if (closed) return;
      const auto keep = shared_from_this();  // the list may hold the last reference
      closed = true;
      ++impl->metrics.closed(reason);
      --impl->metrics.connections_open;
      std::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      impl->connections.erase(position);
    }

    std::shared_ptr<Impl> impl;
    tcp::socket socket;
    IpAddress source;
    std::string reporter;
    LineFramer framer;
    std::size_t bad_lines = 0;
    Clock::time_point last_active = Clock::now();
    ConnectionList::iterator position;
    bool closed = false;
  };

  Impl(asio::io_context& io_context, Aggregator& agg, CollectMetrics& m, ListenerLimits l,
       NetworkSet a)
      : io(io_context),
        acceptor(io_context),
        accept_retry(io_context),
        sweep_timer(io_context),
        aggregator(agg),
        metrics(m),
        limits(l),
        allow(std::move(a)) {}

  void accept() { daemon::accept_loop(shared_from_this(), "plain", &Impl::admit); }

  void admit(tcp::socket s) {
    std::error_code ec;
    const tcp::endpoint peer = s.remote_endpoint(ec);
    if (ec) return;  // already gone
    const IpAddress from = from_asio(peer.address());
    if (!allow.contains(from)) {
      ++metrics.connections_denied;
      LOG_DEBUG("plain: refused connection from {}: not in the allow-list", from.to_string());
      s.close(ec);
      return;
    }
    while (connections.size() >= limits.max_connections && !connections.empty()) {
      connections.front()->close(CloseReason::kEvicted);
    }
    s.non_blocking(true, ec);
    if (ec) return;
    ++metrics.connections_accepted;
    ++metrics.connections_open;
    auto c = std::make_shared<Connection>(shared_from_this(), std::move(s), from, limits.max_line);
    connections.push_back(c);
    c->position = std::prev(connections.end());
    c->read();
  }

  // Most recently active last: the front is the longest idle.
  void touch(Connection& c) {
    c.last_active = Clock::now();
    connections.splice(connections.end(), connections, c.position);
  }

  bool take_token(const std::string& source) {
    if (limits.source_rate == 0) return true;
    const auto now = Clock::now();
    if (buckets.size() >= kMaxBuckets && !buckets.contains(source)) return true;
    auto [it, fresh] = buckets.try_emplace(source);
    Bucket& b = it->second;
    const double burst = static_cast<double>(limits.source_burst);
    if (fresh) {
      b.tokens = burst;
    } else {
      const double elapsed = std::chrono::duration<double>(now - b.last).count();
      b.tokens = std::min(burst, b.tokens + elapsed * static_cast<double>(limits.source_rate));
    }
    b.last = now;
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

  void sweep() {
    sweep_timer.expires_after(kSweepEvery);
    sweep_timer.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopped) return;
      const auto now = Clock::now();
      const auto idle = std::chrono::seconds(self->limits.idle_timeout);
      while (!self->connections.empty() && now - self->connections.front()->last_active >= idle) {
        self->connections.front()->close(CloseReason::kIdle);
      }
      std::erase_if(self->buckets,
                    [&](const auto& kv) { return now - kv.second.last > kBucketIdle; });
      self->sweep();
    });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    std::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    sweep_timer.cancel();
    while (!connections.empty()) connections.front()->close(CloseReason::kShutdown);
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  asio::steady_timer sweep_timer;
  Aggregator& aggregator;
  CollectMetrics& metrics;
  ListenerLimits limits;
  NetworkSet allow;
  ConnectionList connections;
  std::vector<char> read_buffer = std::vector<char>(kReadChunk);
  std::unordered_map<std::string, Bucket> buckets;
  bool stopped = false;
};

PlainListener::PlainListener(asio::io_context& io, const Endpoint& at, Aggregator& aggregator,
                             CollectMetrics& metrics, ListenerLimits limits, NetworkSet allow)
    : impl_(std::make_shared<Impl>(io, aggregator, metrics, limits, std::move(allow))) {
  const tcp::endpoint ep(asio::ip::make_address(at.host), at.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->accept();
  impl_->sweep();
}

PlainListener::~PlainListener() { impl_->stop(); }

void PlainListener::set_limits(ListenerLimits limits, NetworkSet allow) {
  impl_->limits = limits;
  impl_->allow = std::move(allow);
}

void PlainListener::stop() { impl_->stop(); }

std::uint16_t PlainListener::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string PlainListener::reporter_id(const IpAddress& source) {
  if (source.v6 && !reserved_networks().contains(source)) {
    return "plain:" + network_of(source, 64).to_string();
  }
  return "plain:" + source.to_string();
}

}  // namespace exigrey::collect

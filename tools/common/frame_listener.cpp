// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/frame_listener.h"

#include <fmt/format.h>

#include <asio/ssl.hpp>
#include <set>

#include "common/accept_loop.h"
#include "common/log.h"

namespace exigrey::daemon {

using asio::ip::tcp;

struct FrameListener::Impl : std::enable_shared_from_this<FrameListener::Impl> {
  struct Conn;

  Impl(asio::io_context& ctx, std::string n, SessionFactory f, FrameLimits l,
       std::atomic<std::int64_t>& g)
      : io(ctx),
        acceptor(ctx),
        accept_retry(ctx),
        name(std::move(n)),
        factory(std::move(f)),
        limits(l),
        open_gauge(g) {}

  void accept() { accept_loop(shared_from_this(), name, &Impl::take); }
  void take(tcp::socket s);

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::string name;
  SessionFactory factory;
  FrameLimits limits;
  std::atomic<std::int64_t>& open_gauge;
  std::set<std::shared_ptr<Conn>> conns;
  std::optional<asio::ssl::context> tls;
  bool stopped = false;
};

struct FrameListener::Impl::Conn : std::enable_shared_from_this<Conn> {
  Conn(std::shared_ptr<Impl> o, tcp::socket s, std::string p, std::unique_ptr<FrameSession> sess)
      : owner(std::move(o)),
        socket(std::move(s)),
        timer(owner->io),
        peer(std::move(p)),
        session(std::move(sess)) {}

  // Runs `op` on the connection's stream: the TLS stream, or the socket.
  template <typename Op>
  void on_stream(Op op) {
    if (stream) {
      op(*stream);
    } else {
      op(socket);
    }
  }

  void start() {
    if (!owner->tls) return read_header();
    stream.emplace(std::move(socket), *owner->tls);
    arm_timer();
    stream->async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](std::error_code ec) {
                              if (ec) {
                                LOG_INFO("{}: TLS handshake with {} failed: {}", self->owner->name,
                                         self->peer, ec.message());
                                return self->close();
                              }
                              self->read_header();
                            });
  }

  tcp::socket& lowest() { return stream ? stream->next_layer() : socket; }
  bool is_open() { return lowest().is_open(); }

  void arm_timer() {
    timer.expires_after(std::chrono::seconds(owner->limits.idle_timeout));
    timer.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->close();
    });
  }

  void close() {
    std::error_code ignored;
    timer.cancel();
    lowest().close(ignored);
    if (owner->conns.erase(shared_from_this()) > 0) --owner->open_gauge;
  }

  // A line of at most kMaxProtocolLine bytes: read_until stops at the
  // buffer's limit, so a peer cannot make us hold more.
  template <typename Then>
  void read_line(Then then) {
    on_stream([this, then](auto& s) {
      asio::async_read_until(s, asio::dynamic_buffer(buf, kMaxProtocolLine + 1), '\n',
                             [self = shared_from_this(), then](std::error_code ec, std::size_t n) {
                               if (ec == asio::error::not_found) {
                                 return self->refuse_line();
                               }
                               if (ec) return self->close();
                               then(self.get(), n);
                             });
    });
  }

  void refuse_line() {
    answer(session->on_malformed(fmt::format("a line above {} bytes", kMaxProtocolLine)), true);
  }

  void read_header() {
    arm_timer();
    read_line([](Conn* c, std::size_t n) { c->on_header(n); });
  }

  void on_header(std::size_t n) {
    header_line = buf.substr(0, n);
    buf.erase(0, n);
    const FrameSession::Next next =
        session->on_header(std::string_view(header_line).substr(0, n - 1));
    if (next.refuse) return answer(*next.refuse, true);
    if (next.body_length > owner->limits.max_body) {
      return answer(session->on_malformed(fmt::format("a body of {} bytes, above {}",
                                                      next.body_length, owner->limits.max_body)),
                    true);
    }
    length = next.body_length;
    const std::size_t have = std::min(buf.size(), length);
    if (have == length) return on_body();
    body = buf;
    buf.clear();
    on_stream([this, have](auto& s) {
      asio::async_read(s, asio::dynamic_buffer(body, length), asio::transfer_exactly(length - have),
                       [self = shared_from_this()](std::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         self->read_mac();
                       });
    });
  }

  void on_body() {
    body = buf.substr(0, length);
    buf.erase(0, length);
    read_mac();
  }

  void read_mac() {
    read_line([](Conn* c, std::size_t n) { c->on_mac(n); });
  }

  void on_mac(std::size_t n) {
    const std::string mac_line = buf.substr(0, n - 1);
    buf.erase(0, n);
    timer.cancel();  // the session's answer is ours to wait for, not the client's idleness
    session->on_frame(header_line, body, mac_line,
                      [self = shared_from_this()](const Answer& a, bool close_after) {
                        self->answer(a, close_after);
                      });
  }

  void answer(const Answer& a, bool close_after) {
    if (!is_open()) return;
    reply = format_answer(a);
    on_stream([this, close_after](auto& s) {
      asio::async_write(s, asio::buffer(reply),
                        [self = shared_from_this(), close_after](std::error_code ec, std::size_t) {
                          if (ec || close_after || self->owner->stopped) return self->close();
                          self->read_header();
                        });
    });
  }

  std::shared_ptr<Impl> owner;
  tcp::socket socket;  // moved into `stream` when TLS is on
  std::optional<asio::ssl::stream<tcp::socket>> stream;
  asio::steady_timer timer;
  std::string peer;
  std::unique_ptr<FrameSession> session;
  std::string buf;
  std::string header_line;
  std::size_t length = 0;
  std::string body;
  std::string reply;
};

void FrameListener::Impl::take(tcp::socket s) {
  std::error_code pe;
  const auto remote = s.remote_endpoint(pe);
  const std::string peer = pe ? "?" : remote.address().to_string();
  if (conns.size() >= limits.max_connections) {
    LOG_WARNING("{}: connection from {} refused: {} open", name, peer, conns.size());
    std::error_code ignored;
    s.close(ignored);
    return;
  }
  auto conn = std::make_shared<Conn>(shared_from_this(), std::move(s), peer, factory(peer));
  conns.insert(conn);
  ++open_gauge;
  conn->start();
}

FrameListener::FrameListener(asio::io_context& io, const tcp::endpoint& at, std::string name,
                             SessionFactory sessions, FrameLimits limits,
                             std::atomic<std::int64_t>& open, const TlsFiles& tls)
    : impl_(std::make_shared<Impl>(io, std::move(name), std::move(sessions), limits, open)) {
  if (!tls.cert.empty()) {
    auto& ctx = impl_->tls.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(tls.cert);
    ctx.use_private_key_file(tls.key, asio::ssl::context::pem);
  }
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at);
  impl_->acceptor.listen();
  impl_->accept();
}

FrameListener::~FrameListener() { stop(); }

void FrameListener::set_limits(FrameLimits limits) { impl_->limits = limits; }

void FrameListener::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->accept_retry.cancel();
  std::error_code ignored;
  impl_->acceptor.close(ignored);
  const auto conns = impl_->conns;  // close() erases from the set
  for (const auto& c : conns) c->close();
}

std::uint16_t FrameListener::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace exigrey::daemon

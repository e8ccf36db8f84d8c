// SPDX-License-Identifier: GPL-2.0-or-later
#include "common/metrics_server.h"

#include <fmt/format.h>

#include "common/log.h"

namespace exigrey::daemon {
namespace {

constexpr std::size_t kMaxRequest = 4096;
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr int kMaxConnections = 16;

}  // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
  Impl(asio::io_context& io, std::function<std::string()> r) : acceptor(io), render(std::move(r)) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        LOG_WARNING("metrics: accept failed: {}", ec.message());
      } else if (self->open >= kMaxConnections) {
        std::error_code ignored;
        s.close(ignored);
      } else {
        self->serve(std::move(s));
      }
      self->accept();
    });
  }

  void serve(asio::ip::tcp::socket s) {
    struct Conn {
      asio::ip::tcp::socket socket;
      asio::steady_timer timer;
      std::string buf;
      std::string reply;
    };
    auto conn = std::make_shared<Conn>(
        Conn{std::move(s), asio::steady_timer(acceptor.get_executor()), {}, {}});
    ++open;
    conn->timer.expires_after(kRequestTimeout);
    conn->timer.async_wait([conn](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        conn->socket.close(ignored);
      }
    });
    auto self = shared_from_this();
    asio::async_read_until(
        conn->socket, asio::dynamic_buffer(conn->buf, kMaxRequest), "\r\n\r\n",
        [self, conn](std::error_code ec, std::size_t) {
          if (ec) {
            conn->timer.cancel();
            --self->open;
            return;
          }
          std::string status = "200 OK";
          std::string body;
          if (!conn->buf.starts_with("GET ")) {
            status = "405 Method Not Allowed";
          } else if (!conn->buf.starts_with("GET /metrics ") &&
                     !conn->buf.starts_with("GET /metrics?")) {
            status = "404 Not Found";
          } else {
            body = self->render();
          }
          conn->reply = fmt::format(
              "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
              status, body.size(), body);
          asio::async_write(conn->socket, asio::buffer(conn->reply),
                            [self, conn](std::error_code, std::size_t) {
                              conn->timer.cancel();
                              std::error_code ignored;
                              conn->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                              conn->socket.close(ignored);
                              --self->open;
                            });
        });
  }

  asio::ip::tcp::acceptor acceptor;
  std::function<std::string()> render;
  int open = 0;
};

MetricsServer::MetricsServer(asio::io_context& io, const Endpoint& where,
                             std::function<std::string()> render)
    : impl_(std::make_shared<Impl>(io, std::move(render))) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(where.host), where.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->accept();
}

MetricsServer::~MetricsServer() {
  std::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::uint16_t MetricsServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace exigrey::daemon

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey-forward/link.h"

#include <fmt/format.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <optional>
#include <stdexcept>

namespace exigrey::forward {

using asio::ip::tcp;

struct Link::Impl {
  explicit Impl(LinkOptions o) : options(std::move(o)) {
    if (!options.tls_ca_file.empty()) {
      tls.emplace(asio::ssl::context::tls_client);
      tls->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      tls->load_verify_file(options.tls_ca_file);
      tls->set_verify_mode(asio::ssl::verify_peer);
    }
  }

  // Runs the io_context until `done` or the deadline; on timeout the
  // connection is torn down, which completes the pending operation.
  void run_until(const bool& done, std::string_view what) {
    io.restart();
    io.run_for(options.timeout);
    if (!done) {
      drop();
      io.restart();
      io.run_for(std::chrono::milliseconds(100));  // let the aborted handlers finish
      throw std::runtime_error(fmt::format("{} timed out", what));
    }
  }

  void connect() {
    tcp::resolver resolver(io);
    std::error_code ec;
    const auto endpoints =
        resolver.resolve(options.collector.host, std::to_string(options.collector.port), ec);
    if (ec) throw std::runtime_error(fmt::format("cannot resolve: {}", ec.message()));
    socket.emplace(io);
    bool done = false;
    asio::async_connect(*socket, endpoints, [&](std::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run_until(done, "connect");
    if (ec) {
      drop();
      throw std::runtime_error(fmt::format("connect failed: {}", ec.message()));
    }
    socket->set_option(tcp::no_delay(true));
    if (tls) {
      stream.emplace(std::move(*socket), *tls);
      socket.reset();
      // SNI; the SSL_set_tlsext_host_name macro hides an old-style cast.
      SSL_ctrl(stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(options.collector.host.c_str()));
      stream->set_verify_callback(asio::ssl::host_name_verification(options.collector.host));
      done = false;
      stream->async_handshake(asio::ssl::stream_base::client, [&](std::error_code e) {
        ec = e;
        done = true;
      });
      run_until(done, "TLS handshake");
      if (ec) {
        drop();
        throw std::runtime_error(fmt::format("TLS handshake failed: {}", ec.message()));
      }
    }
  }

  template <typename Op>
  void io_op(Op op, std::string_view what) {
    std::error_code ec;
    bool done = false;
    auto handler = [&](std::error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    if (stream) {
      op(*stream, handler);
    } else {
      op(*socket, handler);
    }
    run_until(done, what);
    if (ec) {
      drop();
      throw std::runtime_error(fmt::format("{} failed: {}", what, ec.message()));
    }
  }

  Answer exchange(const std::string& frame) {
    if (!socket && !stream) connect();
    io_op([&](auto& s, auto h) { asio::async_write(s, asio::buffer(frame), h); }, "send");
    io_op(
        [&](auto& s, auto h) {
          asio::async_read_until(s, asio::dynamic_buffer(inbox, kMaxProtocolLine), '\n', h);
        },
        "waiting for the answer");
    const auto nl = inbox.find('\n');
    const std::string line = inbox.substr(0, nl);
    inbox.erase(0, nl + 1);
    try {
      return parse_answer(line);
    } catch (const std::exception& e) {
      drop();
      throw std::runtime_error(fmt::format("bad answer: {}", e.what()));
    }
  }

  void drop() noexcept {
    std::error_code ignored;
    if (stream) {
      stream->lowest_layer().close(ignored);
      stream.reset();
    }
    if (socket) {
      socket->close(ignored);
      socket.reset();
    }
    inbox.clear();
  }

  LinkOptions options;
  asio::io_context io;
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::socket> socket;
  std::optional<asio::ssl::stream<tcp::socket>> stream;
  std::string inbox;
};

Link::Link(LinkOptions options)
    : impl_(std::make_unique<Impl>(options)),
      name_(options.collector.to_string()),
      role_(options.role) {}

Link::~Link() { close(); }

Answer Link::exchange(const std::string& frame) {
  try {
    return impl_->exchange(frame);
  } catch (const std::exception& e) {
    impl_->drop();
    throw std::runtime_error(fmt::format("{} {}: {}", role_, name_, e.what()));
  }
}

void Link::close() noexcept { impl_->drop(); }

}  // namespace exigrey::forward

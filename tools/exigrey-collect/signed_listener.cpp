#include "signed_listener.h"

#include <fmt/format.h>

#include <asio/ssl.hpp>
#include <map>
#include <optional>
#include <set>

#include "common/log.h"
#include "exigrey/batch.h"

namespace exigrey::collect {
namespace {

using asio::ip::tcp;

constexpr std::size_t kMaxBuffer = kMaxBatchBody + 2 * kMaxProtocolLine;
constexpr std::string_view kRefusals[] = {"malformed", "unknown-reporter", "bad-mac",
                                          "too-old",   "too-new",          "busy"};

}  // namespace

struct SignedListener::Impl : std::enable_shared_from_this<SignedListener::Impl> {
  struct Conn;

  Impl(asio::io_context& ctx, Aggregator& a, const ReputationStore& s, daemon::Metrics& m,
       const Clock& c, KeyRing k, ListenerLimits l)
      : io(ctx),
        acceptor(ctx),
        aggregator(a),
        store(s),
        clock(c),
        keys(std::move(k)),
        limits(l),
        accepted(m.counter("exigrey_collect_batches_total", "Signed batches answered ACK",
                           "result=\"accepted\"")),
        duplicates(m.counter("exigrey_collect_batches_total", "Signed batches answered ACK",
                             "result=\"dup\"")),
        signed_reports(m.counter("exigrey_collect_signed_reports_total",
                                 "Reports from signed batches counted (duplicates excluded)")),
        open_gauge(m.gauge("exigrey_collect_signed_connections_open",
                           "Open connections on the signed listener")) {
    for (std::string_view r : kRefusals) {
      refused.emplace(std::string(r),
                      &m.counter("exigrey_collect_batches_refused_total",
                                 "Signed batches refused, by reason",
                                 fmt::format("reason=\"{}\"", r)));
    }
  }

  void accept();
  void refuse(const std::string& reason) {
    if (auto it = refused.find(reason); it != refused.end()) ++*it->second;
  }
  std::uint64_t cursor(const std::string& reporter) {
    if (auto it = cursors.find(reporter); it != cursors.end()) return it->second;
    const std::uint64_t c = store.reporter_cursor(reporter_id(reporter));
    cursors.emplace(reporter, c);
    return c;
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  Aggregator& aggregator;
  const ReputationStore& store;
  const Clock& clock;
  KeyRing keys;
  ListenerLimits limits;
  std::map<std::string, std::uint64_t, std::less<>> cursors;  // committed, cached
  std::set<std::string, std::less<>> pending;                 // a batch is being committed
  std::set<std::shared_ptr<Conn>> conns;
  std::atomic<std::uint64_t>& accepted;
  std::atomic<std::uint64_t>& duplicates;
  std::atomic<std::uint64_t>& signed_reports;
  std::atomic<std::int64_t>& open_gauge;
  std::map<std::string, std::atomic<std::uint64_t>*> refused;
  std::optional<asio::ssl::context> tls;
  bool stopped = false;
};

struct SignedListener::Impl::Conn : std::enable_shared_from_this<Conn> {
  Conn(std::shared_ptr<Impl> o, tcp::socket s, std::string p)
      : owner(std::move(o)), socket(std::move(s)), timer(owner->io), peer(std::move(p)) {}

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
                                LOG_INFO("signed: TLS handshake with {} failed: {}", self->peer,
                                         ec.message());
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

  void read_header() {
    arm_timer();
    on_stream([this](auto& s) {
      asio::async_read_until(s, asio::dynamic_buffer(buf, kMaxBuffer), '\n',
                             [self = shared_from_this()](std::error_code ec, std::size_t n) {
                               if (ec) return self->close();
                               self->on_header(n);
                             });
    });
  }

  void on_header(std::size_t n) {
    header_line = buf.substr(0, n);
    buf.erase(0, n);
    try {
      header = parse_batch_header(std::string_view(header_line).substr(0, n - 1));
    } catch (const ProtocolError& e) {
      return refuse(0, "", e.reason(), e.what(), true);
    }
    const auto key = owner->keys.find(header.reporter);
    if (key == owner->keys.end()) {
      return refuse(header.seq, header.reporter, "unknown-reporter", "no such reporter", true);
    }
    secret = key->second;
    const std::size_t have = std::min<std::size_t>(buf.size(), header.length);
    if (have == header.length) return on_body();
    on_stream([this, have](auto& s) {
      asio::async_read(s, asio::dynamic_buffer(buf, kMaxBuffer),
                       asio::transfer_exactly(header.length - have),
                       [self = shared_from_this()](std::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         self->on_body();
                       });
    });
  }

  void on_body() {
    body = buf.substr(0, header.length);
    buf.erase(0, header.length);
    on_stream([this](auto& s) {
      asio::async_read_until(s, asio::dynamic_buffer(buf, kMaxBuffer), '\n',
                             [self = shared_from_this()](std::error_code ec, std::size_t n) {
                               if (ec) return self->close();
                               self->on_mac(n);
                             });
    });
  }

  void on_mac(std::size_t n) {
    const std::string mac_line = buf.substr(0, n - 1);
    buf.erase(0, n);
    std::vector<BatchItem> items;
    try {
      if (mac_line.size() > kMaxProtocolLine) {
        throw ProtocolError("malformed", "exigrey: MAC line too long");
      }
      verify_batch_mac(mac_line, secret, header_line, body);
      items = parse_batch_body(body, header);
    } catch (const ProtocolError& e) {
      return refuse(header.seq, header.reporter, e.reason(), e.what(), true);
    }
    const UnixTime now = owner->clock.now();
    if (header.sent < now - kMaxBatchAge) {
      return refuse(header.seq, header.reporter, "too-old", "sent time outside the window", false);
    }
    if (header.sent > now + kMaxBatchFuture) {
      return refuse(header.seq, header.reporter, "too-new", "sent time in the future", false);
    }
    if (owner->pending.contains(header.reporter)) {
      return refuse(header.seq, header.reporter, "busy", "a batch of it is being committed", false);
    }
    const std::uint64_t last = owner->cursor(header.reporter);
    if (header.seq <= last) {
      ++owner->duplicates;
      LOG_DEBUG("signed: {} from {}: batch {} already committed (cursor {})", header.reporter,
                peer, header.seq, last);
      return answer(Answer{AnswerKind::kAckDup, header.seq, {}}, false);
    }
    std::vector<IncomingReport> fresh;
    const std::string reporter = reporter_id(header.reporter);
    for (BatchItem& item : items) {
      if (item.id > last) fresh.push_back(IncomingReport{std::move(item.report), reporter});
    }
    const std::size_t counted = fresh.size();
    owner->pending.insert(header.reporter);
    owner->aggregator.submit_signed(
        std::move(fresh), ReporterCursor{reporter_id(header.reporter), header.seq},
        [self = shared_from_this(), counted, name = header.reporter, seq = header.seq](bool ok) {
          Impl& o = *self->owner;
          o.pending.erase(name);
          if (!ok) {
            o.cursors.erase(name);  // read the durable value again next time
            self->refuse(seq, name, "busy", "the store failed; retry", false);
            return;
          }
          o.cursors[name] = seq;
          ++o.accepted;
          o.signed_reports += counted;
          LOG_DEBUG("signed: {} from {}: batch {} committed, {} new reports", name, self->peer,
                    seq, counted);
          self->answer(Answer{AnswerKind::kAck, seq, {}}, false);
        });
    timer.cancel();  // the commit is ours to wait for, not the client's idleness
  }

  void refuse(std::uint64_t seq, std::string_view reporter, const std::string& reason,
              std::string_view why, bool close_after) {
    owner->refuse(reason);
    LOG_WARNING("signed: refused batch {} of {} from {}: {} ({})", seq,
                reporter.empty() ? "?" : daemon::printable(reporter), peer, reason,
                daemon::printable(why, 160));
    answer(Answer{AnswerKind::kNak, seq, reason}, close_after);
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
  std::string buf;
  std::string header_line;
  BatchHeader header;
  std::string secret;
  std::string body;
  std::string reply;
};

void SignedListener::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](std::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || self->stopped) return;
    if (!ec) {
      std::error_code pe;
      const auto remote = s.remote_endpoint(pe);
      const std::string peer = pe ? "?" : fmt::format("{}", remote.address().to_string());
      if (self->conns.size() >= self->limits.max_connections) {
        LOG_WARNING("signed: connection from {} refused: {} open", peer, self->conns.size());
        std::error_code ignored;
        s.close(ignored);
      } else {
        auto conn = std::make_shared<Conn>(self, std::move(s), peer);
        self->conns.insert(conn);
        ++self->open_gauge;
        conn->start();
      }
    } else {
      LOG_WARNING("signed: accept failed: {}", ec.message());
    }
    self->accept();
  });
}

SignedListener::SignedListener(asio::io_context& io, const Endpoint& at, Aggregator& aggregator,
                               const ReputationStore& store, daemon::Metrics& metrics,
                               const Clock& clock, KeyRing keys, ListenerLimits limits,
                               const TlsFiles& tls)
    : impl_(std::make_shared<Impl>(io, aggregator, store, metrics, clock, std::move(keys),
                                   limits)) {
  if (!tls.cert.empty()) {
    auto& ctx = impl_->tls.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(tls.cert);
    ctx.use_private_key_file(tls.key, asio::ssl::context::pem);
  }
  const tcp::endpoint ep(asio::ip::make_address(at.address.to_string()), at.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->accept();
}

SignedListener::~SignedListener() { stop(); }

void SignedListener::set_keys(KeyRing keys) { impl_->keys = std::move(keys); }
void SignedListener::set_limits(ListenerLimits limits) { impl_->limits = limits; }

void SignedListener::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  std::error_code ignored;
  impl_->acceptor.close(ignored);
  const auto conns = impl_->conns;  // close() erases from the set
  for (const auto& c : conns) c->close();
}

std::uint16_t SignedListener::port() const { return impl_->acceptor.local_endpoint().port(); }

std::string SignedListener::reporter_id(std::string_view reporter) {
  return fmt::format("signed:{}", reporter);
}

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
#include "signed_listener.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>

#include "common/log.h"
#include "exigrey/batch.h"

namespace exigrey::collect {
namespace {

constexpr std::string_view kRefusals[] = {"malformed", "unknown-reporter", "bad-mac",
                                          "too-old",   "too-new",          "busy"};

}  // namespace

// What the sessions share: keys, cursors, the reporters being committed.
struct SignedListener::State {
  State(Aggregator& a, const ReputationStore& s, daemon::Metrics& m, const Clock& c, KeyRing k)
      : aggregator(a),
        store(s),
        clock(c),
        keys(std::move(k)),
        accepted(m.counter("exigrey_collect_batches_total", "Signed batches answered ACK",
                           "result=\"accepted\"")),
        duplicates(m.counter("exigrey_collect_batches_total", "Signed batches answered ACK",
                             "result=\"dup\"")),
        signed_reports(m.counter("exigrey_collect_signed_reports_total",
                                 "Reports from signed batches counted (duplicates excluded)")),
        open_gauge(m.gauge("exigrey_collect_signed_connections_open",
                           "Open connections on the signed listener")) {
    for (std::string_view r : kRefusals) {
      refused.emplace(std::string(r), &m.counter("exigrey_collect_batches_refused_total",
                                                 "Signed batches refused, by reason",
                                                 fmt::format("reason=\"{}\"", r)));
    }
  }

  void count_refusal(const std::string& reason) {
    if (auto it = refused.find(reason); it != refused.end()) ++*it->second;
  }
  std::uint64_t cursor(const std::string& reporter) {
    if (auto it = cursors.find(reporter); it != cursors.end()) return it->second;
    const std::uint64_t c = store.reporter_cursor(reporter_id(reporter));
    cursors.emplace(reporter, c);
    return c;
  }

  Aggregator& aggregator;
  const ReputationStore& store;
  const Clock& clock;
  KeyRing keys;
  std::map<std::string, std::uint64_t, std::less<>> cursors;  // committed, cached
  std::set<std::string, std::less<>> pending;                 // a batch is being committed
  std::atomic<std::uint64_t>& accepted;
  std::atomic<std::uint64_t>& duplicates;
  std::atomic<std::uint64_t>& signed_reports;
  std::atomic<std::int64_t>& open_gauge;
  std::map<std::string, std::atomic<std::uint64_t>*> refused;
};

class SignedListener::Session : public daemon::FrameSession {
 public:
  Session(std::shared_ptr<State> s, std::string p) : state_(std::move(s)), peer_(std::move(p)) {}

  Next on_header(std::string_view line) override {
    try {
      header_ = parse_batch_header(line);
    } catch (const ProtocolError& e) {
      return {0, refuse(0, "", e.reason(), e.what())};
    }
    const auto key = state_->keys.find(header_.reporter);
    if (key == state_->keys.end()) {
      return {0, refuse(header_.seq, header_.reporter, "unknown-reporter", "no such reporter")};
    }
    secret_ = key->second;
    return {header_.length, std::nullopt};
  }

  Answer on_malformed(std::string_view why) override {
    return refuse(header_.seq, header_.reporter, "malformed", why);
  }

  void on_frame(const std::string& header_line, const std::string& body, std::string_view mac_line,
                daemon::Reply reply) override {
    std::vector<BatchItem> items;
    try {
      verify_batch_mac(mac_line, secret_, header_line, body);
      items = parse_batch_body(body, header_);
    } catch (const ProtocolError& e) {
      return reply(refuse(header_.seq, header_.reporter, e.reason(), e.what()), true);
    }
    State& st = *state_;
    const UnixTime now = st.clock.now();
    if (const std::string_view late = sent_time_refusal(header_.sent, now); !late.empty()) {
      return reply(refuse(header_.seq, header_.reporter, std::string(late),
                          "sent time outside [now - 24 h, now + 5 min]"),
                   false);
    }
    if (st.pending.contains(header_.reporter)) {
      return reply(
          refuse(header_.seq, header_.reporter, "busy", "a batch of it is being committed"), false);
    }
    const std::uint64_t last = st.cursor(header_.reporter);
    if (header_.seq <= last) {
      ++st.duplicates;
      LOG_DEBUG("signed: {} from {}: batch {} already committed (cursor {})", header_.reporter,
                peer_, header_.seq, last);
      return reply(Answer{AnswerKind::kAckDup, header_.seq, {}}, false);
    }
    std::vector<IncomingReport> fresh;
    const std::string reporter = reporter_id(header_.reporter);
    for (BatchItem& item : items) {
      if (item.id > last) fresh.push_back(IncomingReport{std::move(item.report), reporter});
    }
    const std::size_t counted = fresh.size();
    st.pending.insert(header_.reporter);
    st.aggregator.submit_signed(
        std::move(fresh), ReporterCursor{reporter, header_.seq},
        [state = state_, peer = peer_, reply = std::move(reply), counted, name = header_.reporter,
         seq = header_.seq](bool ok) {
          State& o = *state;
          o.pending.erase(name);
          if (!ok) {
            o.cursors.erase(name);  // read the durable value again next time
            o.count_refusal("busy");
            LOG_WARNING("signed: refused batch {} of {} from {}: busy (the store failed; retry)",
                        seq, daemon::printable(name), peer);
            return reply(Answer{AnswerKind::kNak, seq, "busy"}, false);
          }
          o.cursors[name] = seq;
          ++o.accepted;
          o.signed_reports += counted;
          LOG_DEBUG("signed: {} from {}: batch {} committed, {} new reports", name, peer, seq,
                    counted);
          reply(Answer{AnswerKind::kAck, seq, {}}, false);
        });
  }

 private:
  Answer refuse(std::uint64_t seq, std::string_view reporter, const std::string& reason,
                std::string_view why) {
    state_->count_refusal(reason);
    LOG_WARNING("signed: refused batch {} of {} from {}: {} ({})", seq,
                reporter.empty() ? "?" : daemon::printable(reporter), peer_, reason,
                daemon::printable(why, 160));
    return Answer{AnswerKind::kNak, seq, reason};
  }

  std::shared_ptr<State> state_;
  std::string peer_;
  BatchHeader header_;
  std::string secret_;
};

namespace {

asio::ip::tcp::endpoint tcp_endpoint(const Endpoint& at) {
  return {asio::ip::make_address(at.host), at.port};
}

daemon::FrameLimits frame_limits(const ListenerLimits& l) {
  return daemon::FrameLimits{kMaxBatchBody, l.idle_timeout, l.max_connections};
}

}  // namespace

SignedListener::SignedListener(asio::io_context& io, const Endpoint& at, Aggregator& aggregator,
                               const ReputationStore& store, daemon::Metrics& metrics,
                               const Clock& clock, KeyRing keys, ListenerLimits limits,
                               const TlsFiles& tls)
    : state_(std::make_shared<State>(aggregator, store, metrics, clock, std::move(keys))),
      listener_(
          io, tcp_endpoint(at), "signed",
          [state = state_](const std::string& peer) {
            return std::make_unique<Session>(state, peer);
          },
          frame_limits(limits), state_->open_gauge, tls) {}

SignedListener::~SignedListener() { stop(); }

void SignedListener::set_keys(KeyRing keys) { state_->keys = std::move(keys); }
void SignedListener::set_limits(ListenerLimits limits) {
  listener_.set_limits(frame_limits(limits));
}
void SignedListener::stop() { listener_.stop(); }
std::uint16_t SignedListener::port() const { return listener_.port(); }

std::string SignedListener::reporter_id(std::string_view reporter) {
  return fmt::format("signed:{}", reporter);
}

}  // namespace exigrey::collect

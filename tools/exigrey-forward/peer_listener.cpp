// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey-forward/peer_listener.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "common/log.h"
#include "exigrey/batch.h"
#include "exigrey/clock.h"
#include "exigrey/paths.h"
#include "exigrey/peer_batch.h"
#include "exigrey/peers.h"
#include "exigrey/store.h"

namespace exigrey::forward {
namespace {

constexpr std::string_view kRefusals[] = {"malformed", "unknown-peer", "bad-mac", "too-old",
                                          "too-new",   "scope",        "busy",    "store"};

struct Sender {
  const PeerEntry* entry = nullptr;
  double tokens = 0;  // records it may send now (the bucket holds one second)
  std::chrono::steady_clock::time_point refilled{};
  std::chrono::steady_clock::time_point busy_logged{};  // the last "busy" log line
  std::uint64_t busy_unlogged = 0;
  std::atomic<std::uint64_t>* merged = nullptr;
  std::atomic<std::uint64_t>* accepted = nullptr;
  std::atomic<std::uint64_t>* duplicates = nullptr;
};

}  // namespace

struct PeerListener::State {
  State(PeerListenerOptions o, daemon::Metrics& m)
      : options(std::move(o)),
        open_gauge(
            m.gauge("exigrey_forward_peer_connections_open", "Open connections from peers")) {
    for (const PeerEntry& p : options.peers) {
      if (p.name == options.self) continue;
      const std::string label = fmt::format("peer=\"{}\"", p.name);
      Sender s;
      s.entry = &p;
      s.tokens = options.rate;
      s.refilled = std::chrono::steady_clock::now();
      s.merged = &m.counter("exigrey_forward_peer_records_merged_total",
                            "Records from a peer that changed a local store", label);
      s.accepted = &m.counter("exigrey_forward_peer_batches_received_total",
                              "Peer batches acknowledged, by peer and result",
                              label + ",result=\"accepted\"");
      s.duplicates =
          &m.counter("exigrey_forward_peer_batches_received_total",
                     "Peer batches acknowledged, by peer and result", label + ",result=\"dup\"");
      senders.emplace(p.name, s);
    }
    for (std::string_view r : kRefusals) {
      refused.emplace(std::string(r), &m.counter("exigrey_forward_peer_batches_refused_total",
                                                 "Peer batches refused, by reason",
                                                 fmt::format("reason=\"{}\"", r)));
    }
  }

  // Takes `n` records from the sender's bucket; false when it is empty.
  bool take(Sender& s, std::size_t n) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - s.refilled).count();
    s.refilled = now;
    s.tokens = std::min<double>(options.rate, s.tokens + elapsed * options.rate);
    if (s.tokens < static_cast<double>(n)) return false;
    s.tokens -= static_cast<double>(n);
    return true;
  }

  PeerListenerOptions options;
  std::map<std::string, Sender, std::less<>> senders;
  std::map<std::string, std::atomic<std::uint64_t>*> refused;
  std::atomic<std::int64_t>& open_gauge;
};

class PeerListener::Session : public daemon::FrameSession {
 public:
  Session(std::shared_ptr<State> s, std::string p) : state_(std::move(s)), peer_(std::move(p)) {}

  Next on_header(std::string_view line) override {
    try {
      header_ = parse_peer_batch_header(line);
    } catch (const ProtocolError& e) {
      return {0, refuse(0, "", e.reason(), e.what())};
    }
    const auto it = state_->senders.find(header_.sender);
    if (it == state_->senders.end()) {
      return {0, refuse(header_.seq, header_.sender, "unknown-peer",
                        "not a host of the peers file, or this host")};
    }
    sender_ = &it->second;
    return {header_.length, std::nullopt};
  }

  Answer on_malformed(std::string_view why) override {
    return refuse(header_.seq, header_.sender, "malformed", why);
  }

  void on_frame(const std::string& header_line, const std::string& body, std::string_view mac_line,
                daemon::Reply reply) override {
    std::vector<PeerRecord> records;
    try {
      verify_batch_mac(mac_line, sender_->entry->secret, header_line, body);
      records = parse_peer_batch_body(body, header_);
    } catch (const ProtocolError& e) {
      return reply(refuse(header_.seq, header_.sender, e.reason(), e.what()), true);
    }
    const UnixTime now = SystemClock::instance().now();
    if (const std::string_view late = sent_time_refusal(header_.sent, now); !late.empty()) {
      return reply(refuse(header_.seq, header_.sender, std::string(late),
                          "sent time outside [now - 24 h, now + 5 min]"),
                   false);
    }
    if (!sender_->entry->may_whitelist) {
      for (const PeerRecord& r : records) {
        if (r.record.kind == LoadedRecord::Kind::kWhitelist) {
          return reply(
              refuse(header_.seq, header_.sender, "scope",
                     fmt::format("whitelist entry {:?}; its scope is items", r.record.name)),
              false);
        }
      }
    }
    if (!state_->take(*sender_, records.size())) {
      // Flow control, not an offence: counted always, logged once a minute
      // per sender (a peer catching up after an outage hits it every batch).
      ++*state_->refused.at("busy");
      const auto now_steady = std::chrono::steady_clock::now();
      ++sender_->busy_unlogged;
      if (now_steady - sender_->busy_logged >= std::chrono::minutes(1)) {
        LOG_INFO(
            "peers: {} from {} sends over {} records/s: {} batch(es) answered busy "
            "(it sends them again)",
            header_.sender, peer_, state_->options.rate, sender_->busy_unlogged);
        sender_->busy_logged = now_steady;
        sender_->busy_unlogged = 0;
      }
      return reply(Answer{AnswerKind::kNak, header_.seq, "busy"}, false);
    }
    MergeResult result;
    try {
      const Store store(resolve_db_path(header_.db, state_->options.dir), state_->options.store);
      result = merge_from_peer(store, header_.sender, header_.seq, records, now);
    } catch (const std::exception& e) {
      return reply(refuse(header_.seq, header_.sender, "store", e.what()), false);
    }
    if (result.duplicate) {
      ++*sender_->duplicates;
      LOG_DEBUG("peers: {} from {}: batch {} of {} already merged", header_.sender, peer_,
                header_.seq, header_.db);
      return reply(Answer{AnswerKind::kAckDup, header_.seq, {}}, false);
    }
    ++*sender_->accepted;
    *sender_->merged += result.applied;
    LOG_DEBUG("peers: {} from {}: batch {} of {}: {} records merged, {} unchanged", header_.sender,
              peer_, header_.seq, header_.db, result.applied, result.unchanged);
    reply(Answer{AnswerKind::kAck, header_.seq, {}}, false);
  }

 private:
  Answer refuse(std::uint64_t seq, std::string_view sender, const std::string& reason,
                std::string_view why) {
    if (auto it = state_->refused.find(reason); it != state_->refused.end()) ++*it->second;
    LOG_WARNING("peers: refused batch {} of {} from {}: {} ({})", seq,
                sender.empty() ? "?" : daemon::printable(sender), peer_, reason,
                daemon::printable(why, 160));
    return Answer{AnswerKind::kNak, seq, reason};
  }

  std::shared_ptr<State> state_;
  std::string peer_;
  PeerBatchHeader header_;
  Sender* sender_ = nullptr;
};

PeerListener::PeerListener(asio::io_context& io, const asio::ip::tcp::endpoint& at,
                           PeerListenerOptions options, daemon::Metrics& metrics)
    : state_(std::make_shared<State>(std::move(options), metrics)),
      listener_(
          io, at, "peers",
          [state = state_](const std::string& peer) {
            return std::make_unique<Session>(state, peer);
          },
          daemon::FrameLimits{kMaxPeerBatchBody, 30, 64}, state_->open_gauge) {}

PeerListener::~PeerListener() { stop(); }

void PeerListener::stop() { listener_.stop(); }

std::uint16_t PeerListener::port() const { return listener_.port(); }

}  // namespace exigrey::forward

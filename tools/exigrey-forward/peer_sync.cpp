// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey-forward/peer_sync.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/log.h"
#include "exigrey-forward/backoff.h"
#include "exigrey-forward/link.h"
#include "exigrey-forward/peer_listener.h"
#include "exigrey/clock.h"
#include "exigrey/endpoint.h"
#include "exigrey/error.h"
#include "exigrey/paths.h"
#include "exigrey/peer_batch.h"
#include "exigrey/peers.h"
#include "exigrey/store.h"

namespace exigrey::forward {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A peer answered `NAK busy`: its rate limit for us; send again shortly.
struct Busy {};

asio::ip::tcp::endpoint resolve_listen(asio::io_context& io, const std::string& text,
                                       std::string_view what) {
  const Endpoint e = parse_endpoint(text, what, HostForm::kAddressOrName);
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  const auto found = resolver.resolve(e.host, std::to_string(e.port), ec);
  if (ec || found.empty()) {
    throw UsageError(fmt::format("{} {}: cannot resolve: {}", what, text, ec.message()));
  }
  return *found.begin();
}

}  // namespace

struct PeerSync::Impl {
  struct Peer {
    Peer(const PeerEntry& e, const PeerSyncOptions& o, daemon::Metrics& m)
        : entry(e),
          link(LinkOptions{parse_endpoint(e.address, "peers file", HostForm::kAddressOrName),
                           {},
                           o.timeout,
                           "peer"}),
          sent(m.counter("exigrey_forward_peer_records_sent_total",
                         "Records acknowledged by a peer", label())),
          batches(m.counter("exigrey_forward_peer_batches_sent_total",
                            "Batches acknowledged by a peer", label())),
          failures(m.counter("exigrey_forward_peer_failures_total",
                             "Failed exchanges with a peer (network errors, timeouts, refusals)",
                             label())),
          up(m.gauge("exigrey_forward_peer_up", "1 when the last exchange with a peer succeeded",
                     label())),
          busy(m.counter("exigrey_forward_peer_busy_total",
                         "Batches a peer answered busy (its --peer-rate; sent again)", label())) {}

    std::string label() const { return fmt::format("peer=\"{}\"", entry.name); }

    std::uint64_t acked_of(const std::string& path) {
      const std::lock_guard lock(mu);
      const auto it = acked.find(path);
      return it == acked.end() ? 0 : it->second;
    }
    void set_acked(const std::string& path, std::uint64_t id) {
      const std::lock_guard lock(mu);
      acked[path] = std::max(acked[path], id);
    }

    const PeerEntry& entry;
    Link link;
    std::mutex mu;
    std::map<std::string, std::uint64_t> acked;  // store path -> highest id acknowledged
    std::atomic<std::uint64_t>& sent;
    std::atomic<std::uint64_t>& batches;
    std::atomic<std::uint64_t>& failures;
    std::atomic<std::int64_t>& up;
    std::atomic<std::uint64_t>& busy;
    std::thread thread;
  };

  Impl(PeerSyncOptions o, daemon::Metrics& m)
      : options(std::move(o)),
        log_entries(m.gauge("exigrey_forward_peer_log_entries",
                            "Entries in the peer logs of the stores (not yet acknowledged by "
                            "every peer)")),
        log_dropped(m.counter("exigrey_forward_peer_log_dropped_total",
                              "Peer log entries dropped at peer_log_max (a peer down too long)")) {
    const auto me = std::find_if(options.peers.begin(), options.peers.end(),
                                 [&](const PeerEntry& p) { return p.name == options.self; });
    if (me == options.peers.end()) {
      throw UsageError(
          fmt::format("this host, {:?}, is not in the peers file (use --name)", options.self));
    }
    self = &*me;
    const std::string listen = options.listen.empty() ? self->address : options.listen;
    const auto at =
        resolve_listen(io, listen, options.listen.empty() ? "peers file" : "--peer-listen");
    listener.emplace(
        io, at,
        PeerListenerOptions{options.dir, options.store, options.self, options.peers, options.rate},
        m);
    for (const PeerEntry& p : options.peers) {
      if (p.name != options.self) peers.push_back(std::make_unique<Peer>(p, options, m));
    }
    watcher = std::thread([this] { watch(); });
    io_thread = std::thread([this] {
      try {
        io.run();
      } catch (const std::exception& e) {  // a bug: the handlers answer, never throw
        LOG_ERROR("peer listener stopped: {}", e.what());
      }
    });
    for (auto& p : peers) p->thread = std::thread([this, peer = p.get()] { send_loop(*peer); });
  }

  ~Impl() {
    {
      const std::lock_guard lock(stop_mu);
      stopping = true;
    }
    stop_cv.notify_all();
    for (auto& p : peers) {
      if (p->thread.joinable()) p->thread.join();
    }
    watcher.join();
    asio::post(io, [this] { listener->stop(); });
    io_thread.join();
  }

  // Waits up to `d`; false when stopping.
  bool wait(milliseconds d) {
    std::unique_lock lock(stop_mu);
    return !stop_cv.wait_for(lock, d, [this] { return stopping; });
  }

  // Sends one batch of `path` to `peer` if it has one. Returns true when it
  // sent something, false when there was nothing; throws on failure.
  bool send_one(Peer& peer, const std::string& path) {
    const Store store(path, options.store);
    const std::uint64_t acked = peer.acked_of(path);
    std::uint64_t last = acked;
    std::vector<PeerRecord> records = read_peer_log(store, acked, kMaxPeerBatchRecords, &last);
    if (!self->may_whitelist) {
      std::erase_if(records, [](const PeerRecord& r) {
        return r.record.kind == LoadedRecord::Kind::kWhitelist;
      });
    }
    if (records.empty()) {
      if (last > acked) peer.set_acked(path, last);  // only gone or unsendable entries
      return false;
    }
    PeerBatch batch{options.self, std::filesystem::path(path).filename().string(),
                    SystemClock::instance().now(), std::move(records)};
    const std::uint64_t seq = batch.records.back().id;
    const Answer a = peer.link.exchange(encode_peer_batch(batch, self->secret));
    if (a.kind == AnswerKind::kNak && a.reason == "busy") throw Busy();
    if (a.kind == AnswerKind::kNak) {
      throw std::runtime_error(fmt::format("peer {} refused batch {} of {}: {}", peer.entry.name,
                                           a.seq, batch.db, a.reason));
    }
    if (a.seq != seq) {
      peer.link.close();
      throw std::runtime_error(
          fmt::format("peer {} acknowledged {} for batch {}", peer.entry.name, a.seq, seq));
    }
    peer.set_acked(path, last);
    peer.sent += batch.records.size();
    ++peer.batches;
    LOG_DEBUG("peer {} acknowledged {} records of {} up to {}{}", peer.entry.name,
              batch.records.size(), batch.db, seq, a.kind == AnswerKind::kAckDup ? " (dup)" : "");
    return true;
  }

  void send_loop(Peer& peer) {
    std::mt19937 rng(std::random_device{}());
    int failed_in_a_row = 0;
    while (!stopping_now()) {
      const std::uint64_t seen = generation_now();  // before the scan: no change is missed
      bool sent_any = false;
      std::string failure;
      bool busy = false;
      for (const std::string& path : stores_in(options.dir)) {
        try {
          sent_any |= send_one(peer, path);
        } catch (const Busy&) {
          busy = true;  // the peer's rate limit: flow control, not a failure
          break;
        } catch (const std::exception& e) {
          failure = e.what();
          break;
        }
      }
      if (busy) {
        ++peer.busy;
        if (!wait(options.backoff_min)) return;
        continue;
      }
      if (failure.empty()) {
        failed_in_a_row = 0;
        peer.up = 1;
        // Idle: sleep until the watcher sees a log move (at most a second,
        // in case a store appeared that it has not listed yet).
        if (!sent_any && !wait_change(seen, std::chrono::seconds(1))) return;
        continue;
      }
      ++peer.failures;
      ++failed_in_a_row;
      peer.up = 0;
      const milliseconds pause =
          backoff(options.backoff_min, options.backoff_max, failed_in_a_row, rng);
      // The first failure of a run is a warning; the rest would flood the log.
      if (failed_in_a_row == 1 || failed_in_a_row % 100 == 0) {
        LOG_WARNING("{}; retrying in {} ms ({} failures in a row)", failure, pause.count(),
                    failed_in_a_row);
      }
      if (!wait(pause)) return;
    }
  }

  // One thread looks at the newest id of every store's log each `poll` and
  // wakes the peer threads when one moved: an idle forwarder costs one
  // short read per poll, not one scan per peer (50 hosts: 49 threads).
  void watch() {
    std::map<std::string, std::uint64_t> seen;
    while (wait(options.poll)) {
      std::map<std::string, std::uint64_t> now;
      for (const std::string& path : stores_in(options.dir)) {
        try {
          now[path] = peer_log_last(Store(path, options.store));
        } catch (const std::exception&) {
          now[path] = 0;  // the peer threads meet the error and log it
        }
      }
      trim(now);
      if (now != seen) {
        seen = std::move(now);
        {
          const std::lock_guard lock(stop_mu);
          ++generation;
        }
        stop_cv.notify_all();
      }
    }
  }

  std::uint64_t generation_now() {
    const std::lock_guard lock(stop_mu);
    return generation;
  }

  // Waits until the logs change (or `d` passed, or stopping); false when stopping.
  bool wait_change(std::uint64_t seen, milliseconds d) {
    std::unique_lock lock(stop_mu);
    stop_cv.wait_for(lock, d, [&] { return stopping || generation != seen; });
    return !stopping;
  }

  bool stopping_now() {
    const std::lock_guard lock(stop_mu);
    return stopping;
  }

  // Deletes the log entries every peer acknowledged (the watcher's thread:
  // it has just listed the stores).
  void trim(const std::map<std::string, std::uint64_t>& stores) {
    for (const auto& store : stores) {
      const std::string& path = store.first;
      std::uint64_t upto = UINT64_MAX;
      for (auto& p : peers) upto = std::min(upto, p->acked_of(path));
      if (upto == UINT64_MAX || upto == 0 || upto <= trimmed[path]) continue;
      try {
        drop_peer_log(Store(path, options.store), upto);
        trimmed[path] = upto;
      } catch (const std::exception& e) {
        LOG_WARNING("peer log of {}: {}", path, e.what());
      }
    }
  }

  void maintain() {
    std::int64_t entries = 0;
    for (const std::string& path : stores_in(options.dir)) {
      try {
        const Store store(path, options.store);
        if (const std::uint64_t dropped = bound_peer_log(store, options.log_max); dropped > 0) {
          log_dropped += dropped;
          LOG_WARNING(
              "peer log of {} above {} entries: dropped the {} oldest (a peer has been "
              "down long; those updates reach it only if they change again)",
              path, options.log_max, dropped);
        }
        entries += static_cast<std::int64_t>(peer_log_stats(store).entries);
      } catch (const std::exception& e) {
        LOG_WARNING("peer log of {}: {}", path, e.what());
      }
    }
    log_entries = entries;
  }

  PeerSyncOptions options;
  const PeerEntry* self = nullptr;
  asio::io_context io;
  std::optional<PeerListener> listener;
  std::thread io_thread;
  std::vector<std::unique_ptr<Peer>> peers;
  std::map<std::string, std::uint64_t> trimmed;  // the watcher's thread only
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::uint64_t generation = 0;  // moves when a store's newest log id moves
  std::thread watcher;
  std::atomic<std::int64_t>& log_entries;
  std::atomic<std::uint64_t>& log_dropped;
};

PeerSync::PeerSync(PeerSyncOptions options, daemon::Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), metrics)) {}

PeerSync::~PeerSync() = default;

void PeerSync::maintain() { impl_->maintain(); }
std::uint16_t PeerSync::port() const { return impl_->listener->port(); }

}  // namespace exigrey::forward

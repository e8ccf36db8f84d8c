// exigrey-collect/publisher.h: keeps the rbldnsd files in step with the store.
//
// The same listings go, when configured, to a primary name server by DNS
// UPDATE: the publisher renders the zones and offers them to the DnsSync,
// whose thread sends the difference (dns_sync.h).
//
// mark_dirty() (after every commit, and when the policy or zone settings
// change) publishes at once when the last publish is at least the minimum
// interval old, and otherwise at that point, so a lone report is published
// without delay and a burst costs one rewrite per interval. The interval is
// kMinInterval, or four times the last publish's duration if that is longer,
// so that rebuilding a large list never takes more than a fifth of the
// loop's time. A publish
// scans the store, applies the policy and lets the ZoneWriter replace the
// files whose content changed. After each publish a timer is set for the
// earliest vote expiry, so listings disappear on time without new reports.
// A failed publish is logged, counted and retried a second later. After the
// files are written, the subjects whose listing began or ended get it
// recorded in the store (listed_since, the growing hold, the history).
// Operator actions made by another process (exigrey-collect ban/delist)
// bump the store's generation, which is polled every kWatchEvery.
//
// It also prunes the store: every kPruneEvery, records whose last report and
// last event are older than the policy's retention (at least ttl), and that
// nothing keeps (listed, held, banned, exempt), are deleted in bounded batches.
//
// The scan, the rendering and the writing run on a worker thread of their
// own (one publish at a time), so that the event loop keeps serving intake,
// /metrics and the lookup page while a large list is published; the first
// publish (at start) and the last (at stop) run inline.
//
// Thread safety: call from the io_context's thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <optional>

#include "collect_metrics.h"
#include "dns_sync.h"
#include "exigrey/clock.h"
#include "exigrey/dns_zone.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"

namespace exigrey::collect {

class Publisher {
 public:
  static constexpr std::chrono::milliseconds kMinInterval{250};
  static constexpr std::chrono::seconds kRetry{1};
  static constexpr std::chrono::minutes kPruneEvery{10};
  static constexpr std::size_t kPruneBatch = 1000;
  // How often the store's generation is read: operator actions
  // (exigrey-collect ban, delist) are published within this plus a publish.
  static constexpr std::chrono::milliseconds kWatchEvery{200};

  // `writer` (the rbldnsd files) and `dns` (DNS UPDATEs) may each be null;
  // both outlive the publisher.
  Publisher(asio::io_context& io, ReputationStore& store, ZoneWriter* writer, DnsSync* dns,
            DnsZoneNames dns_zones, ZoneOptions zone, CollectMetrics& metrics, const Clock& clock,
            ListingPolicy policy);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void set_policy(ListingPolicy policy);
  void set_zone(ZoneOptions zone);
  const ListingPolicy& policy() const noexcept { return policy_; }

  // Schedules a publish (coalesced).
  void mark_dirty();
  // Publishes at once and starts the prune timer.
  void start();
  // Cancels the timers and publishes once more if anything is pending.
  void stop();

 private:
  struct Job {  // what a publish needs, copied: it may run on the worker
    ListingPolicy policy;
    ZoneOptions zone;
    UnixTime now = 0;
  };
  struct Outcome {
    bool ok = false;
    std::optional<UnixTime> next_change;
    std::chrono::milliseconds took{0};
  };

  void arm(std::chrono::milliseconds delay);
  // Starts a publish: on the worker, or here when `inline_run` (start, stop).
  void publish(bool inline_run);
  // The publish itself. Touches only the job, the store, the writer, the
  // DnsSync, the metrics (atomics) and offered_digest_: one runs at a time.
  Outcome compute(const Job& job);
  // Back on the event loop: retry, next interval, expiry timer.
  void finish(const Outcome& outcome);
  void arm_expiry(UnixTime at);
  void prune();
  void arm_prune();
  void arm_watch();

  asio::io_context& io_;
  ReputationStore& store_;
  ZoneWriter* writer_;
  DnsSync* dns_;
  DnsZoneNames dns_zones_;
  ZoneOptions zone_;
  std::uint64_t offered_digest_ = 0;  // of what dns_ was last given
  bool offered_once_ = false;
  CollectMetrics& metrics_;
  const Clock& clock_;
  ListingPolicy policy_;
  asio::steady_timer timer_;
  asio::steady_timer expiry_timer_;
  asio::steady_timer prune_timer_;
  asio::steady_timer watch_timer_;
  std::uint64_t generation_ = 0;
  bool dirty_ = false;
  bool busy_ = false;  // a publish is running (on the worker)
  bool armed_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_publish_{};
  std::chrono::milliseconds interval_ = kMinInterval;
  UnixTime expiry_at_ = 0;
  // Last member: destroyed (joined) first, before what its job touches.
  asio::thread_pool pool_{1};
};

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/publisher.h: keeps the rbldnsd files, and the zones on a
// primary name server (dns_sync.h), in step with the store.
//
// The listings are kept in memory (listing_index.h). A publish evaluates
// only the subjects that may have changed: those the aggregator just
// committed reports about (mark_changed), those an operator command
// changed (the store's touch log, read every kWatchEvery), and those whose
// next change is due (a vote expiring, a hold, ban or exemption ending:
// ExpiryIndex, with a timer for the earliest). From the listings that
// differ it rewrites only the rbldnsd files they belong to and pushes the
// DNS records they change; so a report costs the same at ten listings as
// at millions. A full publish (scan the whole store, compare everything)
// runs at start, when the policy or the zone settings change, when the
// touch log no longer reaches back, when a reporter's probation ends, and
// at every publish while escalation is on (a network's listing depends on
// all its addresses).
//
// mark_changed() publishes at once when the last publish is at least the
// minimum interval old, and otherwise at that point, so a lone report is
// published without delay and a burst costs one publish per interval.
// The interval is four times the last incremental publish's duration,
// within kMinInterval and kMaxInterval. A failed publish is logged,
// counted and retried a second later (as a full one: what it left undone
// is not known). After the files are written, the subjects whose listing
// began or ended get it recorded in the store (listed_since, the growing
// hold, the history); a hold matters only once the votes expire, and the
// evaluation at that expiry sees it and sets its timer.
//
// It also prunes the store: every kPruneEvery, records whose last report and
// last event are older than the policy's retention (at least ttl), and that
// nothing keeps (listed, held, banned, exempt), are deleted in bounded batches.
//
// Publishes run on a worker thread of their own (one at a time), so that
// the event loop keeps serving intake, /metrics and the lookup page while a
// large list is scanned; the first publish (at start) and the last (at
// stop) run inline. The DnsSync's thread reads the index (for a zone
// transfer's comparison) under index_mu_.
//
// Thread safety: call from the io_context's thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include "collect_metrics.h"
#include "dns_sync.h"
#include "exigrey/clock.h"
#include "exigrey/dns_zone.h"
#include "exigrey/listing_index.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"

namespace exigrey::collect {

class Publisher {
 public:
  static constexpr std::chrono::milliseconds kMinInterval{250};
  static constexpr std::chrono::milliseconds kMaxInterval{1000};
  // Subjects evaluated per step of an incremental publish (bounds its
  // memory and write transactions during a bulk load).
  static constexpr std::size_t kStep = 50000;
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

  // Schedules a publish of these subjects (coalesced).
  void mark_changed(std::vector<Subject> subjects);
  // Schedules a full publish.
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
    bool full = false;
    std::vector<Subject> subjects;  // for an incremental publish
  };
  struct Outcome {
    bool ok = false;
    bool full = false;
    std::optional<UnixTime> next_change;
    std::optional<UnixTime> next_full;  // a reporter's probation ends
    std::chrono::milliseconds took{0};
  };

  void schedule();
  void arm(std::chrono::milliseconds delay);
  // Starts a publish: on the worker, or here when `inline_run` (start, stop).
  void publish(bool inline_run);
  // The publish itself. Touches only the job, the store, the writer, the
  // DnsSync, the metrics (atomics), the indexes and the worker's state:
  // one runs at a time.
  Outcome compute(Job& job);
  void update_metrics(std::uint64_t subjects);
  // Records transitions in the store, counts and logs them; clears them.
  void record(std::vector<Transition>& transitions, const ListingPolicy& policy, UnixTime now);
  // Back on the event loop: retry, next interval, timers.
  void finish(Outcome outcome);
  // Sets `timer` to run `then` at the start of second `at`, unless it is
  // already set for then (`armed` remembers; 0 when not set).
  template <typename Then>
  void arm_at(asio::steady_timer& timer, UnixTime& armed, UnixTime at, Then then);
  void prune();
  void arm_prune();
  void arm_watch();
  DnsSync::Full render_full();  // for the DnsSync's thread

  asio::io_context& io_;
  ReputationStore& store_;
  ZoneWriter* writer_;
  DnsSync* dns_;
  DnsZoneNames dns_zones_;
  ZoneOptions zone_;
  CollectMetrics& metrics_;
  const Clock& clock_;
  ListingPolicy policy_;
  asio::steady_timer timer_;
  asio::steady_timer expiry_timer_;
  asio::steady_timer prune_timer_;
  asio::steady_timer watch_timer_;
  asio::steady_timer full_timer_;
  std::uint64_t generation_ = 0;
  bool dirty_ = false;            // a publish is wanted
  bool full_wanted_ = false;      // and it must be a full one
  std::vector<Subject> changed_;  // for the next incremental publish
  UnixTime full_at_ = 0;
  bool busy_ = false;  // a publish is running (on the worker)
  bool armed_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_publish_{};
  std::chrono::milliseconds interval_ = kMinInterval;
  UnixTime expiry_at_ = 0;

  // The worker's (one publish at a time): what is published.
  std::mutex index_mu_;  // index_ and version_ change under it; the DnsSync reads under it
  ListingIndex index_;
  std::uint64_t version_ = 0;  // bumped by every change of index_
  ExpiryIndex expiry_;
  std::optional<ZoneOptions> published_zone_;  // the rendering options of index_'s output
  bool dns_started_ = false;
  // Last member: destroyed (joined) first, before what its job touches.
  asio::thread_pool pool_{1};
};

}  // namespace exigrey::collect

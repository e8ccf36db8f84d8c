// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey-forward/forwarder.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <random>
#include <thread>

#include "common/log.h"
#include "exigrey-forward/backoff.h"
#include "exigrey-forward/link.h"
#include "exigrey/batch.h"
#include "exigrey/clock.h"
#include "exigrey/durability.h"
#include "exigrey/exit_status.h"
#include "exigrey/outbox.h"
#include "exigrey/paths.h"
#include "exigrey/store.h"

namespace exigrey::forward {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Collector {
  Collector(const ForwardOptions& o, const Endpoint& e, daemon::Metrics& m)
      : link(LinkOptions{e, o.tls_ca_file, o.timeout}),
        sent(m.counter("exigrey_forward_reports_sent_total",
                       "Reports acknowledged by a collector (counted once per collector)",
                       "collector=\"" + e.to_string() + "\"")),
        batches(m.counter("exigrey_forward_batches_total", "Batches acknowledged",
                          "collector=\"" + e.to_string() + "\"")),
        failures(m.counter("exigrey_forward_failures_total",
                           "Failed exchanges (network errors, timeouts, refusals)",
                           "collector=\"" + e.to_string() + "\"")),
        backlog(m.gauge("exigrey_forward_backlog", "Reports not yet acknowledged by a collector",
                        "collector=\"" + e.to_string() + "\"")) {}

  Link link;
  std::uint64_t acked = 0;  // highest id acknowledged (in memory only)
  int failed_in_a_row = 0;
  Clock::time_point next_attempt{};
  std::optional<Clock::time_point> waiting_since;
  std::atomic<std::uint64_t>& sent;
  std::atomic<std::uint64_t>& batches;
  std::atomic<std::uint64_t>& failures;
  std::atomic<std::int64_t>& backlog;
};

// The greylist stores beside the outbox (stores_in() leaves the outbox
// out: it syncs every commit and clears stale readers when opened).
void maintain_stores(const ForwardOptions& o) {
  for (const std::string& path : stores_in(o.dir)) {
    try {
      Store store(path, o.config.store);
      const int cleared = store.clear_stale_readers();
      if (cleared > 0) LOG_INFO("cleared {} stale reader slots of {}", cleared, path);
      if (o.config.store.sync == SyncMode::kNone) store.sync();
      // sync = precious: whitelist entries and passes into the keep file
      // (durability.h); processes flush as they exit, this bounds the rest.
      const FlushResult f = flush(store);
      if (f.rebuilt) LOG_INFO("made the keep file of {} whole: {} records", path, f.copied);
    } catch (const std::exception& e) {
      LOG_WARNING("maintenance of {}: {}", path, e.what());
    }
  }
}

}  // namespace

int run_forwarder(const ForwardOptions& o, daemon::Metrics& metrics,
                  const std::atomic<bool>& stop) {
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const auto& e : o.collectors)
    collectors.push_back(std::make_unique<Collector>(o, e, metrics));
  auto& pending_gauge = metrics.gauge("exigrey_forward_outbox_pending", "Reports in the outbox");
  auto& oldest_gauge = metrics.gauge("exigrey_forward_outbox_oldest_age_seconds",
                                     "Age of the oldest report in the outbox (0 when empty)");
  auto& removed = metrics.counter("exigrey_forward_reports_removed_total",
                                  "Reports removed from the outbox after every collector acked");
  const std::string outbox_path = Outbox::path_in(o.dir);
  std::optional<Outbox> outbox;
  std::mt19937 rng(std::random_device{}());
  std::uint64_t removed_upto = 0;
  auto next_maintenance = Clock::now();
  auto next_stats = Clock::now();
  std::optional<PeerSync> peers;
  if (o.peers && !o.once) peers.emplace(*o.peers, metrics);

  while (!stop.load()) {
    const auto now = Clock::now();
    if (now >= next_maintenance) {
      maintain_stores(o);
      if (peers) peers->maintain();
      next_maintenance = now + o.maintenance_every;
    }
    if (collectors.empty()) {
      std::this_thread::sleep_for(o.poll);
      continue;
    }
    if (!outbox) {
      // Never create the outbox: the plugin creates it, as Exim's user.
      if (!std::filesystem::exists(outbox_path)) {
        if (o.once) return kExitOk;  // nothing was ever reported
        std::this_thread::sleep_for(o.poll);
        continue;
      }
      outbox.emplace(outbox_path);
    }
    if (now >= next_stats) {
      const OutboxStats s = outbox->summary();  // not stats(): no full scan every second
      pending_gauge = static_cast<std::int64_t>(s.pending);
      oldest_gauge =
          s.oldest ? std::max<std::int64_t>(0, SystemClock::instance().now() - *s.oldest) : 0;
      next_stats = now + std::chrono::seconds(1);
    }

    bool sent_any = false;
    bool all_drained = true;
    for (auto& c : collectors) {
      if (stop.load()) break;
      if (now < c->next_attempt) {
        all_drained = false;
        continue;
      }
      const auto entries = outbox->peek(o.batch_size, c->acked);
      if (entries.empty()) {
        c->waiting_since.reset();
        c->backlog = 0;
        continue;
      }
      all_drained = false;
      c->backlog = static_cast<std::int64_t>(entries.size());
      if (!o.once && entries.size() < o.batch_size) {
        if (!c->waiting_since) c->waiting_since = now;
        if (now - *c->waiting_since < o.batch_delay) continue;
      }
      Batch batch{o.reporter, SystemClock::instance().now(), {}};
      batch.items.reserve(entries.size());
      for (const auto& e : entries) batch.items.push_back(BatchItem{e.seq, e.report});
      std::string failure;
      try {
        const Answer a = c->link.exchange(encode_batch(batch, o.secret));
        if (a.kind == AnswerKind::kNak) {
          failure =
              fmt::format("collector {} refused batch {}: {}", c->link.name(), a.seq, a.reason);
        } else if (a.seq != batch.items.back().id) {
          failure = fmt::format("collector {} acknowledged {} for batch {}", c->link.name(), a.seq,
                                batch.items.back().id);
          c->link.close();
        } else {
          c->acked = a.seq;
          c->sent += entries.size();
          ++c->batches;
          c->failed_in_a_row = 0;
          c->waiting_since.reset();
          sent_any = true;
          LOG_DEBUG("collector {} acknowledged {} reports up to {}{}", c->link.name(),
                    entries.size(), a.seq, a.kind == AnswerKind::kAckDup ? " (dup)" : "");
        }
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty()) {
        ++c->failures;
        ++c->failed_in_a_row;
        if (o.once) {
          LOG_ERROR("{}", failure);
          return kExitFailure;
        }
        const auto wait = backoff(o.backoff_min, o.backoff_max, c->failed_in_a_row, rng);
        c->next_attempt = Clock::now() + wait;
        LOG_WARNING("{}; retrying in {} ms", failure, wait.count());
      }
    }

    std::uint64_t min_acked = UINT64_MAX;
    for (const auto& c : collectors) min_acked = std::min(min_acked, c->acked);
    if (min_acked != UINT64_MAX && min_acked > removed_upto) {
      removed += outbox->remove_upto(min_acked);
      removed_upto = min_acked;
    }
    if (o.once && all_drained) return kExitOk;
    if (!sent_any) std::this_thread::sleep_for(o.poll);
  }
  return 0;
}

}  // namespace exigrey::forward

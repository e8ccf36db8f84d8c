#include "publisher.h"

#include <algorithm>

#include "common/log.h"
#include "exigrey/error.h"

namespace exigrey::collect {
namespace {

// How long until the wall clock reaches the start of second `t`, plus 20 ms
// so that the Clock (whole seconds) reads `t` when the timer fires.
std::chrono::milliseconds until_second(UnixTime t) {
  using namespace std::chrono;
  const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const auto wait = t * 1000 - now_ms + 20;
  return milliseconds(std::max<std::int64_t>(wait, 0));
}

}  // namespace

Publisher::Publisher(asio::io_context& io, ReputationStore& store, ZoneWriter* writer, DnsSync* dns,
                     DnsZoneNames dns_zones, ZoneOptions zone, CollectMetrics& metrics,
                     const Clock& clock, ListingPolicy policy)
    : io_(io),
      store_(store),
      writer_(writer),
      dns_(dns),
      dns_zones_(std::move(dns_zones)),
      zone_(std::move(zone)),
      metrics_(metrics),
      clock_(clock),
      policy_(std::move(policy)),
      timer_(io),
      expiry_timer_(io),
      prune_timer_(io),
      watch_timer_(io) {}

void Publisher::set_policy(ListingPolicy policy) {
  if (policy == policy_) return;
  policy_ = std::move(policy);
  mark_dirty();
}

void Publisher::set_zone(ZoneOptions zone) {
  if (zone == zone_) return;
  zone_ = std::move(zone);  // the next publish hands it to the writer
  mark_dirty();
}

void Publisher::mark_dirty() {
  dirty_ = true;
  if (armed_ || stopped_ || busy_) return;  // finish() comes back to it
  const auto since = std::chrono::steady_clock::now() - last_publish_;
  arm(since >= interval_
          ? std::chrono::milliseconds(0)
          : std::chrono::duration_cast<std::chrono::milliseconds>(interval_ - since));
}

void Publisher::arm(std::chrono::milliseconds delay) {
  armed_ = true;
  timer_.expires_after(delay);
  timer_.async_wait([this](std::error_code ec) {
    if (ec) return;  // cancelled: stop() takes over
    armed_ = false;
    if (dirty_ && !stopped_) publish(/*inline_run=*/false);
  });
}

void Publisher::publish(bool inline_run) {
  if (busy_) return;  // finish() publishes again: dirty_ stays set
  busy_ = true;
  dirty_ = false;  // reports committed while publishing mark it again
  last_publish_ = std::chrono::steady_clock::now();
  ++metrics_.publishes;
  Job job{policy_, zone_, clock_.now()};
  if (inline_run) {
    finish(compute(job));
    return;
  }
  // The scan and the rendering grow with the list (seconds at a million
  // listings): off the event loop, so that intake, /metrics and the lookup
  // page never wait for them.
  asio::post(pool_, [this, job = std::move(job)] {
    Outcome o = compute(job);
    asio::post(io_, [this, o] { finish(o); });
  });
}

Publisher::Outcome Publisher::compute(const Job& job) {
  const auto started = std::chrono::steady_clock::now();
  const UnixTime now = job.now;
  Outcome out;
  try {
    const ListingSet set = collect_listings(store_, job.policy, now);
    ZoneWriter::Result r;
    bool offered = false;  // new zone content for the name server
    if (writer_ != nullptr) {
      if (!(writer_->options() == job.zone)) writer_->set_options(job.zone);
      r = writer_->publish(set.black, set.white, now);
    }
    metrics_.files_written += r.written;
    if (dns_ != nullptr) {
      std::vector<DnsZoneContent> zones = render_dns_zones(set.black, set.white, job.zone,
                                                           dns_zones_);
      // A digest, not a copy: at a million listings a copy of the zones
      // would cost hundreds of MB for a comparison.
      const std::uint64_t digest = dns_zones_digest(zones);
      if (digest != offered_digest_ || !offered_once_) {
        offered_digest_ = digest;
        offered_once_ = true;
        offered = true;
        dns_->offer(std::move(zones), static_cast<std::uint32_t>(job.zone.ttl));
      }
    }
    std::array<std::int64_t, 6> counts{};
    for (const auto* list : {&set.black, &set.white}) {
      for (const Listing& l : *list) {
        const std::size_t base = list == &set.black ? 0 : 3;
        const std::size_t k = l.subject.kind == SubjectKind::kIPv4   ? 0
                              : l.subject.kind == SubjectKind::kIPv6 ? 1
                                                                     : 2;
        ++counts[base + k];
      }
    }
    for (std::size_t i = 0; i < counts.size(); ++i) *metrics_.listed[i] = counts[i];
    const auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
    *metrics_.listed_by_rule[0] = n(set.black.size() - set.held - set.banned - set.escalated);
    *metrics_.listed_by_rule[1] = n(set.held);
    *metrics_.listed_by_rule[2] = n(set.banned);
    *metrics_.listed_by_rule[3] = n(set.escalated);
    // The files are out: now the subjects' published state and history.
    // Should this fail, the next publish finds the same transitions again.
    record_transitions(store_, set.transitions, job.policy, now);
    for (const Transition& t : set.transitions) {
      ++(t.listed ? metrics_.listing_events_listed : metrics_.listing_events_unlisted);
      LOG_INFO("{} {}: {}", t.listed ? "listed" : "unlisted", t.subject.text, t.why);
    }
    metrics_.subjects = static_cast<std::int64_t>(set.subjects);
    if (r.written > 0 || offered) {
      metrics_.last_publish_time = now;
      LOG_DEBUG("published {} black and {} white listings ({} files replaced{})", set.black.size(),
                set.white.size(), r.written, offered ? ", zones offered to the name server" : "");
    }
    out.next_change = set.next_change;
    out.ok = true;
  } catch (const Error& e) {
    ++metrics_.publish_errors;
    LOG_ERROR("publishing failed, retrying: {}", e.what());
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (out.ok) metrics_.publish_duration_ms = out.took.count();
  return out;
}

void Publisher::finish(const Outcome& o) {
  busy_ = false;
  if (stopped_) return;
  if (!o.ok) {
    dirty_ = true;
    if (!armed_) arm(kRetry);
    return;
  }
  interval_ = std::max<std::chrono::milliseconds>(kMinInterval, 4 * o.took);
  if (o.next_change) arm_expiry(*o.next_change);
  if (dirty_) mark_dirty();  // changes that came while it ran
}

void Publisher::arm_expiry(UnixTime at) {
  if (stopped_ || at == expiry_at_) return;
  expiry_at_ = at;
  expiry_timer_.expires_after(until_second(at));
  expiry_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    expiry_at_ = 0;
    mark_dirty();
  });
}

void Publisher::start() {
  dirty_ = true;
  generation_ = store_.generation();
  publish(/*inline_run=*/true);  // the files exist before any client is served
  prune();
  arm_prune();
  arm_watch();
}

void Publisher::arm_watch() {
  watch_timer_.expires_after(kWatchEvery);
  watch_timer_.async_wait([this](std::error_code ec) {
    if (ec || stopped_) return;
    try {
      const std::uint64_t g = store_.generation();
      if (g != generation_) {
        generation_ = g;
        ++metrics_.operator_changes;
        mark_dirty();
      }
    } catch (const Error& e) {
      LOG_ERROR("{}", e.what());
    }
    arm_watch();
  });
}

void Publisher::arm_prune() {
  prune_timer_.expires_after(kPruneEvery);
  prune_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    prune();
    arm_prune();
  });
}

void Publisher::prune() {
  const UnixTime now = clock_.now();
  const UnixTime before = now - std::max(policy_.retention, policy_.ttl);
  try {
    for (int round = 0; round < 100; ++round) {
      const std::size_t n = store_.prune(before, now, kPruneBatch);
      metrics_.pruned += n;
      if (n < kPruneBatch) break;
    }
  } catch (const Error& e) {
    LOG_ERROR("pruning the store failed: {}", e.what());
  }
}

void Publisher::stop() {
  stopped_ = true;
  timer_.cancel();
  expiry_timer_.cancel();
  prune_timer_.cancel();
  watch_timer_.cancel();
  pool_.join();  // a publish in progress ends (its finish() sees stopped_)
  busy_ = false;
  if (dirty_) publish(/*inline_run=*/true);
}

}  // namespace exigrey::collect

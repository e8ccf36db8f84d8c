// SPDX-License-Identifier: GPL-2.0-or-later
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
      watch_timer_(io),
      full_timer_(io),
      index_(writer != nullptr ? writer->shards() : 1) {}

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
  full_wanted_ = true;
  changed_.clear();  // a full publish looks at everything
  schedule();
}

void Publisher::mark_changed(std::vector<Subject> subjects) {
  if (!full_wanted_) {
    if (changed_.empty()) {
      changed_ = std::move(subjects);
    } else {
      changed_.insert(changed_.end(), std::make_move_iterator(subjects.begin()),
                      std::make_move_iterator(subjects.end()));
    }
  }
  schedule();
}

void Publisher::schedule() {
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
  Job job{policy_, zone_, clock_.now(), full_wanted_, {}};
  job.subjects.swap(changed_);
  full_wanted_ = false;
  if (inline_run) {
    finish(compute(job));
    return;
  }
  // A full publish grows with the list (seconds at a million listings): off
  // the event loop, so that intake, /metrics and the lookup page never wait.
  asio::post(pool_, [this, job = std::move(job)]() mutable {
    Outcome o = compute(job);
    asio::post(io_, [this, o = std::move(o)]() mutable { finish(std::move(o)); });
  });
}

DnsSync::Full Publisher::render_full() {
  // On the DnsSync's thread, rarely (start, resync, a zone that changed
  // behind our back): a copy of the listings, rendered whole.
  std::lock_guard lock(index_mu_);
  DnsSync::Full full;
  // published_zone_, not zone_: that is the event loop's, and the index
  // is rendered as it was published (set since the first publish, which
  // precedes DnsSync::start).
  full.zones = render_dns_zones(index_.listings(Verb::kBlack), index_.listings(Verb::kWhite),
                                *published_zone_, dns_zones_);
  full.version = version_;
  return full;
}

void Publisher::update_metrics(std::uint64_t subjects) {
  std::size_t i = 0;
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    for (ZoneFileKind k : {ZoneFileKind::kIp4, ZoneFileKind::kIp6, ZoneFileKind::kNames}) {
      *metrics_.listed[i++] = static_cast<std::int64_t>(index_.size(list, k));
    }
  }
  const auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  *metrics_.listed_by_rule[0] = n(index_.black_by(Rule::kVotes));
  *metrics_.listed_by_rule[1] = n(index_.black_by(Rule::kHeld));
  *metrics_.listed_by_rule[2] = n(index_.black_by(Rule::kBanned));
  *metrics_.listed_by_rule[3] = n(index_.black_by(Rule::kEscalated));
  metrics_.subjects = static_cast<std::int64_t>(subjects);
}

Publisher::Outcome Publisher::compute(Job& job) {
  const auto started = std::chrono::steady_clock::now();
  const UnixTime now = job.now;
  Outcome out;
  out.full = job.full || escalation_on(job.policy) || !published_zone_;
  try {
    const bool rendering_changed = !published_zone_ || !(*published_zone_ == job.zone);
    const bool dns = dns_ != nullptr && dns_started_;
    std::vector<bool> dirty(6 * std::size_t{index_.shards()}, rendering_changed);
    std::size_t changed = 0;
    std::size_t dns_changes = 0;
    std::uint64_t looked_at = 0;
    std::vector<Transition> transitions;  // of the last step: recorded after the files
    // What follows from the index's changes: timers, DNS records, the files
    // to rewrite, and the transitions to record.
    auto step = [&](ListingSet& set, const std::vector<ListingIndex::Change>& changes,
                    std::uint64_t version) {
      for (const auto& [subject, at] : set.timers) expiry_.set(subject, at);
      if (dns && !rendering_changed) {
        // Before the files: computing them takes microseconds, and the name
        // server applies them while the files are written.
        std::vector<DnsZoneChanges> zc = dns_changes_of(changes, job.zone, dns_zones_);
        for (const DnsZoneChanges& c : zc) {
          dns_changes += c.changes.remove.size() + c.changes.add.size();
        }
        dns_->push(std::move(zc), version);
      }
      for (const ListingIndex::Change& c : changes) {
        dirty[index_.slot(c.list, c.after ? c.after->subject : c.before->subject)] = true;
      }
      changed += changes.size();
      looked_at += set.subjects;
      record(transitions, job.policy, now);  // an earlier step's
      transitions = std::move(set.transitions);
    };
    if (out.full) {
      ListingSet set = collect_listings(store_, job.policy, now);
      std::vector<ListingIndex::Change> changes;
      std::uint64_t version = 0;
      {
        std::lock_guard lock(index_mu_);
        changes = index_.replace(set.black, set.white);
        version = ++version_;
        published_zone_ = job.zone;
      }
      expiry_.clear();
      step(set, changes, version);
    } else {
      // What was reported, and what is due; each subject once.
      std::vector<Subject> subjects = std::move(job.subjects);
      for (Subject& s : expiry_.due(now)) subjects.push_back(std::move(s));
      // Sorted in place: a bulk load brings millions.
      std::sort(subjects.begin(), subjects.end(), [](const Subject& a, const Subject& b) {
        return a.kind != b.kind ? a.kind < b.kind : a.text < b.text;
      });
      subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
      // In steps of kStep subjects, so that a bulk load of millions costs
      // bounded memory and write transactions.
      for (std::size_t first = 0; first < subjects.size(); first += kStep) {
        const std::span<const Subject> part = std::span<const Subject>(subjects).subspan(
            first, std::min(kStep, subjects.size() - first));
        ListingSet set = evaluate_subjects(store_, part, job.policy, now);
        for (const Subject& s : part) expiry_.set(s, std::nullopt);
        std::vector<ListingIndex::Change> changes;
        std::uint64_t version = 0;
        {
          std::lock_guard lock(index_mu_);
          changes = index_.update(part, set.black, set.white);
          version = ++version_;
          published_zone_ = job.zone;
        }
        step(set, changes, version);
      }
    }
    if (dns && rendering_changed) dns_->resync(static_cast<std::uint32_t>(job.zone.ttl));
    ZoneWriter::Result r;
    if (writer_ != nullptr) {
      if (!(writer_->options() == job.zone)) writer_->set_options(job.zone);
      r = writer_->publish(index_, dirty, now);
    }
    metrics_.files_written += r.written;
    update_metrics(out.full ? looked_at : store_.totals().subjects);
    // The files are out: now the last step's transitions (the subjects'
    // published state and history). Should this fail, the next (full)
    // publish finds the same transitions.
    record(transitions, job.policy, now);
    if (r.written > 0 || dns_changes > 0) {
      metrics_.last_publish_time = now;
      LOG_DEBUG(
          "{} publish: {} subjects looked at, {} listings changed, {} files replaced, "
          "{} DNS records changed",
          out.full ? "full" : "incremental", looked_at, changed, r.written, dns_changes);
    }
    out.next_change = expiry_.earliest();
    if (job.policy.probation > 0) {
      for (const auto& [reporter, first] : store_.reporters()) {
        const UnixTime end = first + job.policy.probation;
        if (end > now && (!out.next_full || end < *out.next_full)) out.next_full = end;
      }
    }
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

void Publisher::record(std::vector<Transition>& transitions, const ListingPolicy& policy,
                       UnixTime now) {
  if (transitions.empty()) return;
  record_transitions(store_, transitions, policy, now);
  for (const Transition& t : transitions) {
    ++(t.listed ? metrics_.listing_events_listed : metrics_.listing_events_unlisted);
    LOG_INFO("{} {}: {}", t.listed ? "listed" : "unlisted", t.subject.text, t.why);
  }
  transitions.clear();
}

void Publisher::finish(Outcome o) {
  busy_ = false;
  if (stopped_) return;
  if (!o.ok) {
    // What the failed publish left undone is not known: look at everything.
    full_wanted_ = true;
    changed_.clear();
    dirty_ = true;
    if (!armed_) arm(kRetry);
    return;
  }
  // Spaced by four times their duration, so that publishing leaves the
  // CPU to intake; but never by more than kMaxInterval: a publish of
  // millions of subjects at once (a bulk load) must not hold back the
  // next report for minutes.
  if (!o.full)
    interval_ = std::clamp<std::chrono::milliseconds>(4 * o.took, kMinInterval, kMaxInterval);
  if (o.next_change) {
    // The publish takes what is due from the ExpiryIndex.
    arm_at(expiry_timer_, expiry_at_, *o.next_change, [this] { mark_changed({}); });
  }
  if (o.next_full) {
    // A reporter's probation ends: its votes now weigh more, on any subject.
    arm_at(full_timer_, full_at_, *o.next_full, [this] { mark_dirty(); });
  }
  if (dirty_) schedule();  // changes that came while it ran
}

template <typename Then>
void Publisher::arm_at(asio::steady_timer& timer, UnixTime& armed, UnixTime at, Then then) {
  if (stopped_ || at == armed) return;
  armed = at;
  timer.expires_after(until_second(at));
  timer.async_wait([&armed, then](std::error_code ec) {
    if (ec) return;
    armed = 0;
    then();
  });
}

void Publisher::start() {
  full_wanted_ = true;
  dirty_ = true;
  generation_ = store_.generation();
  publish(/*inline_run=*/true);  // the files exist before any client is served
  if (dns_ != nullptr) {
    // Only now: the index holds the listings, so the first comparison with
    // the name server never takes them away.
    dns_started_ = true;
    dns_->start([this] { return render_full(); }, static_cast<std::uint32_t>(zone_.ttl));
  }
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
        ReputationStore::Touched t = store_.touched_since(generation_);
        metrics_.operator_changes += t.generation - generation_;
        generation_ = t.generation;
        if (t.complete) {
          mark_changed(std::move(t.subjects));
        } else {
          mark_dirty();
        }
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
  full_timer_.cancel();
  pool_.join();  // a publish in progress ends (its finish() sees stopped_)
  busy_ = false;
  if (dirty_) publish(/*inline_run=*/true);
}

}  // namespace exigrey::collect

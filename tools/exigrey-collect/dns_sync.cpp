// SPDX-License-Identifier: GPL-2.0-or-later
#include "dns_sync.h"

#include <algorithm>

#include "common/log.h"
#include "exigrey/dns_wire.h"
#include "exigrey/error.h"

namespace exigrey::collect {
namespace {

dns::Type wire_type(DnsRecordType t) {
  return static_cast<dns::Type>(static_cast<std::uint16_t>(t));
}

std::string rdata_of(DnsRecordType type, const std::string& data) {
  switch (type) {
    case DnsRecordType::kA:
      return dns::rdata_a(data);
    case DnsRecordType::kTxt:
      return dns::rdata_txt(data);
    case DnsRecordType::kCname:
      return dns::rdata_name(data);
  }
  return {};
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

}  // namespace

DnsSync::DnsSync(Endpoint server, dns::TsigKey key, std::vector<Endpoint> notify,
                 std::vector<std::string> zones, std::size_t backlog, CollectMetrics& metrics)
    : client_(std::move(server), std::move(key), kTimeout),
      notify_(std::move(notify)),
      zones_(std::move(zones)),
      backlog_(backlog),
      metrics_(metrics) {
  thread_ = std::thread([this] { run(); });
}

DnsSync::~DnsSync() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DnsSync::start(Source source, std::uint32_t ttl) {
  {
    std::lock_guard lock(mu_);
    source_ = std::move(source);
    ttl_ = ttl;
    resync_ = true;
    ++requested_;
    metrics_.dns_behind = 1;
  }
  cv_.notify_all();
}

void DnsSync::push(std::vector<DnsZoneChanges> changes, std::uint64_t version) {
  if (changes.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (DnsZoneChanges& zc : changes) {
      ZonePending& zp = pending_[zc.zone];
      // Removals first: the add of a changed record overwrites its delete.
      for (DnsEntry& e : zc.changes.remove) {
        zp[Key{std::move(e.owner), e.type}] = Pending{std::nullopt, version};
      }
      for (DnsEntry& e : zc.changes.add) {
        zp[Key{std::move(e.owner), e.type}] = Pending{std::move(e.data), version};
      }
    }
    bound_pending();
    ++requested_;
    metrics_.dns_behind = 1;
  }
  cv_.notify_all();
}

void DnsSync::resync(std::uint32_t ttl) {
  {
    std::lock_guard lock(mu_);
    ttl_ = ttl;
    resync_ = true;
    ++requested_;
    metrics_.dns_behind = 1;
  }
  cv_.notify_all();
}

bool DnsSync::drain(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return done_ == requested_; });
}

void DnsSync::requeue(std::map<std::string, ZonePending>& pending) {
  // Under mu_. What was pushed since is newer: it stays.
  for (auto& [zone, zp] : pending) {
    ZonePending& now = pending_[zone];
    for (auto& [key, p] : zp) now.try_emplace(key, std::move(p));
  }
  bound_pending();
}

void DnsSync::bound_pending() {
  std::size_t held = 0;
  for (const auto& [zone, zp] : pending_) held += zp.size();
  if (held <= backlog_) return;
  // The changes are in the publisher's index, which the whole comparison
  // renders: dropping them loses nothing, and the comparison costs the
  // same whatever the backlog was.
  pending_.clear();
  if (!overflowed_) {
    overflowed_ = true;
    LOG_INFO(
        "dns: {} record changes pending, more than dns_backlog {}: the zones will be "
        "compared whole instead",
        held, backlog_);
    ++metrics_.dns_backlog_overflows;
  }
  resync_ = true;
}

void DnsSync::run() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    Round round;
    Source source;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stop_ || (source_ && requested_ != done_); };
      if (backoff.count() > 0) {
        // After a failure: wait out the backoff, even if new changes come
        // (they coalesce into the next round).
        cv_.wait_for(lock, backoff, [&] { return stop_; });
      }
      // Nothing new for kCheckEvery: check the serials anyway, so that a
      // primary that lost or rolled back the zone is refilled.
      cv_.wait_for(lock, kCheckEvery, ready);
      if (stop_) return;
      if (!source_) continue;
      round.pending.swap(pending_);
      overflowed_ = false;
      round.resync = resync_;
      resync_ = false;
      round.ttl = ttl_;
      round.target = requested_;
      source = source_;
    }
    const auto started = std::chrono::steady_clock::now();
    try {
      sync(round, source);
      client_.close();
      backoff = std::chrono::milliseconds(0);
      metrics_.dns_sync_duration_ms = ms_since(started);
      std::lock_guard lock(mu_);
      done_ = std::max(done_, round.target);
      if (done_ == requested_) metrics_.dns_behind = 0;
    } catch (const std::exception& e) {
      client_.close();
      ++metrics_.dns_errors;
      backoff = std::clamp(backoff * 2, kRetryFirst, kRetryMax);
      LOG_ERROR("dns: {} (retrying in {} ms)", e.what(), backoff.count());
      std::lock_guard lock(mu_);
      requeue(round.pending);
      resync_ = resync_ || round.resync;
      ++requested_;  // so that the next round comes without a new push
    }
    cv_.notify_all();
  }
}

void DnsSync::sync(Round& round, const Source& source) {
  // A zone about to be changed is checked first, always; the others every
  // kCheckEvery (a split list has 257 zones, and a publish touches few).
  const auto now = std::chrono::steady_clock::now();
  const bool check_all = now >= next_check_;
  if (check_all) next_check_ = now + kCheckEvery;
  for (const std::string& zone : zones_) {
    Held& held = held_[zone];
    if (round.resync) held.known = false;
    if (!held.known) continue;
    if (!check_all && !round.pending.contains(zone)) continue;
    const std::uint32_t serial = client_.serial(zone);
    if (serial != held.serial) {
      LOG_WARNING("dns: {} is at serial {}, not {} as our last update left it: reading it again",
                  zone, serial, held.serial);
      held.known = false;
    }
  }
  std::optional<Full> full;
  for (const std::string& zone : zones_) {
    Held& held = held_[zone];
    const auto pending = round.pending.find(zone);
    if (!held.known) {
      if (!full) full = source();
      const auto it = std::find_if(full->zones.begin(), full->zones.end(),
                                   [&](const DnsZoneContent& z) { return z.zone == zone; });
      sync_whole(it != full->zones.end() ? *it : DnsZoneContent{zone, {}, 0}, round.ttl, held);
      // Each zone is compared once: free its rendering now, not after the
      // last of a split list's 257.
      if (it != full->zones.end()) std::vector<DnsEntry>().swap(it->entries);
      // The rendering includes what was pushed up to its version.
      if (pending != round.pending.end()) {
        std::erase_if(pending->second,
                      [&](const auto& kv) { return kv.second.version <= full->version; });
      }
    }
    if (pending != round.pending.end()) {
      if (!pending->second.empty()) send_pending(zone, pending->second, round.ttl, held);
      round.pending.erase(pending);  // sent: nothing to requeue after a later failure
    }
  }
}

std::vector<DnsEntry> DnsSync::load(const std::string& zone, Held& held, std::uint32_t ttl,
                                    bool& same_ttl) {
  const auto started = std::chrono::steady_clock::now();
  held = Held{};
  std::vector<DnsEntry> entries;
  std::uint32_t first_ttl = 0;
  bool mixed = false;
  std::uint64_t records = 0;
  client_.transfer(zone, [&](dns::Record&& r) {
    ++records;
    if (r.type == dns::Type::kSOA && dns::names_equal(r.name, zone)) {
      held.serial = dns::parse_soa(r.rdata).serial;
      return;
    }
    if (dns::names_equal(r.name, zone)) return;  // the apex is the operator's
    DnsEntry e{std::move(r.name), DnsRecordType::kA, {}};
    switch (r.type) {
      case dns::Type::kA:
        e.data = dns::a_text(r.rdata);
        break;
      case dns::Type::kTXT:
        e.type = DnsRecordType::kTxt;
        e.data = dns::txt_text(r.rdata);
        break;
      case dns::Type::kCNAME:
        e.type = DnsRecordType::kCname;
        e.data = dns::normalize_name(dns::name_text(r.rdata));
        break;
      default:
        return;  // not ours to manage
    }
    if (first_ttl == 0) first_ttl = r.ttl;
    mixed = mixed || r.ttl != first_ttl;
    entries.push_back(std::move(e));
  });
  std::stable_sort(entries.begin(), entries.end(), dns_entry_less);
  // Two records in one of our RRsets (not something we write): make the
  // RRset differ from anything wanted, so that it is replaced whole.
  for (std::size_t i = 1; i < entries.size(); ++i) {
    DnsEntry& prev = entries[i - 1];
    if (prev.owner == entries[i].owner && prev.type == entries[i].type) {
      prev.data.insert(0, 1, '\0');
    }
  }
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const DnsEntry& a, const DnsEntry& b) {
                              return a.owner == b.owner && a.type == b.type;
                            }),
                entries.end());
  same_ttl = !mixed && first_ttl == ttl;
  ++metrics_.dns_transfers;
  LOG_INFO("dns: {} holds {} of our records at serial {} (transfer of {} records, {} ms)", zone,
           entries.size(), held.serial, records, ms_since(started));
  return entries;
}

void DnsSync::notify(const std::string& zone) {
  for (const Endpoint& to : notify_) {
    if (send_notify(to, zone, client_.next_id())) {
      ++metrics_.dns_notifies;
    } else {
      LOG_DEBUG("dns: NOTIFY {} to {} could not be sent", zone, to.to_string());
    }
  }
}

void DnsSync::sync_whole(const DnsZoneContent& wanted, std::uint32_t ttl, Held& held) {
  const std::string& zone = wanted.zone;
  bool same_ttl = false;
  const std::vector<DnsEntry> entries = load(zone, held, ttl, same_ttl);
  // A new TTL: every record is written again, what the server holds first.
  const DnsChanges changes = diff_dns_entries(
      same_ttl ? std::span<const DnsEntry>(entries) : std::span<const DnsEntry>(), wanted.entries);
  const std::vector<DnsEntry>& rm = same_ttl ? changes.remove : entries;
  const std::vector<DnsEntry>& ad = changes.add;
  if (rm.empty() && ad.empty()) {
    held.known = true;
    return;
  }
  // Walk removals and additions in (owner, type) order so that the two
  // halves of a change land in one message.
  std::size_t i = 0;
  std::size_t j = 0;
  std::vector<std::size_t> sizes;  // changes per message
  std::vector<std::string> messages;
  while (i < rm.size() || j < ad.size()) {
    dns::UpdateBuilder b(client_.next_id(), zone);
    while ((i < rm.size() || j < ad.size()) && b.changes() < kMaxChanges &&
           b.size() < kMaxMessageBytes - 1024) {
      const bool take_rm = j == ad.size() || (i < rm.size() && !dns_entry_less(ad[j], rm[i]));
      if (take_rm) {
        const DnsEntry& e = rm[i++];
        b.delete_rrset(e.owner, wire_type(e.type));
      } else {
        const DnsEntry& e = ad[j++];
        b.add(e.owner, wire_type(e.type), ttl, rdata_of(e.type, e.data));
      }
    }
    // The add that completes a change at the message boundary goes with it.
    if (i > 0 && j < ad.size() && ad[j].owner == rm[i - 1].owner && ad[j].type == rm[i - 1].type) {
      const DnsEntry& e = ad[j++];
      b.add(e.owner, wire_type(e.type), ttl, rdata_of(e.type, e.data));
    }
    sizes.push_back(b.changes());
    messages.push_back(b.finish());
  }
  send_all(zone, std::move(messages), sizes, held);
}

void DnsSync::send_pending(const std::string& zone, const ZonePending& pending, std::uint32_t ttl,
                           Held& held) {
  std::vector<std::size_t> sizes;  // changes per message
  std::vector<std::string> messages;
  auto it = pending.begin();
  while (it != pending.end()) {
    dns::UpdateBuilder b(client_.next_id(), zone);
    // Both halves of a change (delete, add) go in one message.
    while (it != pending.end() && b.changes() + 2 <= kMaxChanges &&
           b.size() < kMaxMessageBytes - 1024) {
      const auto& [key, p] = *it++;
      b.delete_rrset(key.first, wire_type(key.second));
      if (p.data) {
        b.add(key.first, wire_type(key.second), ttl, rdata_of(key.second, *p.data));
      }
    }
    sizes.push_back(b.changes());
    messages.push_back(b.finish());
  }
  send_all(zone, std::move(messages), sizes, held);
}

void DnsSync::send_all(const std::string& zone, std::vector<std::string> messages,
                       const std::vector<std::size_t>& sizes, Held& held) {
  held.known = false;  // until every message is accepted
  const std::size_t n = messages.size();
  std::uint64_t changes = 0;
  client_.update(zone, std::move(messages), kWindow, [&](std::size_t i) {
    ++metrics_.dns_updates;
    metrics_.dns_changes += sizes[i];
    changes += sizes[i];
  });
  held.serial = client_.serial(zone);
  held.known = true;
  notify(zone);
  LOG_DEBUG("dns: {}: {} changes in {} updates, now at serial {}", zone, changes, n, held.serial);
}

}  // namespace exigrey::collect

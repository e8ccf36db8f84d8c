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

std::string rdata_of(const DnsEntry& e) {
  switch (e.type) {
    case DnsRecordType::kA:
      return dns::rdata_a(e.data);
    case DnsRecordType::kTxt:
      return dns::rdata_txt(e.data);
    case DnsRecordType::kCname:
      return dns::rdata_name(e.data);
  }
  return {};
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

}  // namespace

DnsSync::DnsSync(Endpoint server, dns::TsigKey key, std::vector<Endpoint> notify,
                 CollectMetrics& metrics)
    : client_(std::move(server), std::move(key), kTimeout),
      notify_(std::move(notify)),
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

void DnsSync::offer(std::vector<DnsZoneContent> zones, std::uint32_t ttl) {
  {
    std::lock_guard lock(mu_);
    auto w = std::make_shared<Wanted>();
    w->zones = std::move(zones);
    w->ttl = ttl;
    w->version = ++offered_;
    wanted_ = std::move(w);
    metrics_.dns_behind = 1;
  }
  cv_.notify_all();
}

bool DnsSync::drain(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return done_ == offered_; });
}

void DnsSync::run() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    std::shared_ptr<const Wanted> wanted;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stop_ || (wanted_ && wanted_->version != done_); };
      if (backoff.count() > 0) {
        // After a failure: wait out the backoff, even if new offers come
        // (they coalesce into the next round).
        cv_.wait_for(lock, backoff, [&] { return stop_; });
      }
      // Nothing new for kCheckEvery: check the serials anyway, so that a
      // primary that lost or rolled back the zone is refilled.
      const bool fresh = cv_.wait_for(lock, kCheckEvery, ready);
      if (stop_) return;
      if (!fresh && !wanted_) continue;
      wanted = wanted_;
    }
    const auto started = std::chrono::steady_clock::now();
    try {
      sync(*wanted);
      client_.close();
      backoff = std::chrono::milliseconds(0);
      metrics_.dns_sync_duration_ms = ms_since(started);
      std::lock_guard lock(mu_);
      done_ = wanted->version;
      if (done_ == offered_) metrics_.dns_behind = 0;
    } catch (const std::exception& e) {
      client_.close();
      ++metrics_.dns_errors;
      backoff = std::clamp(backoff * 2, kRetryFirst, kRetryMax);
      LOG_ERROR("dns: {} (retrying in {} ms)", e.what(), backoff.count());
    }
    cv_.notify_all();
  }
}

void DnsSync::sync(const Wanted& wanted) {
  for (const DnsZoneContent& zone : wanted.zones) sync_zone(zone, wanted.ttl);
}

void DnsSync::load(const std::string& zone, Held& held) {
  const auto started = std::chrono::steady_clock::now();
  held = Held{};
  std::uint32_t ttl = 0;
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
    if (ttl == 0) ttl = r.ttl;
    mixed = mixed || r.ttl != ttl;
    held.entries.push_back(std::move(e));
  });
  std::stable_sort(held.entries.begin(), held.entries.end(), dns_entry_less);
  // Two records in one of our RRsets (not something we write): make the
  // RRset differ from anything wanted, so that it is replaced whole.
  for (std::size_t i = 1; i < held.entries.size(); ++i) {
    DnsEntry& prev = held.entries[i - 1];
    if (prev.owner == held.entries[i].owner && prev.type == held.entries[i].type) {
      prev.data.insert(0, 1, '\0');
    }
  }
  held.entries.erase(std::unique(held.entries.begin(), held.entries.end(),
                                 [](const DnsEntry& a, const DnsEntry& b) {
                                   return a.owner == b.owner && a.type == b.type;
                                 }),
                     held.entries.end());
  held.ttl = mixed ? 0 : ttl;
  held.known = true;
  ++metrics_.dns_transfers;
  LOG_INFO("dns: {} holds {} of our records at serial {} (transfer of {} records, {} ms)", zone,
           held.entries.size(), held.serial, records, ms_since(started));
}

void DnsSync::sync_zone(const DnsZoneContent& zone, std::uint32_t ttl) {
  Held& held = held_[zone.zone];
  if (held.known) {
    const std::uint32_t serial = client_.serial(zone.zone);
    if (serial != held.serial) {
      LOG_WARNING("dns: {} is at serial {}, not {} as our last update left it: reading it again",
                  zone.zone, serial, held.serial);
      held.known = false;
    }
  }
  if (!held.known) load(zone.zone, held);
  // A new TTL: every record is written again.
  const std::vector<DnsEntry> none;
  const DnsChanges changes = diff_dns_entries(
      held.ttl == ttl ? std::span<const DnsEntry>(held.entries) : std::span<const DnsEntry>(none),
      zone.entries);
  std::vector<DnsEntry> stale;  // with a new TTL, what the server holds goes first
  if (held.ttl != ttl) stale = held.entries;
  if (changes.empty() && stale.empty()) {
    held.known = true;
    return;
  }

  // Walk removals and additions in (owner, type) order so that the two
  // halves of a change land in one message.
  const auto& rm = stale.empty() ? changes.remove : stale;
  const auto& ad = changes.add;
  std::size_t i = 0;
  std::size_t j = 0;
  std::uint64_t sent_changes = 0;
  unsigned messages = 0;
  held.known = false;  // until every message is accepted
  while (i < rm.size() || j < ad.size()) {
    dns::UpdateBuilder b(client_.next_id(), zone.zone);
    while ((i < rm.size() || j < ad.size()) && b.changes() < kMaxChanges &&
           b.size() < kMaxMessageBytes - 1024) {
      const bool take_rm = j == ad.size() || (i < rm.size() && !dns_entry_less(ad[j], rm[i]));
      if (take_rm) {
        const DnsEntry& e = rm[i++];
        b.delete_rrset(e.owner, wire_type(e.type));
      } else {
        const DnsEntry& e = ad[j++];
        b.add(e.owner, wire_type(e.type), ttl, rdata_of(e));
      }
    }
    // The add that completes a change at the message boundary goes with it.
    if (i > 0 && j < ad.size() && ad[j].owner == rm[i - 1].owner && ad[j].type == rm[i - 1].type) {
      const DnsEntry& e = ad[j++];
      b.add(e.owner, wire_type(e.type), ttl, rdata_of(e));
    }
    sent_changes += b.changes();
    client_.update(zone.zone, b.finish());
    ++messages;
    ++metrics_.dns_updates;
    metrics_.dns_changes += b.changes();
  }
  held.entries = zone.entries;
  held.ttl = ttl;
  held.serial = client_.serial(zone.zone);
  held.known = true;
  for (const Endpoint& to : notify_) {
    if (send_notify(to, zone.zone, client_.next_id())) {
      ++metrics_.dns_notifies;
    } else {
      LOG_DEBUG("dns: NOTIFY {} to {} could not be sent", zone.zone, to.to_string());
    }
  }
  LOG_DEBUG("dns: {}: {} changes in {} updates, now at serial {}", zone.zone, sent_changes,
            messages, held.serial);
}

}  // namespace exigrey::collect

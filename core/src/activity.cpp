// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/activity.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "exigrey/ip_network.h"
#include "exigrey/listing.h"
#include "exigrey/text.h"

namespace exigrey {

const std::array<DelayBucket, kDelayBuckets> kDelayBucketTable = {{
    {"<1m", 0, 60},
    {"1-5m", 60, 300},
    {"5-10m", 300, 600},
    {"10-15m", 600, 900},
    {"15-30m", 900, 1800},
    {"30m-1h", 1800, 3600},
    {"1-2h", 3600, 7200},
    {"2-6h", 7200, 21600},
    {"6-24h", 21600, 86400},
    {">=1d", 86400, std::nullopt},
}};

namespace {

// Below this, delays are kept to the second; above, to the minute, so that
// a store full of year-old items cannot make the value map large.
constexpr std::int64_t kExactBelow = 86400;

// How often scan_store reports progress, in entries.
constexpr std::uint64_t kProgressEvery = 4096;

// a - b, clamped to the range of UnixTime: records and --at may hold any value.
std::int64_t minus(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) {
    return b < 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return r;
}

}  // namespace

void DelayStats::add(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(seconds, 0);
  ++count_;
  max_ = std::max(max_, seconds);
  for (std::size_t i = kDelayBuckets; i-- > 0;) {
    if (seconds >= kDelayBucketTable[i].from) {
      ++buckets_[i];
      break;
    }
  }
  ++values_[seconds < kExactBelow ? seconds : seconds - seconds % 60];
}

std::optional<std::int64_t> DelayStats::percentile(unsigned percent) const {
  if (count_ == 0) return std::nullopt;
  percent = std::min(percent, 100u);
  // The rank ceil(count * percent / 100), at least 1; count < 2^64 / 100 in practice,
  // but compute without overflow anyway.
  std::uint64_t rank = count_ / 100 * percent + (count_ % 100 * percent + 99) / 100;
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (const auto& [value, n] : values_) {
    seen += n;
    if (seen >= rank) return std::min(value, max_);
  }
  return max_;
}

void TopCounter::add(std::string_view name, std::uint64_t n) {
  total_ += n;
  // Heterogeneous lookup needs a transparent hash; one string per miss is fine.
  const auto it = counts_.find(std::string(name));
  if (it != counts_.end()) {
    it->second += n;
  } else if (counts_.size() < max_names_) {
    counts_.emplace(std::string(name), n);
  } else {
    other_ += n;
  }
}

std::vector<TopCounter::Entry> TopCounter::top(std::size_t n) const {
  std::vector<Entry> all;
  all.reserve(counts_.size());
  for (const auto& [name, count] : counts_) all.push_back({name, count});
  const auto by_count = [](const Entry& a, const Entry& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  };
  const std::size_t keep = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    by_count);
  all.resize(keep);
  return all;
}

GreyActivity::GreyActivity(const ActivityOptions& o)
    : options(o),
      never_retried_networks(o.max_groups),
      sender_domains(o.max_groups),
      log_networks(o.max_groups),
      log_sender_domains(o.max_groups) {}

std::string network_group(const IpAddress& addr) {
  const IpAddress a = addr.unmapped();
  return network_of(a, a.v6 ? 64 : 24).to_string();
}

std::string network_group(std::string_view text) {
  // The longest leading run that can be part of an address: "192.0.2.0/24"
  // and "2001:db8::/48" group by their address, "mx.example" stays as it is.
  std::size_t end = 0;
  while (end < text.size() && (std::isxdigit(static_cast<unsigned char>(text[end])) != 0 ||
                               text[end] == '.' || text[end] == ':')) {
    ++end;
  }
  if (const auto ip = parse_ip(text.substr(0, end))) return network_group(*ip);
  return std::string(text);
}

std::optional<std::string> sender_domain(std::string_view text) {
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view rest = text.substr(at + 1);
  const std::string_view domain = rest.substr(0, rest.find_first_of(">:/;, \"\t"));
  if (domain.empty()) return std::nullopt;
  return ascii_lower(domain);
}

void scan_store(GreyActivity& a, const Store& store, const ActivityProgress& progress,
                const BulkLimits& limits) {
  const ActivityOptions& o = a.options;
  const bool tops = o.top > 0;
  const UnixTime retry_cutoff = minus(o.now, o.retry_window);  // first seen before: never retried
  std::uint64_t scanned = 0;
  const auto tick = [&] {
    if (++scanned % kProgressEvery == 0 && progress) progress(scanned);
  };
  for_each_item(
      store, {},
      [&](const ItemView& v) {
        const ItemRecord& r = v.record;
        ++a.items;
        const bool created_in = r.created >= o.since && r.created <= o.now;
        const bool used_in = r.used >= o.since && r.used <= o.now;
        if (created_in) {
          ++a.first_seen;
          if (tops) {
            if (auto d = sender_domain(v.name)) a.sender_domains.add(*d);
          }
        }
        if (r.count == 1 && used_in) {
          ++a.first_passes;
          a.store_delays.add(minus(r.used, r.created));
        } else if (r.count > 1 && used_in) {
          ++a.passed_again;
          if (created_in) ++a.delays_left_out;
        } else if (r.count == 0 && created_in) {
          if (r.created < retry_cutoff) {
            ++a.never_retried;
            if (tops && r.first) a.never_retried_networks.add(network_group(*r.first));
          } else {
            ++a.waiting;
          }
        }
        tick();
        return true;
      },
      limits);
  for_each_whitelisted(
      store, {},
      [&](const WhitelistView& v) {
        const WhitelistEntry& w = v.entry;
        ++a.whitelist;
        if (w.created >= o.since && w.created <= o.now) ++a.whitelist_new;
        if (w.last_used >= o.since && w.last_used <= o.now) ++a.whitelist_used;
        tick();
        return true;
      },
      limits);
  a.store_scanned = true;
  if (progress) progress(scanned);
}

}  // namespace exigrey

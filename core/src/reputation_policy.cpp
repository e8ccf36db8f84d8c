#include "exigrey/reputation_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "exigrey/error.h"

namespace exigrey {
namespace {

bool covers(std::string_view domain, std::string_view name) noexcept {
  if (name == domain) return true;
  return name.size() > domain.size() && name.ends_with(domain) &&
         name[name.size() - domain.size() - 1] == '.';
}

// A vote more than `ttl` in the future was cast while the clock ran ahead:
// it does not count, or a listing could outlive its ttl by the size of the
// clock's error (docs/reliability.md).
bool live(UnixTime t, UnixTime now, std::int64_t ttl) {
  return t != 0 && t >= now - ttl && t - now <= ttl;
}

double weight(UnixTime t, UnixTime now, std::int64_t decay) {
  if (decay <= 0) return 1.0;
  const double age = static_cast<double>(std::max<UnixTime>(0, now - t));
  return std::exp2(-age / static_cast<double>(decay));
}

void earliest(std::optional<UnixTime>& acc, UnixTime t) {
  if (!acc || t < *acc) acc = t;
}

}  // namespace

void check_policy(const ListingPolicy& p) {
  if (p.min_reporters < 1 || p.min_reporters > kMaxVotesPerSubject) {
    throw UsageError(fmt::format("exigrey: min_reporters must be 1..{}, not {}",
                                 kMaxVotesPerSubject, p.min_reporters));
  }
  if (p.ttl < 1) throw UsageError("exigrey: ttl must be at least 1 second");
  if (p.decay < 0) throw UsageError("exigrey: decay must not be negative (0 disables it)");
}

std::string_view to_string(Exclusion e) noexcept {
  switch (e) {
    case Exclusion::kNone:
      return "none";
    case Exclusion::kReserved:
      return "reserved";
    case Exclusion::kWhitelisted:
      return "whitelisted";
  }
  return "?";
}

bool is_reserved_name(std::string_view name) noexcept {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return true;  // a TLD or a bare host name
  static constexpr std::array<std::string_view, 9> kTlds = {
      "test", "example", "invalid", "localhost", "local", "arpa", "onion", "alt", "internal"};
  const std::string_view tld = name.substr(dot + 1);
  if (std::find(kTlds.begin(), kTlds.end(), tld) != kTlds.end()) return true;
  for (std::string_view d : {"example.com", "example.net", "example.org"}) {
    if (covers(d, name)) return true;
  }
  return false;
}

bool is_reserved(const Subject& subject) noexcept {
  if (subject.kind == SubjectKind::kDomain) return is_reserved_name(subject.text);
  const auto addr = parse_ip(subject.text);
  if (!addr) return true;  // not an address after all: never list it
  return reserved_networks().contains(*addr);
}

Exclusion exclusion_of(const Subject& subject, const ListingPolicy& policy) noexcept {
  if (is_reserved(subject)) return Exclusion::kReserved;
  if (subject.kind == SubjectKind::kDomain) {
    for (const std::string& d : policy.whitelist_domains) {
      if (covers(d, subject.text)) return Exclusion::kWhitelisted;
    }
    return Exclusion::kNone;
  }
  const auto addr = parse_ip(subject.text);
  if (addr && policy.whitelist_networks.contains(*addr)) return Exclusion::kWhitelisted;
  return Exclusion::kNone;
}

Subject canonical_subject(Subject subject) {
  if (subject.kind != SubjectKind::kIPv6) return subject;
  const auto addr = parse_ip(subject.text);
  if (!addr) return subject;
  const IpAddress plain = addr->unmapped();
  if (plain.v6) return subject;
  return Subject{SubjectKind::kIPv4, plain.to_string()};
}

Assessment assess(const Subject& subject, const SubjectRecord& record, const ListingPolicy& policy,
                  UnixTime now) {
  Assessment a;
  a.exclusion = exclusion_of(subject, policy);
  for (const Vote& v : record.votes) {
    if (v.last_black > v.last_white && live(v.last_black, now, policy.ttl)) {
      ++a.black_votes;
      a.black_weight += weight(v.last_black, now, policy.decay);
      earliest(a.next_change, v.last_black + policy.ttl + 1);
    } else if (v.last_white >= v.last_black && live(v.last_white, now, policy.ttl)) {
      ++a.white_votes;
      a.white_weight += weight(v.last_white, now, policy.decay);
      earliest(a.next_change, v.last_white + policy.ttl + 1);
    }
  }
  a.black_listed = a.exclusion == Exclusion::kNone && a.black_votes >= policy.min_reporters &&
                   a.black_weight > a.white_weight;
  a.white_listed = a.exclusion != Exclusion::kReserved && a.white_votes >= policy.min_reporters &&
                   a.white_weight > a.black_weight;
  return a;
}

ListingSet collect_listings(const ReputationStore& store, const ListingPolicy& policy,
                            UnixTime now) {
  ListingSet out;
  store.for_each([&](const Subject& subject, const SubjectRecord& record) {
    ++out.subjects;
    const Assessment a = assess(subject, record, policy, now);
    if (a.next_change) earliest(out.next_change, *a.next_change);
    if (a.black_listed) {
      out.black.push_back(Listing{subject, a.black_votes, record.black_since});
    } else if (a.exclusion != Exclusion::kNone && a.black_votes > 0) {
      ++out.excluded;
    }
    if (a.white_listed) out.white.push_back(Listing{subject, a.white_votes, record.white_since});
    return true;
  });
  return out;
}

}  // namespace exigrey

// exigrey/reputation_policy.h: when a reported subject is listed.
//
// The rule (docs/collector.md):
//   - A reporter's vote counts while its latest report of that verb is at
//     most `ttl` seconds old and newer than its latest report of the other
//     verb (a reporter that says white after black has changed its mind; a
//     tie counts as white).
//   - Each counting vote weighs 2^(-age/decay) (decay is a half-life; 0
//     means no decay: every vote weighs 1).
//   - black-listed  <=> not excluded, at least `min_reporters` black votes,
//                       and the black weight exceeds the white weight;
//     white-listed  <=> not reserved, at least `min_reporters` white votes,
//                       and the white weight exceeds the black weight.
//     So white reports count against a black listing, and a fresh white vote
//     outweighs an older black one.
//   - Never listed: reserved networks (ip_network.h reserved_networks()),
//     reserved names (single labels; .test .example .invalid .localhost
//     .local .arpa .onion .alt .internal; example.com/.net/.org), and, for
//     the black list, the configured whitelist (networks and domains, a
//     domain covering its subdomains).
// All votes decay at the same rate, so black vs white only changes when a
// vote expires; that moment is reported as next_change so a publisher can
// expire listings on time.
//
// Thread safety: pure functions over values (collect_listings reads a store
// in one read transaction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/ip_network.h"
#include "exigrey/report.h"
#include "exigrey/reputation.h"

namespace exigrey {

inline constexpr unsigned kDefaultMinReporters = 2;
inline constexpr std::int64_t kDefaultListingTtl = 24 * 3600;
inline constexpr std::int64_t kDefaultDecay = 12 * 3600;

struct ListingPolicy {
  unsigned min_reporters = kDefaultMinReporters;  // 1..kMaxVotesPerSubject
  std::int64_t ttl = kDefaultListingTtl;          // seconds after a vote's last report
  std::int64_t decay = kDefaultDecay;             // half-life in seconds; 0 = none
  NetworkSet whitelist_networks;                  // never black-listed
  std::vector<std::string> whitelist_domains;     // normalised; covers subdomains
  friend bool operator==(const ListingPolicy&, const ListingPolicy&) = default;
};

// Throws UsageError naming the setting if the policy is out of bounds.
void check_policy(const ListingPolicy& policy);

enum class Exclusion : std::uint8_t {
  kNone,
  kReserved,     // a reserved network or name: never listed, not even white
  kWhitelisted,  // the configured whitelist: never black-listed
};

std::string_view to_string(Exclusion e) noexcept;

// A reserved name (see above). `name` is normalised (report.h).
bool is_reserved_name(std::string_view name) noexcept;

// Reserved only (the whitelist is not consulted): reports about such
// subjects are dropped at intake.
bool is_reserved(const Subject& subject) noexcept;

Exclusion exclusion_of(const Subject& subject, const ListingPolicy& policy) noexcept;

// An IPv4-mapped IPv6 subject (::ffff:a.b.c.d) becomes the IPv4 subject.
Subject canonical_subject(Subject subject);

struct Assessment {
  Exclusion exclusion = Exclusion::kNone;
  unsigned black_votes = 0;
  unsigned white_votes = 0;
  double black_weight = 0;
  double white_weight = 0;
  bool black_listed = false;
  bool white_listed = false;
  std::optional<UnixTime> next_change;  // when a counting vote expires
};

Assessment assess(const Subject& subject, const SubjectRecord& record, const ListingPolicy& policy,
                  UnixTime now);

// One published entry.
struct Listing {
  Subject subject;
  unsigned reporters = 0;  // counting votes of the list's verb
  UnixTime since = 0;      // start of the current run of reports of that verb
  friend bool operator==(const Listing&, const Listing&) = default;
};

struct ListingSet {
  std::vector<Listing> black;  // in store key order: IPv4, IPv6, domains
  std::vector<Listing> white;
  std::optional<UnixTime> next_change;  // earliest vote expiry among all subjects
  std::uint64_t subjects = 0;           // records scanned
  std::uint64_t excluded = 0;           // subjects with black votes kept out by exclusion
};

// Scans the store and applies the policy.
ListingSet collect_listings(const ReputationStore& store, const ListingPolicy& policy,
                            UnixTime now);

}  // namespace exigrey

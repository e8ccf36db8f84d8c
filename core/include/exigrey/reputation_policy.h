// SPDX-License-Identifier: GPL-2.0-or-later
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
//   - Reporter weights: each vote counts with its reporter's weight
//     (`reporter_weight`, default 1; 0 ignores a reporter), times
//     `probation_weight` while the reporter is on probation (first seen less
//     than `probation` ago; 0 disables probation). min_reporters compares
//     with the sum of the black votes' weights ("score"), so two reporters
//     on probation at 0.5 count as one.
//   - Holding: a listing lasts at least `hold` x 2^(n-1) (at most
//     `hold_max`), n being the number of listings of the subject that began
//     within `offense_memory` of each other: repeat offenders stay listed
//     longer after their reports stop (kempt.net, hrbl.hu). A white majority
//     or the operator still ends a held listing.
//   - The operator: a ban lists a subject until it ends (even a whitelisted
//     one; never a reserved one); a delisting discards every black vote cast
//     before it, and with an exemption keeps the subject off the list until
//     the exemption ends.
//   - IPv6 subjects are aggregated to their /`ipv6_prefix` network at
//     intake (default /64, as Spamhaus lists IPv6); escalation lists a whole
//     IPv4 /24 (IPv6 /48) once at least `escalate_ipv4` (`escalate_ipv6`)
//     of its addresses (networks) are listed (0: never).
// All votes decay at the same rate, so black vs white only changes when a
// vote expires; that moment is reported as next_change so a publisher can
// expire listings on time.
//
// Thread safety: pure functions over values (collect_listings reads a store
// in one read transaction).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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

inline constexpr double kMaxReporterWeight = 100;

struct ListingPolicy {
  unsigned min_reporters = kDefaultMinReporters;  // 1..kMaxVotesPerSubject
  std::int64_t ttl = kDefaultListingTtl;          // seconds after a vote's last report
  std::int64_t decay = kDefaultDecay;             // half-life in seconds; 0 = none
  NetworkSet whitelist_networks;                  // never black-listed
  std::vector<std::string> whitelist_domains;     // normalised; covers subdomains
  std::vector<std::pair<std::string, double>> reporter_weights;  // 0..kMaxReporterWeight
  std::int64_t probation = 0;                                    // seconds; 0: no probation
  double probation_weight = 0.5;                                 // 0..1
  std::int64_t hold = 3600;                  // first listing lasts at least this
  std::int64_t hold_max = 7 * 86400;         // bound of the doubling
  std::int64_t offense_memory = 30 * 86400;  // listings further apart start again at 1
  unsigned ipv6_prefix = 64;                 // 48..128 (128: per address)
  unsigned escalate_ipv4 = 0;                // listed addresses in a /24; 0: never
  unsigned escalate_ipv6 = 0;                // listed networks in a /48; 0: never
  std::int64_t retention = 30 * 86400;       // evidence kept this long after the last event
  friend bool operator==(const ListingPolicy&, const ListingPolicy&) = default;
};

// When reporters were first seen (ReputationStore::reporters()).
using ReporterAges = std::vector<std::pair<std::string, UnixTime>>;

// The weight of one reporter's vote now (weights, probation).
double reporter_strength(std::string_view reporter, const ListingPolicy& policy,
                         const ReporterAges& ages, UnixTime now);

// An IPv6 subject becomes its /ipv6_prefix network ("2001:db8:1:2::/64");
// anything else is returned unchanged.
Subject aggregate_subject(Subject subject, unsigned ipv6_prefix);

// The escalation network of an address subject ("11.22.33.0/24"), or none.
std::optional<Subject> escalation_network(const Subject& subject);

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

enum class Rule : std::uint8_t {
  kNotListed,    // not enough evidence
  kReserved,     // a reserved network or name
  kWhitelisted,  // the configured whitelist
  kExempt,       // delisted by the operator with an exemption
  kOutweighed,   // white votes outweigh black ones
  kVotes,        // listed: enough black votes
  kHeld,         // listed: held after the votes expired (repeat offender)
  kBanned,       // listed: the operator's ban
  kEscalated,    // listed: a network with enough listed addresses
};
std::string_view to_string(Rule rule) noexcept;

struct Assessment {
  Exclusion exclusion = Exclusion::kNone;
  unsigned black_votes = 0;
  unsigned white_votes = 0;
  double black_score = 0;   // sum of the black votes' reporter strengths
  double black_weight = 0;  // the same, decayed
  double white_weight = 0;
  bool black_listed = false;
  bool white_listed = false;
  Rule rule = Rule::kNotListed;         // why black_listed is what it is
  std::optional<UnixTime> next_change;  // when a counting vote, a hold, ban or exemption ends
};

Assessment assess(const Subject& subject, const SubjectRecord& record, const ListingPolicy& policy,
                  UnixTime now, const ReporterAges& ages = {});

// One line explaining an assessment, e.g. "listed: 3 reporters (score 2.5 >=
// min_reporters 2), black weight 2.1 > white 0.0".
std::string explain(const Assessment& a, const SubjectRecord& record, const ListingPolicy& policy);

// Categories by number of reports, most first.
std::vector<std::string> categories_of(const SubjectRecord& record);

// One published entry.
struct Listing {
  Subject subject;         // an address, a network (escalated, or an IPv6 /64), or a name
  unsigned reporters = 0;  // counting votes of the list's verb
  UnixTime since = 0;      // start of the current run of reports of that verb
  // Categories reported (the first word of the reports' notes: "virus",
  // "trap", ...), most reported first; empty when no report had one.
  std::vector<std::string> categories;
  bool manual = false;       // listed by the operator (exigrey-collect ban)
  Rule rule = Rule::kVotes;  // what listed it (black list)
  friend bool operator==(const Listing&, const Listing&) = default;
};

// A subject whose published state must change in the store (the publisher
// writes these after the files are out).
struct Transition {
  Subject subject;
  bool listed = false;  // now listed (true) or no longer listed (false)
  Rule rule = Rule::kNotListed;
  std::string why;  // for the history
};

struct ListingSet {
  std::vector<Listing> black;  // in store key order: IPv4, IPv6, domains; networks after
  std::vector<Listing> white;
  std::vector<Transition> transitions;
  std::optional<UnixTime> next_change;  // earliest vote expiry among all subjects
  // Each subject's own next change (the subjects with one), for a publisher
  // that evaluates subjects one by one (evaluate_subjects).
  std::vector<std::pair<Subject, UnixTime>> timers;
  std::uint64_t subjects = 0;   // records scanned
  std::uint64_t excluded = 0;   // subjects with black votes kept out by exclusion
  std::uint64_t held = 0;       // black listings by rule: kHeld,
  std::uint64_t banned = 0;     // kBanned
  std::uint64_t escalated = 0;  // and kEscalated (the rest are kVotes)
};

// Scans the store and applies the policy.
ListingSet collect_listings(const ReputationStore& store, const ListingPolicy& policy,
                            UnixTime now);

// The same for the given subjects only (each once; missing ones are not
// listed), in one read transaction: what an incremental publish evaluates.
// Escalation is left out: networks are listed by collect_listings only.
ListingSet evaluate_subjects(const ReputationStore& store, std::span<const Subject> subjects,
                             const ListingPolicy& policy, UnixTime now);

// Escalation needs every listing at once: a publisher rescans the store
// while it is on.
bool escalation_on(const ListingPolicy& policy) noexcept;

// Records the transitions in the store: listed_since, the growing hold and
// the history. Returns how many records changed.
std::size_t record_transitions(ReputationStore& store, std::span<const Transition> transitions,
                               const ListingPolicy& policy, UnixTime now);

}  // namespace exigrey

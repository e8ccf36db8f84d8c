// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/reputation_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "exigrey/error.h"
#include "exigrey/rbldnsd_zone.h"

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

// The address a subject stands for: itself, or a network's base address.
std::optional<IpAddress> address_of(const Subject& subject) {
  if (subject.kind == SubjectKind::kDomain) return std::nullopt;
  const std::string_view text = subject.text;
  return parse_ip(text.substr(0, text.find('/')));
}

std::string plural(unsigned n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

}  // namespace

void check_policy(const ListingPolicy& p) {
  if (p.min_reporters < 1 || p.min_reporters > kMaxVotesPerSubject) {
    throw UsageError(fmt::format("exigrey: min_reporters must be 1..{}, not {}",
                                 kMaxVotesPerSubject, p.min_reporters));
  }
  if (p.ttl < 1) throw UsageError("exigrey: ttl must be at least 1 second");
  if (p.decay < 0) throw UsageError("exigrey: decay must not be negative (0 disables it)");
  for (const auto& [reporter, w] : p.reporter_weights) {
    if (reporter.empty() || reporter.size() > kMaxReporterBytes || !(w >= 0) ||
        w > kMaxReporterWeight) {
      throw UsageError(fmt::format("exigrey: reporter_weight {:?}: use ID=WEIGHT, weight 0..{}",
                                   reporter.substr(0, 80), kMaxReporterWeight));
    }
  }
  if (p.probation < 0) throw UsageError("exigrey: probation must not be negative");
  if (!(p.probation_weight >= 0 && p.probation_weight <= 1)) {
    throw UsageError("exigrey: probation_weight must be from 0 to 1");
  }
  if (p.hold < 0 || p.hold_max < p.hold) {
    throw UsageError("exigrey: hold must not be negative, and hold_max not below hold");
  }
  if (p.offense_memory < 0) throw UsageError("exigrey: offense_memory must not be negative");
  if (p.ipv6_prefix < 48 || p.ipv6_prefix > 128) {
    throw UsageError(fmt::format("exigrey: ipv6_prefix must be 48..128, not {}", p.ipv6_prefix));
  }
  if (p.retention < p.ttl) {
    throw UsageError("exigrey: retention must be at least ttl (evidence outlives the votes)");
  }
}

std::string_view to_string(Rule rule) noexcept {
  switch (rule) {
    case Rule::kNotListed:
      return "not-listed";
    case Rule::kReserved:
      return "reserved";
    case Rule::kWhitelisted:
      return "whitelisted";
    case Rule::kExempt:
      return "exempt";
    case Rule::kOutweighed:
      return "outweighed";
    case Rule::kVotes:
      return "votes";
    case Rule::kHeld:
      return "held";
    case Rule::kBanned:
      return "banned";
    case Rule::kEscalated:
      return "escalated";
  }
  return "?";
}

double reporter_strength(std::string_view reporter, const ListingPolicy& policy,
                         const ReporterAges& ages, UnixTime now) {
  double w = 1;
  for (const auto& [id, weight] : policy.reporter_weights) {
    if (id == reporter) w = weight;
  }
  if (policy.probation > 0 && w > 0) {
    // `ages` is in key order (ReputationStore::reporters()).
    const auto it = std::lower_bound(
        ages.begin(), ages.end(), reporter,
        [](const std::pair<std::string, UnixTime>& e, std::string_view r) { return e.first < r; });
    // A reporter not yet recorded is new: on probation.
    const bool known = it != ages.end() && it->first == reporter;
    if (!known || now - it->second < policy.probation) w *= policy.probation_weight;
  }
  return w;
}

Subject aggregate_subject(Subject subject, unsigned ipv6_prefix) {
  if (subject.kind != SubjectKind::kIPv6 || ipv6_prefix >= 128) return subject;
  if (subject.text.find('/') != std::string::npos) return subject;
  const auto addr = parse_ip(subject.text);
  if (!addr || !addr->v6) return subject;
  return Subject{SubjectKind::kIPv6, network_of(*addr, ipv6_prefix).to_string()};
}

std::optional<Subject> escalation_network(const Subject& subject) {
  const auto addr = address_of(subject);
  if (!addr) return std::nullopt;
  const auto slash = subject.text.find('/');
  const unsigned prefix = slash == std::string::npos
                              ? addr->bits()
                              : static_cast<unsigned>(std::atoi(subject.text.c_str() + slash + 1));
  const unsigned net = addr->v6 ? 48 : 24;
  if (prefix <= net) return std::nullopt;
  return Subject{subject.kind, network_of(*addr, net).to_string()};
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
  const auto addr = address_of(subject);
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
  const auto addr = address_of(subject);
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
                  UnixTime now, const ReporterAges& ages) {
  Assessment a;
  a.exclusion = exclusion_of(subject, policy);
  if (record.network) {
    // Listed or not by escalation (collect_listings); nothing votes on it.
    a.black_listed = a.exclusion != Exclusion::kReserved && record.listed_since != 0;
    a.rule = a.black_listed ? Rule::kEscalated : Rule::kNotListed;
    return a;
  }
  double white_score = 0;
  for (const Vote& v : record.votes) {
    const double strength = reporter_strength(v.reporter, policy, ages, now);
    if (strength <= 0) continue;
    if (v.last_black > v.last_white && live(v.last_black, now, policy.ttl)) {
      if (v.last_black <= record.delisted_at) continue;  // evidence the operator dismissed
      ++a.black_votes;
      a.black_score += strength;
      a.black_weight += strength * weight(v.last_black, now, policy.decay);
      earliest(a.next_change, v.last_black + policy.ttl + 1);
    } else if (v.last_white >= v.last_black && live(v.last_white, now, policy.ttl)) {
      ++a.white_votes;
      white_score += strength;
      a.white_weight += strength * weight(v.last_white, now, policy.decay);
      earliest(a.next_change, v.last_white + policy.ttl + 1);
    }
  }
  // Scores are sums of small weights: compare with a tolerance for rounding.
  constexpr double kEpsilon = 1e-9;
  const double min = static_cast<double>(policy.min_reporters) - kEpsilon;
  const bool by_votes = a.exclusion == Exclusion::kNone && a.black_votes > 0 &&
                        a.black_score >= min && a.black_weight > a.white_weight;
  const bool outweighed = a.black_votes > 0 && a.white_weight >= a.black_weight;
  const bool banned = record.ban_until > now;
  const bool exempt = record.exempt_until > now;
  // White votes that match or outweigh the black ones end a hold too: the
  // hold keeps a listing whose evidence expired, not one that is disputed.
  const bool held = record.listed_since != 0 && record.hold_until > now &&
                    a.exclusion == Exclusion::kNone &&
                    !(a.white_votes > 0 && a.white_weight >= a.black_weight);
  if (banned) earliest(a.next_change, record.ban_until);
  if (exempt) earliest(a.next_change, record.exempt_until);
  if (held) earliest(a.next_change, record.hold_until);
  if (a.exclusion == Exclusion::kReserved) {
    a.rule = Rule::kReserved;
  } else if (exempt) {
    a.rule = Rule::kExempt;
  } else if (banned) {
    a.rule = Rule::kBanned;
  } else if (a.exclusion == Exclusion::kWhitelisted) {
    a.rule = Rule::kWhitelisted;
  } else if (by_votes) {
    a.rule = Rule::kVotes;
  } else if (held) {
    a.rule = Rule::kHeld;
  } else if (outweighed) {
    a.rule = Rule::kOutweighed;
  } else {
    a.rule = Rule::kNotListed;
  }
  a.black_listed = a.rule == Rule::kVotes || a.rule == Rule::kHeld || a.rule == Rule::kBanned;
  a.white_listed = a.exclusion != Exclusion::kReserved && a.white_votes > 0 && white_score >= min &&
                   a.white_weight > a.black_weight;
  return a;
}

std::string explain(const Assessment& a, const SubjectRecord& r, const ListingPolicy& policy) {
  switch (a.rule) {
    case Rule::kVotes:
      return fmt::format(
          "listed: {}, score {:.2f} >= min_reporters {}; black weight {:.2f} > white {:.2f}",
          plural(a.black_votes, "black reporter"), a.black_score, policy.min_reporters,
          a.black_weight, a.white_weight);
    case Rule::kHeld:
      return fmt::format(
          "listed: held until {} (listing {} within {}s); the votes alone would not list it",
          format_utc(r.hold_until), r.offenses, policy.offense_memory);
    case Rule::kBanned:
      return fmt::format("listed: banned by the operator until {}: {}", format_utc(r.ban_until),
                         r.ban_reason);
    case Rule::kEscalated:
      return "listed: a network with enough listed addresses (escalation)";
    case Rule::kReserved:
      return "not listed: a reserved network or name (never listed)";
    case Rule::kWhitelisted:
      return "not listed: on the configured whitelist";
    case Rule::kExempt:
      return fmt::format("not listed: delisted by the operator, exempt until {}: {}",
                         format_utc(r.exempt_until), r.delist_reason);
    case Rule::kOutweighed:
      return fmt::format("not listed: white weight {:.2f} >= black weight {:.2f}", a.white_weight,
                         a.black_weight);
    case Rule::kNotListed:
      break;
  }
  if (a.black_votes == 0) return "not listed: no counting black reports";
  return fmt::format("not listed: {}, score {:.2f} < min_reporters {}",
                     plural(a.black_votes, "black reporter"), a.black_score, policy.min_reporters);
}

std::vector<std::string> categories_of(const SubjectRecord& record) {
  if (record.categories.empty()) return {};
  std::vector<CategoryCount> sorted = record.categories;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const CategoryCount& x, const CategoryCount& y) {
                     return x.reports != y.reports ? x.reports > y.reports : x.last > y.last;
                   });
  std::vector<std::string> out;
  for (CategoryCount& c : sorted) out.push_back(std::move(c.name));
  return out;
}

namespace {

// Adds one subject's listings, transition and timer to `out`; returns the
// black listing it added, if any.
const Listing* consider(ListingSet& out, const Subject& subject, const SubjectRecord& record,
                        const ListingPolicy& policy, UnixTime now, const ReporterAges& ages) {
  const Assessment a = assess(subject, record, policy, now, ages);
  if (a.next_change) {
    earliest(out.next_change, *a.next_change);
    out.timers.emplace_back(subject, *a.next_change);
  }
  const Listing* added = nullptr;
  if (a.black_listed) {
    UnixTime since = record.black_since;
    if (a.rule != Rule::kVotes || since == 0) {
      since = record.listed_since != 0 ? record.listed_since : now;
    }
    if (a.rule == Rule::kHeld) ++out.held;
    if (a.rule == Rule::kBanned) ++out.banned;
    out.black.push_back(Listing{subject, a.black_votes, since, categories_of(record),
                                a.rule == Rule::kBanned, a.rule});
    added = &out.black.back();
  } else if (a.exclusion != Exclusion::kNone && a.black_votes > 0) {
    ++out.excluded;
  }
  if (a.black_listed != (record.listed_since != 0)) {
    out.transitions.push_back(
        Transition{subject, a.black_listed, a.rule, explain(a, record, policy)});
  }
  if (a.white_listed) {
    out.white.push_back(Listing{subject, a.white_votes, record.white_since, {}, false});
  }
  return added;
}

}  // namespace

ListingSet collect_listings(const ReputationStore& store, const ListingPolicy& policy,
                            UnixTime now) {
  ListingSet out;
  const ReporterAges ages = store.reporters();
  struct Escalation {
    unsigned listed = 0;
    unsigned reporters = 0;
    UnixTime since = 0;
    std::map<std::string, unsigned> categories;
  };
  std::map<std::string, Escalation> candidates;  // network text -> what it would list
  std::map<std::string, UnixTime> networks;      // network records -> listed_since
  store.for_each(
      [&](const Subject& subject, const SubjectRecord& record) {
        ++out.subjects;
        if (record.network) {
          networks.emplace(subject.text, record.listed_since);
          return true;
        }
        const Listing* l = consider(out, subject, record, policy, now, ages);
        // Escalation is off by default: spend nothing on it per listing then.
        const unsigned threshold = subject.kind == SubjectKind::kIPv4   ? policy.escalate_ipv4
                                   : subject.kind == SubjectKind::kIPv6 ? policy.escalate_ipv6
                                                                        : 0;
        if (l != nullptr && threshold > 0) {
          if (const auto net = escalation_network(subject)) {
            Escalation& e = candidates[net->text];
            ++e.listed;
            e.reporters += l->reporters;
            if (e.since == 0 || l->since < e.since) e.since = l->since;
            for (const std::string& c : l->categories) ++e.categories[c];
          }
        }
        return true;
      },
      nullptr, /*evidence=*/false);
  for (auto& [text, e] : candidates) {
    const bool v6 = text.find(':') != std::string::npos;
    const Subject net{v6 ? SubjectKind::kIPv6 : SubjectKind::kIPv4, text};
    if (e.listed < (v6 ? policy.escalate_ipv6 : policy.escalate_ipv4)) continue;
    if (exclusion_of(net, policy) != Exclusion::kNone) continue;
    std::vector<std::pair<std::string, unsigned>> cats(e.categories.begin(), e.categories.end());
    std::stable_sort(cats.begin(), cats.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    Listing l{net, e.reporters, e.since, {}, false, Rule::kEscalated};
    for (auto& c : cats) l.categories.push_back(std::move(c.first));
    out.black.push_back(std::move(l));
    ++out.escalated;
    const auto it = networks.find(text);
    if (it == networks.end() || it->second == 0) {
      out.transitions.push_back(
          Transition{net, true, Rule::kEscalated,
                     fmt::format("listed: {} listed in the network (escalation)",
                                 plural(e.listed, v6 ? "network" : "address"))});
    }
    if (it != networks.end()) it->second = 0;  // still listed: not a transition below
  }
  for (const auto& [text, since] : networks) {
    if (since == 0) continue;
    const bool v6 = text.find(':') != std::string::npos;
    out.transitions.push_back(
        Transition{Subject{v6 ? SubjectKind::kIPv6 : SubjectKind::kIPv4, text}, false,
                   Rule::kNotListed, "unlisted: too few listed addresses left (escalation)"});
  }
  return out;
}

ListingSet evaluate_subjects(const ReputationStore& store, std::span<const Subject> subjects,
                             const ListingPolicy& policy, UnixTime now) {
  ListingSet out;
  if (subjects.empty()) return out;
  const ReporterAges ages = store.reporters();
  store.for_subjects(
      subjects,
      [&](const Subject& subject, const SubjectRecord* record) {
        if (record == nullptr || record->network) return;  // gone, or escalation's (full publish)
        ++out.subjects;
        consider(out, subject, *record, policy, now, ages);
      },
      /*evidence=*/false);
  return out;
}

bool escalation_on(const ListingPolicy& policy) noexcept {
  return policy.escalate_ipv4 > 0 || policy.escalate_ipv6 > 0;
}

std::size_t record_transitions(ReputationStore& store, std::span<const Transition> transitions,
                               const ListingPolicy& policy, UnixTime now) {
  if (transitions.empty()) return 0;
  std::vector<Subject> subjects;
  subjects.reserve(transitions.size());
  for (const Transition& t : transitions) subjects.push_back(t.subject);
  std::size_t changed = 0;
  store.modify(
      subjects,
      [&](std::size_t i, SubjectRecord& r) {
        const Transition& t = transitions[i];
        ++changed;
        if (t.rule == Rule::kEscalated) {
          r.network = true;
          if (r.first_seen == 0) r.first_seen = now;
          r.last_seen = now;
        }
        if (!t.listed) {
          r.listed_since = 0;
          add_event(r, now, EventKind::kUnlisted, t.why);
          return;
        }
        r.listed_since = now;
        if (t.rule == Rule::kVotes) {
          // A repeat offender: each listing within offense_memory of the
          // previous one doubles the hold, up to hold_max.
          const bool repeat = r.last_offense != 0 && now - r.last_offense <= policy.offense_memory;
          r.offenses = repeat ? r.offenses + 1 : 1;
          r.last_offense = now;
          std::int64_t hold = policy.hold;
          for (std::uint32_t n = 1; n < r.offenses && hold < policy.hold_max; ++n) hold *= 2;
          r.hold_until = now + std::min(hold, policy.hold_max);
        }
        add_event(r, now, EventKind::kListed, t.why);
      },
      /*create=*/true);
  return changed;
}

}  // namespace exigrey

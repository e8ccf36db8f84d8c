// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/reputation_lookup.h"

#include <fmt/format.h>

#include "exigrey/error.h"
#include "exigrey/rbldnsd_zone.h"

namespace exigrey {
namespace {

// The operator acts on what the store keys: the same normalisation as intake.
Subject stored_subject(const Subject& subject, const ListingPolicy& policy) {
  return aggregate_subject(canonical_subject(subject), policy.ipv6_prefix);
}

}  // namespace

LookupResult lookup(const ReputationStore& store, const ListingPolicy& policy, const Subject& query,
                    UnixTime now) {
  LookupResult out;
  out.query = query;
  out.subject = stored_subject(query, policy);
  out.record = store.get(out.subject);
  const ReporterAges ages = policy.probation > 0 ? store.reporters() : ReporterAges{};
  const SubjectRecord empty;
  const SubjectRecord& record = out.record ? *out.record : empty;
  out.assessment = assess(out.subject, record, policy, now, ages);
  out.explanation = explain(out.assessment, record, policy);
  out.categories = categories_of(record);
  if (const auto net = escalation_network(out.subject)) {
    if (const auto n = store.get(*net); n && n->network && n->listed_since != 0 &&
                                        exclusion_of(out.subject, policy) == Exclusion::kNone) {
      out.network = *net;
      out.network_since = n->listed_since;
      if (!out.assessment.black_listed) {
        out.explanation = fmt::format("listed: its network {} is listed (escalation, since {})",
                                      net->text, format_utc(n->listed_since));
      }
    }
  }
  out.request = store.request(out.subject);
  return out;
}

std::string check_reason(std::string_view reason) {
  if (reason.empty()) throw UsageError("exigrey: a reason is required (--reason TEXT)");
  if (reason.size() > kMaxReasonBytes) {
    throw UsageError(fmt::format("exigrey: the reason is longer than {} bytes", kMaxReasonBytes));
  }
  for (char c : reason) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw UsageError("exigrey: the reason contains a control byte");
    }
  }
  return std::string(reason);
}

void ban(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
         std::int64_t duration, std::string_view reason, UnixTime now) {
  const std::string why = check_reason(reason);
  if (duration <= 0) throw UsageError("exigrey: a ban needs a duration (--for AGE)");
  const Subject s = stored_subject(subject, policy);
  if (is_reserved(s)) {
    throw UsageError(
        fmt::format("exigrey: {} is a reserved network or name and is never listed", s.text));
  }
  store.update(s, [&](SubjectRecord& r) {
    if (r.first_seen == 0) r.first_seen = now;
    r.last_seen = std::max(r.last_seen, now);
    r.ban_until = now + duration;
    r.ban_reason = why;
    r.exempt_until = 0;
    add_event(r, now, EventKind::kBanned,
              fmt::format("until {}: {}", format_utc(r.ban_until), why));
  });
}

bool unban(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
           std::string_view reason, UnixTime now) {
  const std::string why = check_reason(reason);
  const Subject s = stored_subject(subject, policy);
  const auto record = store.get(s);
  if (!record || record->ban_until <= now) return false;
  store.update(s, [&](SubjectRecord& r) {
    r.ban_until = 0;
    add_event(r, now, EventKind::kUnbanned, why);
  });
  return true;
}

void delist(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
            std::int64_t exemption, std::string_view reason, UnixTime now) {
  const std::string why = check_reason(reason);
  if (exemption < 0) throw UsageError("exigrey: --for must not be negative");
  const Subject s = stored_subject(subject, policy);
  store.update(s, [&](SubjectRecord& r) {
    if (r.first_seen == 0) r.first_seen = now;
    r.last_seen = std::max(r.last_seen, now);
    r.delisted_at = now;
    r.exempt_until = exemption > 0 ? now + exemption : 0;
    r.delist_reason = why;
    r.hold_until = 0;
    r.ban_until = 0;
    add_event(
        r, now, EventKind::kDelisted,
        exemption > 0 ? fmt::format("exempt until {}: {}", format_utc(r.exempt_until), why) : why);
  });
  store.drop_request(s);
}

}  // namespace exigrey

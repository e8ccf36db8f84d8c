// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/reputation_lookup.h: "why is this listed (or not)?", and the
// operator's actions, over the collector's store.
//
// lookup() answers for one subject as the running collector would publish
// it now: the subject is canonicalised and aggregated as at intake (an IPv6
// address is looked up as its /ipv6_prefix network), its record assessed
// with the policy, and its escalation network (an IPv4 /24, an IPv6 /48)
// consulted. The operator's actions (ban, unban, delist) are one
// transaction each on the store and bump its generation, which a running
// collector polls (publisher.h): they reach DNS within about a second.
//
// Errors: StoreError from the store; UsageError for a bad reason or
// duration, or a ban of a reserved subject. Process safety: as
// ReputationStore (any number of readers beside the running collector; the
// actions are ordinary write transactions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/clock.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"

namespace exigrey {

inline constexpr std::size_t kMaxReasonBytes = kMaxEvidenceTextBytes;

struct LookupResult {
  Subject query;    // as asked, normalised
  Subject subject;  // what the store keys it by (the /64 of an IPv6 address)
  std::optional<SubjectRecord> record;
  Assessment assessment;
  std::string explanation;              // one line: the rule that decided (explain())
  std::vector<std::string> categories;  // most reported first
  // The escalation network covering the subject, when it is listed.
  std::optional<Subject> network;
  UnixTime network_since = 0;
  std::optional<RemovalRequest> request;  // pending removal request
  bool listed() const noexcept { return assessment.black_listed || network.has_value(); }
};

LookupResult lookup(const ReputationStore& store, const ListingPolicy& policy, const Subject& query,
                    UnixTime now);

// A reason: 1..kMaxReasonBytes bytes, no control bytes. Throws UsageError.
std::string check_reason(std::string_view reason);

// Lists the subject until now + duration (> 0). Refuses reserved subjects.
void ban(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
         std::int64_t duration, std::string_view reason, UnixTime now);

// Lifts a ban. Returns false when there was none.
bool unban(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
           std::string_view reason, UnixTime now);

// Ends a listing now: the black votes cast so far stop counting, the hold
// and any ban end, a pending removal request is resolved; with an
// exemption (> 0) the subject cannot be listed by votes before now +
// exemption.
void delist(ReputationStore& store, const ListingPolicy& policy, const Subject& subject,
            std::int64_t exemption, std::string_view reason, UnixTime now);

}  // namespace exigrey

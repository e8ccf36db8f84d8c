// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/dns_zone.h: the listings as the records of standard DNS zones.
//
// What exigrey-collect sends to a name server (docs/dns.md) when it
// publishes by DNS UPDATE instead of, or beside, the rbldnsd files. The
// records answer what rbldnsd answers for the same listings:
//   - black and white IP zones (bl, wl): an address a.b.c.d is the owner
//     d.c.b.a.ZONE, an IPv6 address its 32 reversed nibbles; a network is a
//     wildcard below its prefix (1.2.3.0/24 is *.3.2.1.ZONE); a prefix that
//     is not on a label boundary becomes the 2, 4 or 8 (16 for IPv6)
//     wildcards that cover it;
//   - name zones (dbl, dwl): example.org is example.org.ZONE (exact names,
//     as rbldnsd's dnset);
//   - every owner has an A (the answer code) and a TXT (the same text as the
//     rbldnsd file, with `$` replaced by the listed subject: a static zone
//     cannot name the queried address, so a network's text names the
//     network);
//   - the RFC 5782 test points (127.0.0.2, ::ffff:7f00:2, "test") are
//     always there, and never 127.0.0.1, ::ffff:7f00:1 or "invalid";
//   - the RPZ zone lists each black-listed domain as `NAME.ZONE CNAME .`
//     (RFC 8626's NXDOMAIN action; response policy zones, as Unbound, BIND
//     and Knot Resolver read them), with no test points.
// The zone apex (SOA, NS) belongs to the operator's zone file; the collector
// owns every name below it and manages A, TXT and CNAME records only.
//
// A split IP zone (dns_split) is delegated to 256 child zones, one per
// first IPv4 octet: 0.ZONE to 255.ZONE. A name goes to the child named by
// its label right below ZONE when that label is a number 0-255, so the
// child N.ZONE holds the IPv4 listings of N.0.0.0/8 and the IPv6 ones whose
// first nibble is N (2.ZONE holds 2000::/4, nearly all IPv6). The rest
// (IPv6 whose first nibble is a-f; a name zone is never split) stays in
// ZONE, whose apex also holds the operator's delegations. Each UPDATE and
// IXFR then touches a zone of about 1/256 of the list: a name server's
// cost per change grows with the zone's size.
//
// Known limit: a DNS wildcard does not apply below a name that exists, so
// an address listed inside a listed network hides the network's wildcard
// for its sibling labels (a /24 wildcard with a listed address in it still
// answers for the whole /24; a /48 with a listed /64 in it does not answer
// for other /64s sharing the listed one's 13th-16th nibbles). Escalation,
// the only source of such nesting, is off by default.
//
// Errors: none; names that would not fit a DNS name (255 bytes) are left
// out and counted. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exigrey/listing_index.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation_policy.h"

namespace exigrey {

// The zones to publish; an empty name is not published.
struct DnsZoneNames {
  std::string black;         // IPv4 and IPv6 black list (rbldnsd's bl)
  std::string black_names;   // domain black list (dbl)
  std::string white;         // IPv4 and IPv6 white list (wl)
  std::string white_names;   // domain white list (dwl)
  std::string rpz;           // the domain black list as a response policy zone
  bool split_black = false;  // black is delegated to 256 child zones (dns_split)
  bool split_white = false;  // white, likewise
  bool any() const noexcept {
    return !black.empty() || !black_names.empty() || !white.empty() || !white_names.empty() ||
           !rpz.empty();
  }
  friend bool operator==(const DnsZoneNames&, const DnsZoneNames&) = default;
};

// The configured zones' names (lower case), in the order render_dns_zones
// gives them: a split zone, then its 256 children.
std::vector<std::string> dns_zone_list(const DnsZoneNames& zones);

// The child zones of a split zone, "0.ZONE" to "255.ZONE" (lower case).
std::vector<std::string> dns_child_zones(std::string_view zone);

enum class DnsRecordType : std::uint16_t { kA = 1, kCname = 5, kTxt = 16 };

// One RRset of one record: the collector publishes one record per
// (owner, type).
struct DnsEntry {
  std::string owner;  // full name, lower case, no trailing dot
  DnsRecordType type = DnsRecordType::kA;
  std::string data;  // A: dotted quad; TXT: the text; CNAME: the target ("" is the root)
  friend bool operator==(const DnsEntry&, const DnsEntry&) = default;
};

// Order of DnsZoneContent::entries: owner bytes, then type.
bool dns_entry_less(const DnsEntry& a, const DnsEntry& b) noexcept;

struct DnsZoneContent {
  std::string zone;               // lower case, no trailing dot
  std::vector<DnsEntry> entries;  // sorted by dns_entry_less, unique (owner, type)
  std::uint64_t skipped = 0;      // listings whose owner name would be too long
  friend bool operator==(const DnsZoneContent&, const DnsZoneContent&) = default;
};

// The owner names of one subject in an IP zone (one, or the wildcards that
// cover a network) or a name zone. Empty if the name would be too long.
std::vector<std::string> dns_owners(const Subject& subject, std::string_view zone);

// rbldnsd's `$` substitution: `$` becomes `subject`, `$$` a single `$`.
std::string expand_dollar(std::string_view text, std::string_view subject);

// The content of each configured zone, in the order black, black_names,
// white, white_names, rpz (unset zones left out), a split zone followed by
// its 256 children; without `test_points`, the RFC 5782 test points are
// left out.
std::vector<DnsZoneContent> render_dns_zones(std::span<const Listing> black,
                                             std::span<const Listing> white,
                                             const ZoneOptions& options, const DnsZoneNames& zones,
                                             bool test_points = true);

// What turns `from` into `to` (both sorted by dns_entry_less): entries to
// delete (owner and type) and entries to add; a changed entry is in both.
struct DnsChanges {
  std::vector<DnsEntry> remove;
  std::vector<DnsEntry> add;
  bool empty() const noexcept { return remove.empty() && add.empty(); }
};
DnsChanges diff_dns_entries(std::span<const DnsEntry> from, std::span<const DnsEntry> to);

// What the zones must change for the given listing changes (an incremental
// publish): per zone, the records of the listings before against those
// after. Exact because no two subjects share an owner name: an address
// owns its own name, a network its wildcards, and networks of one kind
// (escalation's /24 and /48, IPv6 aggregates) never overlap. Zones without
// a change are left out.
struct DnsZoneChanges {
  std::string zone;
  DnsChanges changes;
};
std::vector<DnsZoneChanges> dns_changes_of(std::span<const ListingIndex::Change> changes,
                                           const ZoneOptions& options, const DnsZoneNames& zones);

}  // namespace exigrey

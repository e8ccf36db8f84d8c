// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/dns_zone.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "exigrey/ip_network.h"
#include "exigrey/text.h"

namespace exigrey {
namespace {

// A DNS name is at most 255 bytes on the wire: 253 characters of text.
constexpr std::size_t kMaxNameText = 253;

// The labels of an address, most significant first: 4 octets or 32 nibbles.
std::vector<unsigned> address_labels(const IpAddress& a) {
  std::vector<unsigned> labels;
  if (!a.v6) {
    for (unsigned i = 0; i < 4; ++i) labels.push_back(a.bytes[i]);
  } else {
    for (unsigned i = 0; i < 16; ++i) {
      labels.push_back(a.bytes[i] >> 4U);
      labels.push_back(a.bytes[i] & 0xFU);
    }
  }
  return labels;
}

std::string label_text(unsigned value, bool v6) {
  return v6 ? fmt::format("{:x}", value) : std::to_string(value);
}

// labels[0..n) reversed, each followed by a dot, then the zone.
std::string reversed(const std::vector<unsigned>& labels, std::size_t n, bool v6,
                     std::string_view zone) {
  std::string out;
  for (std::size_t i = n; i-- > 0;) {
    out += label_text(labels[i], v6);
    out += '.';
  }
  out += zone;
  return out;
}

std::vector<std::string> ip_owners(const Cidr& net, std::string_view zone) {
  const bool v6 = net.base.v6;
  const unsigned width = v6 ? 4 : 8;  // bits per label
  const std::vector<unsigned> labels = address_labels(net.base);
  const std::size_t full = net.prefix / width;
  const unsigned rest = net.prefix % width;
  std::vector<std::string> out;
  if (full == labels.size()) {
    out.push_back(reversed(labels, labels.size(), v6, zone));
  } else if (rest == 0) {
    out.push_back("*." + reversed(labels, full, v6, zone));
  } else {
    // The label after the prefix takes 2^(width-rest) values; each covers
    // everything below it (or is itself an address, for the last label).
    const bool last = full + 1 == labels.size();
    const std::string below = reversed(labels, full, v6, zone);
    const unsigned first = labels[full];
    const unsigned count = 1U << (width - rest);
    for (unsigned v = first; v < first + count; ++v) {
      out.push_back(fmt::format("{}{}.{}", last ? "" : "*.", label_text(v, v6), below));
    }
  }
  return out;
}

void add(DnsZoneContent& z, const std::vector<std::string>& owners, DnsRecordType type,
         const std::string& data) {
  for (const std::string& o : owners) z.entries.push_back(DnsEntry{o, type, data});
}

void add_listing(DnsZoneContent& z, const Subject& subject, const std::string& a,
                 const std::string& txt) {
  const std::vector<std::string> owners = dns_owners(subject, z.zone);
  if (owners.empty()) {
    ++z.skipped;
    return;
  }
  add(z, owners, DnsRecordType::kA, a);
  add(z, owners, DnsRecordType::kTxt, expand_dollar(txt, subject.text));
}

void finish(DnsZoneContent& z) {
  // Stable: of two listings with one owner (an address also listed as a
  // /32 network, say) the first in store order wins, as in rbldnsd.
  std::stable_sort(z.entries.begin(), z.entries.end(), dns_entry_less);
  z.entries.erase(std::unique(z.entries.begin(), z.entries.end(),
                              [](const DnsEntry& a, const DnsEntry& b) {
                                return a.owner == b.owner && a.type == b.type;
                              }),
                  z.entries.end());
}

// The child zone (0-255) of a split zone that `owner` belongs to, or -1 if
// it stays in the parent. The names we make never have leading zeros.
int child_of(std::string_view owner, std::string_view zone) {
  if (owner.size() <= zone.size() + 1) return -1;
  const std::string_view below = owner.substr(0, owner.size() - zone.size() - 1);
  const std::size_t dot = below.rfind('.');
  const std::string_view label = dot == std::string_view::npos ? below : below.substr(dot + 1);
  if (label.empty() || label.size() > 3 || (label.size() > 1 && label[0] == '0')) return -1;
  int value = 0;
  for (const char c : label) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value <= 255 ? value : -1;
}

// Appends `parent`, split into itself and its 256 children if `split`.
void append_zone(std::vector<DnsZoneContent>& out, DnsZoneContent parent, bool split) {
  if (!split) {
    out.push_back(std::move(parent));
    return;
  }
  std::vector<DnsZoneContent> children;
  for (std::string& name : dns_child_zones(parent.zone)) {
    children.push_back(DnsZoneContent{std::move(name), {}, 0});
  }
  std::vector<DnsEntry> kept;
  // A subsequence of sorted entries is sorted: no sort needed.
  for (DnsEntry& e : parent.entries) {
    const int child = child_of(e.owner, parent.zone);
    (child < 0 ? kept : children[static_cast<std::size_t>(child)].entries).push_back(std::move(e));
  }
  parent.entries = std::move(kept);
  out.push_back(std::move(parent));
  for (DnsZoneContent& c : children) out.push_back(std::move(c));
}

bool is_ip(const Subject& s) {
  return s.kind == SubjectKind::kIPv4 || s.kind == SubjectKind::kIPv6;
}

DnsZoneContent ip_zone(std::string_view zone, std::span<const Listing> listings,
                       const ZoneOptions& o, bool black, bool test_points) {
  DnsZoneContent z{ascii_lower(zone), {}, 0};
  const std::string test_a(kTestPointListed4);
  if (test_points) {
    add_listing(z, Subject{SubjectKind::kIPv4, std::string(kTestPointListed4)}, test_a,
                std::string(kTestPointTxt));
    add_listing(z, Subject{SubjectKind::kIPv6, std::string(kTestPointListed6)}, test_a,
                std::string(kTestPointTxt));
  }
  for (const Listing& l : listings) {
    if (!is_ip(l.subject)) continue;
    add_listing(z, l.subject, black ? black_answer(l, o) : std::string(kDefaultAnswer),
                black ? black_txt(l, o) : white_txt(l));
  }
  finish(z);
  return z;
}

DnsZoneContent name_zone(std::string_view zone, std::span<const Listing> listings,
                         const ZoneOptions& o, bool black, bool test_points) {
  DnsZoneContent z{ascii_lower(zone), {}, 0};
  if (test_points) {
    add_listing(z, Subject{SubjectKind::kDomain, std::string(kTestPointNameListed)},
                std::string(kDefaultAnswer), std::string(kTestPointTxt));
  }
  for (const Listing& l : listings) {
    if (l.subject.kind != SubjectKind::kDomain) continue;
    add_listing(z, l.subject, black ? black_answer(l, o) : std::string(kDefaultAnswer),
                black ? black_txt(l, o) : white_txt(l));
  }
  finish(z);
  return z;
}

DnsZoneContent rpz_zone(std::string_view zone, std::span<const Listing> black) {
  DnsZoneContent z{ascii_lower(zone), {}, 0};
  for (const Listing& l : black) {
    if (l.subject.kind != SubjectKind::kDomain) continue;
    const std::vector<std::string> owners = dns_owners(l.subject, z.zone);
    if (owners.empty()) {
      ++z.skipped;
      continue;
    }
    add(z, owners, DnsRecordType::kCname, "");  // CNAME . : answer NXDOMAIN
  }
  finish(z);
  return z;
}

}  // namespace

bool dns_entry_less(const DnsEntry& a, const DnsEntry& b) noexcept {
  if (a.owner != b.owner) return a.owner < b.owner;
  return a.type < b.type;
}

std::vector<std::string> dns_owners(const Subject& subject, std::string_view zone) {
  std::vector<std::string> owners;
  if (is_ip(subject)) {
    std::optional<Cidr> net;
    try {
      net = parse_cidr(subject.text);
    } catch (const std::exception&) {
      return {};  // not an address: nothing to publish
    }
    owners = ip_owners(*net, zone);
  } else {
    owners.push_back(ascii_lower(subject.text) + "." + std::string(zone));
  }
  for (const std::string& o : owners) {
    if (o.size() > kMaxNameText) return {};
  }
  return owners;
}

std::string expand_dollar(std::string_view text, std::string_view subject) {
  std::string out;
  out.reserve(text.size() + subject.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
    } else {
      out += subject;
    }
  }
  return out;
}

std::vector<DnsZoneContent> render_dns_zones(std::span<const Listing> black,
                                             std::span<const Listing> white,
                                             const ZoneOptions& options, const DnsZoneNames& zones,
                                             bool test_points) {
  std::vector<DnsZoneContent> out;
  if (!zones.black.empty()) {
    append_zone(out, ip_zone(zones.black, black, options, true, test_points), zones.split_black);
  }
  if (!zones.black_names.empty()) {
    out.push_back(name_zone(zones.black_names, black, options, true, test_points));
  }
  if (!zones.white.empty()) {
    append_zone(out, ip_zone(zones.white, white, options, false, test_points), zones.split_white);
  }
  if (!zones.white_names.empty()) {
    out.push_back(name_zone(zones.white_names, white, options, false, test_points));
  }
  if (!zones.rpz.empty()) out.push_back(rpz_zone(zones.rpz, black));
  return out;
}

std::vector<std::string> dns_zone_list(const DnsZoneNames& zones) {
  std::vector<std::string> out;
  for (const auto& [z, split] : {std::pair{&zones.black, zones.split_black},
                                 {&zones.black_names, false},
                                 {&zones.white, zones.split_white},
                                 {&zones.white_names, false},
                                 {&zones.rpz, false}}) {
    if (z->empty()) continue;
    out.push_back(ascii_lower(*z));
    if (split) {
      for (std::string& c : dns_child_zones(*z)) out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<std::string> dns_child_zones(std::string_view zone) {
  const std::string parent = ascii_lower(zone);
  std::vector<std::string> out;
  out.reserve(256);
  for (unsigned i = 0; i < 256; ++i) out.push_back(fmt::format("{}.{}", i, parent));
  return out;
}

DnsChanges diff_dns_entries(std::span<const DnsEntry> from, std::span<const DnsEntry> to) {
  DnsChanges c;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < from.size() || j < to.size()) {
    if (j == to.size() || (i < from.size() && dns_entry_less(from[i], to[j]))) {
      c.remove.push_back(from[i++]);
    } else if (i == from.size() || dns_entry_less(to[j], from[i])) {
      c.add.push_back(to[j++]);
    } else {
      if (from[i].data != to[j].data) {
        c.remove.push_back(from[i]);
        c.add.push_back(to[j]);
      }
      ++i;
      ++j;
    }
  }
  return c;
}

std::vector<DnsZoneChanges> dns_changes_of(std::span<const ListingIndex::Change> changes,
                                           const ZoneOptions& options, const DnsZoneNames& zones) {
  std::array<std::vector<Listing>, 2> black;  // before, after
  std::array<std::vector<Listing>, 2> white;
  for (const ListingIndex::Change& c : changes) {
    auto& lists = c.list == Verb::kBlack ? black : white;
    if (c.before) lists[0].push_back(*c.before);
    if (c.after) lists[1].push_back(*c.after);
  }
  const auto before = render_dns_zones(black[0], white[0], options, zones, false);
  const auto after = render_dns_zones(black[1], white[1], options, zones, false);
  std::vector<DnsZoneChanges> out;
  for (std::size_t i = 0; i < before.size(); ++i) {
    DnsChanges d = diff_dns_entries(before[i].entries, after[i].entries);
    if (!d.empty()) out.push_back(DnsZoneChanges{before[i].zone, std::move(d)});
  }
  return out;
}

}  // namespace exigrey

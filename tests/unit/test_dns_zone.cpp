// SPDX-License-Identifier: GPL-2.0-or-later
// The listings as DNS zone records (dns_zone.h): owners, wildcards for
// networks, test points, texts as rbldnsd gives them, and the diff.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exigrey/dns_zone.h"

using namespace exigrey;

namespace {

constexpr UnixTime kT0 = 1'735'787'045;  // 2025-01-02T03:04:05Z

Listing listing(SubjectKind kind, std::string text, unsigned reporters = 2) {
  Listing l;
  l.subject = Subject{kind, std::move(text)};
  l.reporters = reporters;
  l.since = kT0;
  return l;
}

const DnsEntry* find(const DnsZoneContent& z, const std::string& owner, DnsRecordType type) {
  for (const DnsEntry& e : z.entries) {
    if (e.owner == owner && e.type == type) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("dns_owners: addresses reversed, networks as wildcards, names under the zone") {
  const std::string z = "bl.example.org";
  CHECK(dns_owners({SubjectKind::kIPv4, "1.2.3.4"}, z) ==
        std::vector<std::string>{"4.3.2.1.bl.example.org"});
  CHECK(dns_owners({SubjectKind::kIPv4, "1.2.3.0/24"}, z) ==
        std::vector<std::string>{"*.3.2.1.bl.example.org"});
  CHECK(dns_owners({SubjectKind::kIPv4, "10.0.0.0/8"}, z) ==
        std::vector<std::string>{"*.10.bl.example.org"});
  // Off a label boundary: the wildcards that cover it.
  CHECK(dns_owners({SubjectKind::kIPv4, "1.2.4.0/22"}, z) ==
        std::vector<std::string>{"*.4.2.1.bl.example.org", "*.5.2.1.bl.example.org",
                                 "*.6.2.1.bl.example.org", "*.7.2.1.bl.example.org"});
  // In the last label, the addresses themselves.
  CHECK(dns_owners({SubjectKind::kIPv4, "1.2.3.4/31"}, z) ==
        std::vector<std::string>{"4.3.2.1.bl.example.org", "5.3.2.1.bl.example.org"});
  CHECK(dns_owners({SubjectKind::kIPv6, "2001:db8::/64"}, z) ==
        std::vector<std::string>{"*.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.org"});
  CHECK(dns_owners({SubjectKind::kIPv6, "2001:db8::1"}, z) ==
        std::vector<std::string>{
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.org"});
  CHECK(dns_owners({SubjectKind::kIPv6, "2001:db8::/63"}, z).size() == 2);
  CHECK(dns_owners({SubjectKind::kDomain, "Spam.Example.COM"}, "dbl.example.org") ==
        std::vector<std::string>{"spam.example.com.dbl.example.org"});
  // Too long for a DNS name: nothing.
  const std::string longname = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                               std::string(60, 'c') + "." + std::string(60, 'd') + ".com";
  CHECK(dns_owners({SubjectKind::kDomain, longname}, "dbl.example.org").empty());
}

TEST_CASE("expand_dollar: rbldnsd's substitution") {
  CHECK(expand_dollar("$ reported", "1.2.3.4") == "1.2.3.4 reported");
  CHECK(expand_dollar("see https://x/?q=$", "a.b") == "see https://x/?q=a.b");
  CHECK(expand_dollar("costs $$5", "s") == "costs $5");
  CHECK(expand_dollar("no dollar", "s") == "no dollar");
}

TEST_CASE("render_dns_zones: test points, answers and texts as in the rbldnsd files") {
  ZoneOptions o;
  o.answers = {{"virus", "127.0.0.4"}};
  std::vector<Listing> black = {listing(SubjectKind::kIPv4, "192.0.2.7"),
                                listing(SubjectKind::kDomain, "spam.example")};
  black[0].categories = {"virus"};
  black.push_back(listing(SubjectKind::kIPv6, "2001:db8::/64", 1));
  std::vector<Listing> white = {listing(SubjectKind::kIPv4, "198.51.100.1", 1)};
  const DnsZoneNames names{"bl.x", "dbl.x", "wl.x", "dwl.x", "rpz.x"};
  const auto zones = render_dns_zones(black, white, o, names);
  REQUIRE(zones.size() == 5);
  const DnsZoneContent& bl = zones[0];
  CHECK(bl.zone == "bl.x");
  REQUIRE(find(bl, "2.0.0.127.bl.x", DnsRecordType::kA) != nullptr);
  CHECK(find(bl, "2.0.0.127.bl.x", DnsRecordType::kA)->data == "127.0.0.2");
  CHECK(find(bl, "2.0.0.127.bl.x", DnsRecordType::kTxt)->data == "RFC 5782 test point");
  CHECK(find(bl, "1.0.0.127.bl.x", DnsRecordType::kA) == nullptr);
  // ::ffff:7f00:2 stays an IPv6 name (not folded into 127.0.0.2).
  CHECK(find(bl, "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.x",
             DnsRecordType::kA) != nullptr);
  CHECK(find(bl, "7.2.0.192.bl.x", DnsRecordType::kA)->data == "127.0.0.4");
  CHECK(find(bl, "7.2.0.192.bl.x", DnsRecordType::kTxt)->data ==
        "192.0.2.7 reported by 2 exigrey reporters since 2025-01-02T03:04:05Z");
  CHECK(find(bl, "*.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.x", DnsRecordType::kTxt)->data ==
        "2001:db8::/64 reported by 1 exigrey reporter since 2025-01-02T03:04:05Z");
  CHECK(find(bl, "spam.example.bl.x", DnsRecordType::kA) == nullptr);  // names go to dbl
  CHECK(bl.entries.size() == 2 * 4);
  CHECK(std::is_sorted(bl.entries.begin(), bl.entries.end(), dns_entry_less));

  const DnsZoneContent& dbl = zones[1];
  CHECK(find(dbl, "test.dbl.x", DnsRecordType::kA)->data == "127.0.0.2");
  CHECK(find(dbl, "invalid.dbl.x", DnsRecordType::kA) == nullptr);
  CHECK(find(dbl, "spam.example.dbl.x", DnsRecordType::kTxt)->data ==
        "spam.example reported by 2 exigrey reporters since 2025-01-02T03:04:05Z");
  CHECK(dbl.entries.size() == 2 * 2);

  const DnsZoneContent& wl = zones[2];
  CHECK(find(wl, "1.100.51.198.wl.x", DnsRecordType::kTxt)->data ==
        "198.51.100.1 vouched for by 1 exigrey reporter since 2025-01-02T03:04:05Z");
  CHECK(zones[3].entries.size() == 2);  // only the test point

  const DnsZoneContent& rpz = zones[4];
  REQUIRE(rpz.entries.size() == 1);
  CHECK(rpz.entries[0] == DnsEntry{"spam.example.rpz.x", DnsRecordType::kCname, ""});

  // Unset zones are left out.
  DnsZoneNames only_bl;
  only_bl.black = "bl.x";
  CHECK(render_dns_zones(black, white, o, only_bl).size() == 1);
}

TEST_CASE("diff_dns_entries: removals, additions and changes") {
  using T = DnsRecordType;
  const std::vector<DnsEntry> from = {
      {"a.z", T::kA, "127.0.0.2"}, {"a.z", T::kTxt, "old"}, {"b.z", T::kA, "127.0.0.2"}};
  const std::vector<DnsEntry> to = {
      {"a.z", T::kA, "127.0.0.2"}, {"a.z", T::kTxt, "new"}, {"c.z", T::kA, "127.0.0.3"}};
  const DnsChanges c = diff_dns_entries(from, to);
  CHECK(c.remove == std::vector<DnsEntry>{{"a.z", T::kTxt, "old"}, {"b.z", T::kA, "127.0.0.2"}});
  CHECK(c.add == std::vector<DnsEntry>{{"a.z", T::kTxt, "new"}, {"c.z", T::kA, "127.0.0.3"}});
  CHECK(diff_dns_entries(to, to).empty());
  CHECK(diff_dns_entries({}, to).add.size() == 3);
  CHECK(diff_dns_entries(from, {}).remove.size() == 3);
}

TEST_CASE("dns_changes_of: only the records of the listings that changed") {
  using T = DnsRecordType;
  DnsZoneNames zones;
  zones.black = "bl.t";
  zones.black_names = "dbl.t";
  zones.white = "wl.t";
  zones.rpz = "rpz.t";
  const ZoneOptions o;
  const Listing addr{parse_subject("11.22.33.44"), 2, 1700000000, {}, false};
  Listing addr3 = addr;
  addr3.reporters = 3;
  const Listing name{parse_subject("bad.example.net"), 2, 1700000000, {}, false};
  std::vector<ListingIndex::Change> changes = {
      {Verb::kBlack, addr, addr3},          // a changed text
      {Verb::kBlack, std::nullopt, name},   // a new name: dbl and rpz
      {Verb::kWhite, addr, std::nullopt}};  // a white listing gone
  const std::vector<DnsZoneChanges> out = dns_changes_of(changes, o, zones);
  REQUIRE(out.size() == 4);
  // bl: the TXT changes (delete and add), the A stays as it was.
  CHECK(out[0].zone == "bl.t");
  REQUIRE(out[0].changes.remove.size() == 1);
  CHECK(out[0].changes.remove[0].type == T::kTxt);
  CHECK(out[0].changes.add ==
        std::vector<DnsEntry>{
            {"44.33.22.11.bl.t", T::kTxt, black_txt(addr3, o).replace(0, 1, "11.22.33.44")}});
  CHECK(out[1].zone == "dbl.t");
  CHECK(out[1].changes.remove.empty());
  CHECK(out[1].changes.add.size() == 2);  // A and TXT, no test point
  CHECK(out[2].zone == "wl.t");
  CHECK(out[2].changes.add.empty());
  CHECK(out[2].changes.remove.size() == 2);
  CHECK(out[3].zone == "rpz.t");
  CHECK(out[3].changes.add == std::vector<DnsEntry>{{"bad.example.net.rpz.t", T::kCname, ""}});
  // Nothing changed: nothing to send.
  CHECK(dns_changes_of({}, o, zones).empty());
  CHECK(dns_zone_list(zones) == std::vector<std::string>{"bl.t", "dbl.t", "wl.t", "rpz.t"});
}

TEST_CASE("dns_split: a split zone's names go to the child of their first octet") {
  using T = DnsRecordType;
  DnsZoneNames zones;
  zones.black = "BL.t";
  zones.black_names = "dbl.t";
  zones.split_black = true;
  const ZoneOptions o;
  const std::vector<std::string> list = dns_zone_list(zones);
  REQUIRE(list.size() == 258);  // bl, its 256 children, dbl
  CHECK(list[0] == "bl.t");
  CHECK(list[1] == "0.bl.t");
  CHECK(list[256] == "255.bl.t");
  CHECK(list[257] == "dbl.t");
  CHECK(dns_child_zones("bl.t") == std::vector<std::string>(list.begin() + 1, list.end() - 1));

  const std::vector<Listing> black = {
      listing(SubjectKind::kIPv4, "11.22.33.44"),   listing(SubjectKind::kIPv4, "11.9.0.0/16"),
      listing(SubjectKind::kIPv4, "255.1.2.3"),     listing(SubjectKind::kIPv4, "10.0.0.0/7"),
      listing(SubjectKind::kIPv6, "2001:db8::/64"), listing(SubjectKind::kIPv6, "fd00::1")};
  const std::vector<DnsZoneContent> out = render_dns_zones(black, {}, o, zones);
  REQUIRE(out.size() == 258);
  std::vector<std::string> names;
  for (const DnsZoneContent& z : out) names.push_back(z.zone);
  CHECK(names == list);
  auto owners = [](const DnsZoneContent& z, T type) {
    std::vector<std::string> v;
    for (const DnsEntry& e : z.entries) {
      if (e.type == type) v.push_back(e.owner);
    }
    return v;
  };
  // The parent keeps the names that are not below an octet: IPv6 whose
  // first nibble is a-f.
  CHECK(owners(out[0], T::kA) ==
        std::vector<std::string>{
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.bl.t"});
  // A /7 is two /8 wildcards, one in each child.
  CHECK(owners(out[1 + 11], T::kA) ==
        std::vector<std::string>{"*.11.bl.t", "*.9.11.bl.t", "44.33.22.11.bl.t"});
  CHECK(owners(out[1 + 255], T::kA) == std::vector<std::string>{"3.2.1.255.bl.t"});
  CHECK(owners(out[1 + 10], T::kA) == std::vector<std::string>{"*.10.bl.t"});
  CHECK(owners(out[1 + 11], T::kTxt).size() == 3);
  // 2.bl.t: 2000::/4 (nearly all of IPv6) shares the child of 2.0.0.0/8.
  CHECK(owners(out[1 + 2], T::kA) ==
        std::vector<std::string>{"*.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.t"});
  // The test points: 127.0.0.2 in 127.bl.t, ::ffff:7f00:2 in 0.bl.t.
  CHECK(owners(out[1 + 127], T::kA) == std::vector<std::string>{"2.0.0.127.bl.t"});
  CHECK(owners(out[1 + 0], T::kA).size() == 1);
  // Every record is in exactly one zone: the split loses and doubles nothing.
  DnsZoneNames whole = zones;
  whole.split_black = false;
  std::size_t total = 0;
  for (std::size_t i = 0; i < 257; ++i) {
    total += out[i].entries.size();
    CHECK(std::is_sorted(out[i].entries.begin(), out[i].entries.end(), dns_entry_less));
  }
  CHECK(total == render_dns_zones(black, {}, o, whole)[0].entries.size());

  // Changes land in the children too.
  const Listing added = listing(SubjectKind::kIPv4, "192.0.2.9");
  const std::vector<DnsZoneChanges> changes = dns_changes_of(
      std::vector<ListingIndex::Change>{{Verb::kBlack, std::nullopt, added}}, o, zones);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].zone == "192.bl.t");
  CHECK(changes[0].changes.add.size() == 2);
}

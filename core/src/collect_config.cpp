// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/collect_config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <tuple>

#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/fd.h"
#include "exigrey/plain_line.h"
#include "settings_text.h"

namespace exigrey {
namespace {

using detail::for_each_setting;

std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (is_blank(v[i]) || v[i] == ',')) ++i;
    std::size_t j = i;
    while (j < v.size() && !is_blank(v[j]) && v[j] != ',') ++j;
    if (j > i) out.push_back(v.substr(i, j - i));
    i = j;
  }
  return out;
}

[[noreturn]] void bad(std::string_view key, std::string_view value, std::string_view hint) {
  throw UsageError(fmt::format("invalid {} {:?} ({})", key, value.substr(0, 80), hint));
}

template <typename T>
T parse_uint(std::string_view key, std::string_view value, T min, T max) {
  T out{};
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || out < min ||
      out > max) {
    bad(key, value, fmt::format("use a whole number from {} to {}", min, max));
  }
  return out;
}

std::int64_t parse_seconds(std::string_view key, std::string_view value, std::int64_t min,
                           std::int64_t max) {
  std::int64_t s = 0;
  try {
    s = parse_duration(value, key);
  } catch (const UsageError&) {
    bad(key, value, "use seconds or units such as 30s, 10m, 12h, 1d");
  }
  if (s < min || s > max) {
    bad(key, value, fmt::format("must be from {}s to {}s", min, max));
  }
  return s;
}

double parse_double(std::string_view key, std::string_view value, double min, double max) {
  double out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || !(out >= min) ||
      out > max) {
    bad(key, value, fmt::format("use a number from {} to {}", min, max));
  }
  return out;
}

// Text shown on the web page: one line of printable characters (the page
// escapes it; this keeps the settings file and the logs sane).
std::string page_text(std::string_view key, std::string_view value, std::size_t max) {
  if (value.size() > max) bad(key, value, fmt::format("at most {} bytes", max));
  for (char ch : value) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) bad(key, value, "no control bytes");
  }
  return std::string(value);
}

std::string endpoint_text(std::string_view key, std::string_view value) {
  if (value.empty() || value == "none" || value == "off") return {};
  return parse_endpoint(value, key).to_string();
}

// "none" unsets a path, so that every value --check-config shows reads back.
std::string absolute_dir(std::string_view key, std::string_view value) {
  if (value == "none") return {};
  if (value.empty() || value.front() != '/') bad(key, value, "use an absolute path");
  std::string dir(value);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string join_networks(const NetworkSet& set) {
  std::string out;
  for (const Cidr& c : set.networks()) {
    if (!out.empty()) out += ' ';
    out += c.to_string();
  }
  return out;
}

std::string or_none(const std::string& s) { return s.empty() ? "none" : s; }

std::string dns_name(std::string_view key, std::string_view value) {
  Subject s{SubjectKind::kDomain, {}};
  try {
    s = parse_subject(value);
  } catch (const UsageError&) {
    bad(key, value, "use a DNS name");
  }
  if (s.kind != SubjectKind::kDomain) bad(key, value, "use a DNS name");
  return s.text;
}

std::string absolute_file(std::string_view key, std::string_view value) {
  if (value == "none") return {};
  if (value.empty() || value.front() != '/') {
    throw UsageError(fmt::format("{}: must be an absolute path", key));
  }
  return std::string(value);
}

// A name as useradd(8) accepts it; "none" (or empty) means: do not switch.
std::string account_name(std::string_view key, std::string_view value, std::string_view example) {
  if (value == "none" || value.empty()) return {};
  const bool ok = value.size() <= 64 && value.front() != '-' &&
                  value.find_first_not_of(
                      "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$") == std::string_view::npos;
  if (!ok) bad(key, value, example);
  return std::string(value);
}

void apply_whitelist(ListingPolicy& policy, std::string_view key, std::string_view value,
                     bool append) {
  if (!append) {
    policy.whitelist_networks = NetworkSet{};
    policy.whitelist_domains.clear();
  }
  for (std::string_view item : split_list(value)) {
    if (parse_ip(item.substr(0, item.find('/'))).has_value()) {
      try {
        policy.whitelist_networks.add(parse_cidr(item));
      } catch (const UsageError& e) {
        throw UsageError(fmt::format("whitelist: {}", e.what()));
      }
      continue;
    }
    Subject s{SubjectKind::kDomain, {}};
    try {
      s = parse_subject(item);
    } catch (const UsageError&) {
      bad(key, item, "use networks such as 192.0.2.0/24 and domain names");
    }
    if (s.kind != SubjectKind::kDomain) {
      bad(key, item, "use networks such as 192.0.2.0/24 and domain names");
    }
    policy.whitelist_domains.push_back(s.text);
  }
}

std::string show_whitelist(const ListingPolicy& p) {
  std::string out = join_networks(p.whitelist_networks);
  for (const std::string& d : p.whitelist_domains) {
    if (!out.empty()) out += ' ';
    out += d;
  }
  return out;
}

using Apply = void (*)(CollectConfig&, std::string_view key, std::string_view value, bool append);
using Show = std::string (*)(const CollectConfig&);

struct Row {
  CollectSetting info;
  Apply apply;
  Show show;
};

// Every setting, once: its name, flag help, kind, whether SIGHUP applies it,
// how it is parsed and how --check-config shows it. Documentation order.
const std::vector<Row>& rows() {
  using C = CollectConfig;
  using V = std::string_view;
  static const std::vector<Row> table = {
      {{"plain", "accept plain report lines on ADDR:PORT (e.g. 127.0.0.1:2525)", false, true},
       [](C& c, V k, V v, bool) { c.plain = endpoint_text(k, v); },
       [](const C& c) { return or_none(c.plain); }},
      {{"signed", "accept signed batches from exigrey-forward on ADDR:PORT", false, true},
       [](C& c, V k, V v, bool) { c.signed_at = endpoint_text(k, v); },
       [](const C& c) { return or_none(c.signed_at); }},
      {{"keys", "reporters' secrets for signed batches, ID SECRET per line (reread on SIGHUP)",
        false, false},
       [](C& c, V k, V v, bool) { c.keys_file = absolute_file(k, v); },
       [](const C& c) { return or_none(c.keys_file); }},
      {{"tls_cert", "certificate chain (PEM): the signed listener speaks TLS", false, true},
       [](C& c, V k, V v, bool) { c.tls_cert = absolute_file(k, v); },
       [](const C& c) { return or_none(c.tls_cert); }},
      {{"tls_key", "private key (PEM) of tls_cert", false, true},
       [](C& c, V k, V v, bool) { c.tls_key = absolute_file(k, v); },
       [](const C& c) { return or_none(c.tls_key); }},
      {{"metrics", "serve Prometheus /metrics on ADDR:PORT", false, true},
       [](C& c, V k, V v, bool) { c.metrics = endpoint_text(k, v); },
       [](const C& c) { return or_none(c.metrics); }},
      {{"state", "directory of the collector's LMDB store", false, true},
       [](C& c, V k, V v, bool) { c.state_dir = absolute_dir(k, v); },
       [](const C& c) { return or_none(c.state_dir); }},
      {{"rbldnsd_dir", "directory where the rbldnsd data files are published", false, true},
       [](C& c, V k, V v, bool) { c.rbldnsd_dir = absolute_dir(k, v); },
       [](const C& c) { return or_none(c.rbldnsd_dir); }},
      {{"rbldnsd_shards",
        "split each rbldnsd file into this many parts, one dataset each, so that a change "
        "rewrites one part (default 1: not split)",
        false, true},
       [](C& c, V k, V v, bool) { c.rbldnsd_shards = parse_uint<unsigned>(k, v, 1, kMaxShards); },
       [](const C& c) { return std::to_string(c.rbldnsd_shards); }},
      {{"dns_primary",
        "send the listings as DNS UPDATEs (TSIG-signed) to the primary name server at ADDR:PORT",
        false, true},
       [](C& c, V k, V v, bool) { c.dns_primary = endpoint_text(k, v); },
       [](const C& c) { return or_none(c.dns_primary); }},
      {{"dns_key", "TSIG key file for dns_primary (keymgr -t output, or ALGORITHM:NAME:SECRET)",
        false, true},
       [](C& c, V k, V v, bool) { c.dns_key = absolute_file(k, v); },
       [](const C& c) { return or_none(c.dns_key); }},
      {{"dns_notify",
        "secondaries (ADDR:PORT ...) sent a NOTIFY right after each change, before the "
        "primary's own",
        true, true},
       [](C& c, V k, V v, bool append) {
         if (!append) c.dns_notify.clear();
         for (std::string_view item : split_list(v)) {
           if (item == "none") continue;
           c.dns_notify.push_back(parse_endpoint(item, k).to_string());
         }
       },
       [](const C& c) {
         std::string out;
         for (const std::string& e : c.dns_notify) {
           if (!out.empty()) out += ' ';
           out += e;
         }
         return out;
       }},
      {{"dns_backlog",
        "record changes held for dns_primary at most; beyond, they are dropped and the zones "
        "compared whole (AXFR) instead (default 200000)",
        false, true},
       [](C& c, V k, V v, bool) {
         c.dns_backlog = parse_uint<std::size_t>(k, v, 100, 100'000'000);
       },
       [](const C& c) { return std::to_string(c.dns_backlog); }},
      {{"dns_zones",
        "zones on dns_primary: black=ZONE black_names=ZONE white=ZONE white_names=ZONE rpz=ZONE",
        true, true},
       [](C& c, V k, V v, bool append) {
         DnsZoneNames z = append ? c.dns_zones : DnsZoneNames{};
         z.split_black = c.dns_zones.split_black;  // dns_split's, whatever the order
         z.split_white = c.dns_zones.split_white;
         for (std::string_view item : split_list(v)) {
           const auto eq = item.find('=');
           const V list = eq == V::npos ? item : item.substr(0, eq);
           std::string* slot = list == "black"         ? &z.black
                               : list == "black_names" ? &z.black_names
                               : list == "white"       ? &z.white
                               : list == "white_names" ? &z.white_names
                               : list == "rpz"         ? &z.rpz
                                                       : nullptr;
           if (slot == nullptr || eq == V::npos) {
             bad(k, item, "use black=ZONE, black_names=, white=, white_names= or rpz=");
           }
           *slot = dns_name(k, item.substr(eq + 1));
         }
         c.dns_zones = std::move(z);
       },
       [](const C& c) {
         std::string out;
         for (const auto& [list, zone] :
              {std::pair<V, const std::string*>{"black", &c.dns_zones.black},
               {"black_names", &c.dns_zones.black_names},
               {"white", &c.dns_zones.white},
               {"white_names", &c.dns_zones.white_names},
               {"rpz", &c.dns_zones.rpz}}) {
           if (zone->empty()) continue;
           if (!out.empty()) out += ' ';
           out += fmt::format("{}={}", list, *zone);
         }
         return out;
       }},
      {{"dns_split",
        "IP lists (black, white) whose zone is delegated to 256 child zones, one per first "
        "octet (0.ZONE ... 255.ZONE), so that each change touches a small zone (default none)",
        true, true},
       [](C& c, V k, V v, bool append) {
         if (!append) c.dns_zones.split_black = c.dns_zones.split_white = false;
         for (std::string_view item : split_list(v)) {
           if (item == "black") {
             c.dns_zones.split_black = true;
           } else if (item == "white") {
             c.dns_zones.split_white = true;
           } else if (item != "none") {
             bad(k, item, "use black, white or none");
           }
         }
       },
       [](const C& c) {
         std::string out = c.dns_zones.split_black ? "black" : "";
         if (c.dns_zones.split_white) out += out.empty() ? "white" : " white";
         return or_none(out);
       }},
      {{"allow", "networks allowed to send plain reports (default 127.0.0.0/8 ::1)", true, false},
       [](C& c, V, V v, bool append) {
         NetworkSet set = append ? c.allow : NetworkSet{};
         for (std::string_view item : split_list(v)) {
           try {
             set.add(parse_cidr(item));
           } catch (const UsageError& e) {
             throw UsageError(fmt::format("allow: {}", e.what()));
           }
         }
         c.allow = std::move(set);
       },
       [](const C& c) { return join_networks(c.allow); }},
      {{"min_reporters", "distinct reporters needed before a subject is listed (default 2)", false,
        false},
       [](C& c, V k, V v, bool) {
         c.policy.min_reporters =
             parse_uint<unsigned>(k, v, 1, static_cast<unsigned>(kMaxVotesPerSubject));
       },
       [](const C& c) { return std::to_string(c.policy.min_reporters); }},
      {{"ttl", "how long a vote counts after its last report (default 1d)", false, false},
       [](C& c, V k, V v, bool) { c.policy.ttl = parse_seconds(k, v, 1, 365 * 86400); },
       [](const C& c) { return std::to_string(c.policy.ttl); }},
      {{"decay", "half-life of a vote's weight, 0 for none (default 12h)", false, false},
       [](C& c, V k, V v, bool) { c.policy.decay = parse_seconds(k, v, 0, 365 * 86400); },
       [](const C& c) { return std::to_string(c.policy.decay); }},
      {{"whitelist", "networks and domains never black-listed", true, false},
       [](C& c, V k, V v, bool append) { apply_whitelist(c.policy, k, v, append); },
       [](const C& c) { return show_whitelist(c.policy); }},
      {{"reporter_weight",
        "ID=WEIGHT: a reporter's vote counts this much (default 1; 0 ignores it)", true, false},
       [](C& c, V k, V v, bool append) {
         if (!append) c.policy.reporter_weights.clear();
         for (std::string_view item : split_list(v)) {
           const auto eq = item.rfind('=');
           const std::string_view id = eq == V::npos ? V{} : item.substr(0, eq);
           double w = -1;
           if (eq != V::npos) w = parse_double(k, item.substr(eq + 1), 0, kMaxReporterWeight);
           if (id.empty() || id.size() > kMaxReporterBytes) {
             bad(k, item, "use ID=WEIGHT such as plain:192.0.2.1=2 or mx1=0.5");
           }
           std::erase_if(c.policy.reporter_weights, [&](const auto& e) { return e.first == id; });
           c.policy.reporter_weights.emplace_back(std::string(id), w);
         }
       },
       [](const C& c) {
         std::string out;
         for (const auto& [id, w] : c.policy.reporter_weights) {
           if (!out.empty()) out += ' ';
           out += fmt::format("{}={}", id, w);
         }
         return out;
       }},
      {{"probation", "new reporters' votes count less for this long (default 0: no probation)",
        false, false},
       [](C& c, V k, V v, bool) { c.policy.probation = parse_seconds(k, v, 0, 365 * 86400); },
       [](const C& c) { return std::to_string(c.policy.probation); }},
      {{"probation_weight", "what a vote on probation counts, 0..1 (default 0.5)", false, false},
       [](C& c, V k, V v, bool) { c.policy.probation_weight = parse_double(k, v, 0, 1); },
       [](const C& c) { return fmt::format("{}", c.policy.probation_weight); }},
      {{"hold", "a listing lasts at least this, doubled for each repeat (default 1h)", false,
        false},
       [](C& c, V k, V v, bool) { c.policy.hold = parse_seconds(k, v, 0, 365 * 86400); },
       [](const C& c) { return std::to_string(c.policy.hold); }},
      {{"hold_max", "the doubled hold never exceeds this (default 7d)", false, false},
       [](C& c, V k, V v, bool) { c.policy.hold_max = parse_seconds(k, v, 0, 365 * 86400); },
       [](const C& c) { return std::to_string(c.policy.hold_max); }},
      {{"offense_memory", "listings further apart than this start the doubling again (default 30d)",
        false, false},
       [](C& c, V k, V v, bool) { c.policy.offense_memory = parse_seconds(k, v, 0, 3650 * 86400); },
       [](const C& c) { return std::to_string(c.policy.offense_memory); }},
      {{"ipv6_prefix", "IPv6 reports count for their /N network, 48..128 (default 64)", false,
        false},
       [](C& c, V k, V v, bool) { c.policy.ipv6_prefix = parse_uint<unsigned>(k, v, 48, 128); },
       [](const C& c) { return std::to_string(c.policy.ipv6_prefix); }},
      {{"escalate_ipv4", "list a whole /24 once this many of its addresses are (default 0: never)",
        false, false},
       [](C& c, V k, V v, bool) { c.policy.escalate_ipv4 = parse_uint<unsigned>(k, v, 0, 256); },
       [](const C& c) { return std::to_string(c.policy.escalate_ipv4); }},
      {{"escalate_ipv6",
        "list a whole IPv6 /48 once this many of its networks are (default 0: never)", false,
        false},
       [](C& c, V k, V v, bool) { c.policy.escalate_ipv6 = parse_uint<unsigned>(k, v, 0, 65536); },
       [](const C& c) { return std::to_string(c.policy.escalate_ipv6); }},
      {{"retention", "evidence is kept this long after a subject's last event (default 30d)", false,
        false},
       [](C& c, V k, V v, bool) { c.policy.retention = parse_seconds(k, v, 1, 3650 * 86400); },
       [](const C& c) { return std::to_string(c.policy.retention); }},
      {{"web", "serve the public lookup page and JSON API on ADDR:PORT (default none)", false,
        true},
       [](C& c, V k, V v, bool) { c.web = endpoint_text(k, v); },
       [](const C& c) { return or_none(c.web); }},
      {{"list_name", "the list's name on the lookup page (default exigrey)", false, false},
       [](C& c, V k, V v, bool) { c.list_name = page_text(k, v, 64); },
       [](const C& c) { return c.list_name; }},
      {{"removal_text", "how to get removed, shown on the lookup page", false, false},
       [](C& c, V k, V v, bool) { c.removal_text = v == "none" ? "" : page_text(k, v, 1000); },
       [](const C& c) { return or_none(c.removal_text); }},
      {{"max_requests", "removal requests stored at most (default 1000)", false, false},
       [](C& c, V k, V v, bool) { c.max_requests = parse_uint<std::size_t>(k, v, 0, 1'000'000); },
       [](const C& c) { return std::to_string(c.max_requests); }},
      {{"max_line", "longest report line in bytes (default 512)", false, false},
       [](C& c, V k, V v, bool) {
         c.limits.max_line = parse_uint<std::size_t>(k, v, 64, kMaxPlainLineLimit);
       },
       [](const C& c) { return std::to_string(c.limits.max_line); }},
      {{"idle_timeout", "close connections without a line for this long (default 30s)", false,
        false},
       [](C& c, V k, V v, bool) { c.limits.idle_timeout = parse_seconds(k, v, 1, 86400); },
       [](const C& c) { return std::to_string(c.limits.idle_timeout); }},
      {{"max_connections", "open plain connections at most (default 512)", false, false},
       [](C& c, V k, V v, bool) {
         c.limits.max_connections = parse_uint<std::size_t>(k, v, 1, 100000);
       },
       [](const C& c) { return std::to_string(c.limits.max_connections); }},
      {{"source_rate", "reports per second per source, 0 for no limit (default 100)", false, false},
       [](C& c, V k, V v, bool) {
         c.limits.source_rate = parse_uint<std::uint32_t>(k, v, 0, 10'000'000);
       },
       [](const C& c) { return std::to_string(c.limits.source_rate); }},
      {{"source_burst", "reports a source may send at once (default 1000)", false, false},
       [](C& c, V k, V v, bool) {
         c.limits.source_burst = parse_uint<std::uint32_t>(k, v, 1, 100'000'000);
       },
       [](const C& c) { return std::to_string(c.limits.source_burst); }},
      {{"max_bad_lines", "bad lines before a connection is closed (default 100)", false, false},
       [](C& c, V k, V v, bool) {
         c.limits.max_bad_lines = parse_uint<std::size_t>(k, v, 1, 1'000'000);
       },
       [](const C& c) { return std::to_string(c.limits.max_bad_lines); }},
      {{"dns_ttl", "TTL of the published records (default 5m)", false, false},
       [](C& c, V k, V v, bool) { c.zone.ttl = parse_seconds(k, v, 1, 7 * 86400); },
       [](const C& c) { return std::to_string(c.zone.ttl); }},
      {{"dns_ns", "name server named in $NS and $SOA (default localhost)", false, false},
       [](C& c, V k, V v, bool) { c.zone.ns = dns_name(k, v); },
       [](const C& c) { return c.zone.ns; }},
      {{"dns_hostmaster", "SOA contact (default hostmaster.localhost)", false, false},
       [](C& c, V k, V v, bool) { c.zone.hostmaster = dns_name(k, v); },
       [](const C& c) { return c.zone.hostmaster; }},
      {{"answer",
        "black-list A value per category, CATEGORY=127.0.0.N; the first one a listing has "
        "wins (default 127.0.0.2)",
        true, false},
       [](C& c, V k, V v, bool append) {
         auto answers = append ? c.zone.answers : decltype(c.zone.answers){};
         for (std::string_view item : split_list(v)) {
           auto answer = parse_answer_code(item);
           for (const auto& [category, address] : answers) {
             if (category == answer.first) bad(k, item, "the category has an answer already");
           }
           answers.push_back(std::move(answer));
         }
         if (answers.size() > kMaxAnswers) {
           bad(k, v, fmt::format("at most {} categories", kMaxAnswers));
         }
         c.zone.answers = std::move(answers);
       },
       [](const C& c) {
         std::string out;
         for (const auto& [category, address] : c.zone.answers) {
           if (!out.empty()) out += ' ';
           out += category + "=" + address;
         }
         return out;
       }},
      {{"txt",
        "TXT template of black listings: {reporters} {s} {since} {category} {categories} "
        "{subject}; $ is the queried name",
        false, false},
       [](C& c, V, V v, bool) {
         check_txt_template(v);
         c.zone.txt = std::string(v);
       },
       [](const C& c) { return c.zone.txt; }},
      {{"sync", "store sync mode: full, meta or none (default meta)", false, true},
       [](C& c, V k, V v, bool) {
         // `precious` is the greylist stores' mode (a keep file of whitelist
         // entries); the collector's store has no such split.
         try {
           c.store.sync = parse_sync_mode(v);
         } catch (const UsageError&) {
           bad(k, v, "use full, meta or none");
         }
         if (c.store.sync == SyncMode::kPrecious) bad(k, v, "use full, meta or none");
       },
       [](const C& c) { return std::string(to_string(c.store.sync)); }},
      {{"map_size", "store map size (default 1G)", false, true},
       [](C& c, V k, V v, bool) {
         std::uint64_t size = 0;
         try {
           size = parse_size(v, "map_size");
         } catch (const UsageError&) {
           bad(k, v, "use bytes or a size such as 512M, 4G");
         }
         if (size < kMinMapSize) bad(k, v, "at least 64K");
         c.store.map_size = size;
       },
       [](const C& c) { return std::to_string(c.store.map_size); }},
      {{"log",
        "auto (default: stderr, or syslog when stderr is closed or /dev/null), stderr or syslog",
        false, false},
       [](C& c, V k, V v, bool) { c.log = parse_log_target(v, k); },
       [](const C& c) { return std::string(to_string(c.log)); }},
      {{"log_level", "error, warning, info or debug (default info)", false, false},
       [](C& c, V k, V v, bool) { c.log_level = parse_log_level(v, k); },
       [](const C& c) { return std::string(to_string(c.log_level)); }},
      {{"user", "after binding and reading keys as root, run as this user", false, true},
       [](C& c, V k, V v, bool) { c.user = account_name(k, v, "use a user name such as exigrey"); },
       [](const C& c) { return or_none(c.user); }},
      {{"group", "with --user: run with this group (default: the user's primary group)", false,
        true},
       [](C& c, V k, V v, bool) {
         c.group = account_name(k, v, "use a group name such as exigrey");
       },
       [](const C& c) { return or_none(c.group); }},
  };
  return table;
}

const Row* find_row(std::string_view key) {
  for (const Row& r : rows()) {
    if (r.info.key == key) return &r;
  }
  return nullptr;
}

}  // namespace

NetworkSet CollectConfig::default_allow() {
  return NetworkSet({parse_cidr("127.0.0.0/8"), parse_cidr("::1")});
}

const std::vector<CollectSetting>& collect_settings() {
  static const std::vector<CollectSetting> out = [] {
    std::vector<CollectSetting> v;
    for (const Row& r : rows()) v.push_back(r.info);
    return v;
  }();
  return out;
}

const std::vector<std::string_view>& collect_setting_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> v;
    for (const Row& r : rows()) v.push_back(r.info.key);
    return v;
  }();
  return keys;
}

std::string show_collect_setting(const CollectConfig& cfg, std::string_view key) {
  const Row* row = find_row(key);
  if (row == nullptr) throw UsageError(fmt::format("unknown setting {:?}", key.substr(0, 80)));
  return row->show(cfg);
}

std::string describe_collect_config(const CollectConfig& cfg) {
  std::string out;
  for (const Row& r : rows()) {
    out += r.info.key;
    out += " = ";
    out += r.show(cfg);
    out += '\n';
  }
  return out;
}

void apply_collect_setting(CollectConfig& cfg, std::string_view key, std::string_view value,
                           bool append) {
  const Row* row = find_row(key);
  if (row == nullptr) {
    throw UsageError(
        fmt::format("unknown setting {:?} (see exigrey-collect(8))", key.substr(0, 80)));
  }
  row->apply(cfg, key, trim(value), append);
}

CollectConfig parse_collect_config(std::string_view text, std::string_view origin,
                                   CollectConfig base) {
  if (text.size() > kMaxCollectConfigBytes) {
    throw UsageError(fmt::format("exigrey-collect: {}: settings file is larger than {} bytes",
                                 origin, kMaxCollectConfigBytes));
  }
  CollectConfig cfg = std::move(base);
  std::map<std::string, std::size_t, std::less<>> first_line;
  std::map<std::string, bool, std::less<>> list_started;
  auto fail_at = [&](std::size_t lineno, const std::string& what) {
    throw UsageError(fmt::format("exigrey-collect: {}:{}: {}", origin, lineno, what));
  };
  for_each_setting(
      text,
      [&](std::size_t lineno, std::string_view key, std::string_view value) {
        auto fail = [&](const std::string& what) { fail_at(lineno, what); };
        const Row* known = find_row(key);
        if (known == nullptr) {
          fail(fmt::format("unknown setting {:?} (see exigrey-collect(8))", key.substr(0, 80)));
        }
        const bool list = known->info.list;
        if (!list) {
          const auto [pos, fresh] = first_line.emplace(std::string(key), lineno);
          if (!fresh) fail(fmt::format("{} is set twice (first on line {})", key, pos->second));
          if (value.empty()) fail(fmt::format("{} has no value", key));
        }
        // The first occurrence of a list key replaces the base's list; later ones append.
        const bool append = list && list_started.contains(key);
        if (list) list_started[std::string(key)] = true;
        try {
          apply_collect_setting(cfg, key, value, append);
        } catch (const UsageError& e) {
          fail(e.what());
        }
      },
      fail_at);
  return cfg;
}

std::string read_collect_config_file(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    throw UsageError(fmt::format("exigrey-collect: cannot read settings file {}: {}", path,
                                 std::strerror(errno)));
  }
  std::string text;
  // Beyond the limit parse_collect_config reports it.
  if (const int err = read_all(fd.get(), kMaxCollectConfigBytes, &text); err != 0) {
    throw UsageError(
        fmt::format("exigrey-collect: cannot read settings file {}: {}", path, std::strerror(err)));
  }
  return text;
}

void check_collect_config(const CollectConfig& cfg) {
  if (cfg.state_dir.empty()) {
    throw UsageError("exigrey-collect: no state directory (set state or --state DIR)");
  }
  if (cfg.rbldnsd_dir.empty() && cfg.dns_primary.empty()) {
    throw UsageError(
        "exigrey-collect: nowhere to publish (set rbldnsd_dir or --rbldnsd-dir DIR, "
        "or dns_primary and dns_zones)");
  }
  if (!cfg.dns_primary.empty() && cfg.dns_key.empty()) {
    throw UsageError(
        "exigrey-collect: dns_primary needs a TSIG key (set dns_key or --dns-key FILE)");
  }
  if (!cfg.dns_primary.empty() && !cfg.dns_zones.any()) {
    throw UsageError(
        "exigrey-collect: dns_primary needs at least one zone (set dns_zones, e.g. "
        "black=bl.example.org)");
  }
  for (const auto& [list, split, zone, example] :
       {std::tuple{"black", cfg.dns_zones.split_black, &cfg.dns_zones.black, "bl"},
        {"white", cfg.dns_zones.split_white, &cfg.dns_zones.white, "wl"}}) {
    if (split && zone->empty()) {
      throw UsageError(fmt::format(
          "exigrey-collect: dns_split = {} needs its zone in dns_zones (e.g. {}={}.example.org)",
          list, list, example));
    }
  }
  if (cfg.dns_primary.empty() &&
      (cfg.dns_zones.any() || !cfg.dns_key.empty() || !cfg.dns_notify.empty())) {
    throw UsageError("exigrey-collect: dns_zones, dns_key and dns_notify need dns_primary");
  }
  if (cfg.plain.empty() && cfg.signed_at.empty()) {
    throw UsageError(
        "exigrey-collect: no listener (set plain or --plain ADDR:PORT, or signed and keys)");
  }
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    throw UsageError("exigrey-collect: tls_cert and tls_key go together");
  }
  if (!cfg.signed_at.empty() && cfg.keys_file.empty()) {
    throw UsageError("exigrey-collect: signed needs a keys file (set keys or --keys FILE)");
  }
  if (!cfg.group.empty() && cfg.user.empty()) {
    throw UsageError("exigrey-collect: group needs user (set user or --user NAME)");
  }
  check_policy(cfg.policy);
  check_zone_options(cfg.zone);
}

}  // namespace exigrey

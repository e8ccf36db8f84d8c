// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "exigrey/collect_config.h"
#include "exigrey/error.h"

using namespace exigrey;

TEST_CASE("Defaults are loopback-only and two reporters", "[collect_config]") {
  const CollectConfig c;
  CHECK(c.allow.contains(*parse_ip("127.0.0.1")));
  CHECK(c.allow.contains(*parse_ip("127.9.9.9")));
  CHECK(c.allow.contains(*parse_ip("::1")));
  CHECK_FALSE(c.allow.contains(*parse_ip("192.168.1.1")));
  CHECK(c.policy.min_reporters == 2);
  CHECK(c.policy.ttl == 86400);
  CHECK(c.limits.max_line == 512);
  CHECK(c.store.sync == SyncMode::kMeta);
  CHECK(collect_setting_keys().size() == collect_settings().size());
  CHECK(collect_setting_keys()[1] == "signed");
  CHECK(c.policy.ipv6_prefix == 64);
  CHECK(c.policy.probation == 0);
  CHECK(c.web.empty());
}

TEST_CASE("A settings file sets every key", "[collect_config]") {
  const CollectConfig c = parse_collect_config(
      "# exigrey-collect\n"
      "plain = 127.0.0.1:2525   # comment\n"
      "metrics = [::1]:9464\n"
      "state = /var/lib/exigrey-collect/\n"
      "rbldnsd_dir = /var/lib/rbldnsd\n"
      "allow = 127.0.0.0/8, 192.0.2.0/24\n"
      "allow = ::1\n"
      "min_reporters = 1\n"
      "ttl = 2h\n"
      "decay = 0\n"
      "whitelist = 11.22.0.0/16 Good.ORG.\n"
      "whitelist = 2a00::/16\n"
      "max_line = 1024\n"
      "idle_timeout = 1m\n"
      "max_connections = 64\n"
      "source_rate = 0\n"
      "source_burst = 5\n"
      "max_bad_lines = 3\n"
      "dns_ttl = 1m\n"
      "dns_ns = ns1.example.org\n"
      "dns_hostmaster = hostmaster.example.org\n"
      "sync = none\n"
      "map_size = 64M\n"
      "log = syslog\n"
      "log_level = debug\n",
      "collect.conf");
  CHECK(c.plain == "127.0.0.1:2525");
  CHECK(c.metrics == "[::1]:9464");
  CHECK(c.state_dir == "/var/lib/exigrey-collect");
  CHECK(c.rbldnsd_dir == "/var/lib/rbldnsd");
  REQUIRE(c.allow.networks().size() == 3);
  CHECK(c.allow.contains(*parse_ip("192.0.2.5")));
  CHECK(c.policy.min_reporters == 1);
  CHECK(c.policy.ttl == 7200);
  CHECK(c.policy.decay == 0);
  CHECK(c.policy.whitelist_networks.networks().size() == 2);
  CHECK(c.policy.whitelist_domains == std::vector<std::string>{"good.org"});
  CHECK(c.limits == ListenerLimits{1024, 60, 64, 0, 5, 3});
  CHECK(c.zone ==
        ZoneOptions{60, "ns1.example.org", "hostmaster.example.org", {}, std::string(kDefaultTxt)});
  CHECK(c.store.sync == SyncMode::kNone);
  CHECK(c.store.map_size == 64u << 20);
  CHECK(c.log == LogTarget::kSyslog);
  CHECK(c.log_level == LogLevel::kDebug);
  CHECK_NOTHROW(check_collect_config(c));
}

TEST_CASE("Flags override the file, and a list flag replaces the list", "[collect_config]") {
  CollectConfig c = parse_collect_config("min_reporters = 3\nallow = 10.0.0.0/8\n", "f");
  apply_collect_setting(c, "min_reporters", "1");
  apply_collect_setting(c, "allow", "127.0.0.1");
  CHECK(c.policy.min_reporters == 1);
  REQUIRE(c.allow.networks().size() == 1);
  CHECK_FALSE(c.allow.contains(*parse_ip("10.1.1.1")));
  apply_collect_setting(c, "allow", "::1", true);
  CHECK(c.allow.networks().size() == 2);
  apply_collect_setting(c, "metrics", "none");
  CHECK(c.metrics.empty());
}

TEST_CASE("Bad settings name the file, the line and what is accepted", "[collect_config]") {
  auto error_of = [](std::string_view text) {
    try {
      parse_collect_config(text, "c.conf");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("\nbogus = 1\n"), Catch::StartsWith("exigrey-collect: c.conf:2: unknown"));
  CHECK_THAT(error_of("ttl = 1h\nttl = 2h\n"), Catch::Contains("set twice (first on line 1)"));
  CHECK_THAT(error_of("ttl\n"), Catch::Contains("expected 'key = value'"));
  CHECK_THAT(error_of("ttl = \n"), Catch::Contains("ttl has no value"));
  CHECK_THAT(error_of("ttl = soon\n"), Catch::Contains("invalid ttl"));
  CHECK_THAT(error_of("min_reporters = 0\n"), Catch::Contains("from 1 to 32"));
  CHECK_THAT(error_of("min_reporters = 2x\n"), Catch::Contains("invalid min_reporters"));
  CHECK_THAT(error_of("allow = 10.1.0.0/8\n"), Catch::Contains("did you mean 10.0.0.0/8"));
  CHECK_THAT(error_of("whitelist = 1.2.3.4/40\n"), Catch::Contains("whitelist"));
  CHECK_THAT(error_of("whitelist = -x-\n"), Catch::Contains("invalid whitelist"));
  CHECK_THAT(error_of("plain = 127.0.0.1\n"), Catch::Contains("ADDR:PORT"));
  CHECK_THAT(error_of("plain = ::1:25\n"), Catch::Contains("ADDR:PORT"));
  CHECK_THAT(error_of("plain = 127.0.0.1:0\n"), Catch::Contains("ADDR:PORT"));
  CHECK_THAT(error_of("plain = 127.0.0.1:70000\n"), Catch::Contains("ADDR:PORT"));
  CHECK_THAT(error_of("state = relative/dir\n"), Catch::Contains("absolute path"));
  CHECK_THAT(error_of("sync = sometimes\n"), Catch::Contains("full, meta or none"));
  CHECK_THAT(error_of("map_size = 1K\n"), Catch::Contains("at least 64K"));
  CHECK_THAT(error_of("log = file\n"), Catch::Contains("auto, stderr or syslog"));
  CHECK_THAT(error_of(std::string("ttl = 1h\0\n", 10)), Catch::Contains("NUL"));
  CHECK_THAT(error_of(std::string(kMaxCollectConfigBytes + 1, '#')),
             Catch::Contains("larger than"));
  CHECK_THROWS_AS(read_collect_config_file("/nonexistent/collect.conf"), UsageError);
}

TEST_CASE("A usable configuration needs a listener and both directories", "[collect_config]") {
  CollectConfig c;
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("--state"));
  c.state_dir = "/tmp/s";
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("--rbldnsd-dir"));
  c.rbldnsd_dir = "/tmp/r";
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("--plain"));
  c.plain = "127.0.0.1:2525";
  CHECK_NOTHROW(check_collect_config(c));
}

TEST_CASE("Publishing by DNS UPDATE needs a key and a zone, and may replace the files",
          "[collect_config]") {
  CollectConfig c;
  apply_collect_setting(c, "state", "/var/lib/x");
  apply_collect_setting(c, "plain", "127.0.0.1:2525");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("nowhere to publish"));
  apply_collect_setting(c, "dns_primary", "127.0.0.1:5300");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("needs a TSIG key"));
  apply_collect_setting(c, "dns_key", "/etc/exigrey/dns.key");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("at least one zone"));
  apply_collect_setting(c, "dns_zones", "black=BL.Example.ORG., black_names=dbl.example.org");
  CHECK(c.dns_zones.black == "bl.example.org");
  CHECK(c.dns_zones.black_names == "dbl.example.org");
  CHECK_NOTHROW(check_collect_config(c));                        // no rbldnsd_dir: DNS only
  apply_collect_setting(c, "dns_zones", "rpz=rpz.example.org");  // a flag replaces the list
  CHECK(c.dns_zones.black.empty());
  CHECK(c.dns_zones.rpz == "rpz.example.org");
  CHECK_THROWS_WITH(apply_collect_setting(c, "dns_zones", "grey=x.org"),
                    Catch::Contains("black=ZONE"));
  CHECK_THROWS_WITH(apply_collect_setting(c, "dns_zones", "black"), Catch::Contains("black=ZONE"));
  CHECK_THROWS_AS(apply_collect_setting(c, "dns_zones", "black=not a name"), UsageError);
  // dns_split names lists whose zone is set, in any order with dns_zones.
  apply_collect_setting(c, "dns_split", "white");
  CHECK_THROWS_WITH(check_collect_config(c),
                    Catch::Contains("dns_split = white needs its zone in dns_zones"));
  apply_collect_setting(c, "dns_zones", "rpz=rpz.example.org white=wl.example.org");
  CHECK(c.dns_zones.split_white);
  CHECK_NOTHROW(check_collect_config(c));
  CHECK(show_collect_setting(c, "dns_split") == "white");
  apply_collect_setting(c, "dns_split", "none");
  CHECK_FALSE(c.dns_zones.split_white);
  CHECK_THROWS_WITH(apply_collect_setting(c, "dns_split", "black_names"),
                    Catch::Contains("use black, white or none"));
  apply_collect_setting(c, "dns_zones", "rpz=rpz.example.org");
  CHECK_THROWS_AS(apply_collect_setting(c, "dns_primary", "localhost:53"), UsageError);
  CHECK_THROWS_AS(apply_collect_setting(c, "dns_key", "dns.key"), UsageError);
  apply_collect_setting(c, "dns_primary", "none");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("nowhere to publish"));
  apply_collect_setting(c, "rbldnsd_dir", "/var/lib/y");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("need dns_primary"));
  apply_collect_setting(c, "dns_zones", "");
  apply_collect_setting(c, "dns_notify", "127.0.0.1:53");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("dns_notify need dns_primary"));
  CHECK_THROWS_AS(apply_collect_setting(c, "dns_notify", "ns1.example.org:53"), UsageError);
}

TEST_CASE("Endpoints parse in both families", "[collect_config]") {
  CHECK(parse_endpoint("127.0.0.1:2525", "plain").to_string() == "127.0.0.1:2525");
  CHECK(parse_endpoint("[::1]:9", "plain").to_string() == "[::1]:9");
  CHECK(parse_endpoint("[::]:9", "plain").host == "::");
  CHECK(parse_endpoint("[0:0::1]:53", "dns_primary").to_string() == "[::1]:53");
  CHECK_THROWS_AS(parse_endpoint("localhost:25", "plain"), UsageError);
  // Where the caller connects (the forwarder): host names too, nothing else.
  const Endpoint named =
      parse_endpoint("collector.example.org:8054", "--collector", HostForm::kAddressOrName);
  CHECK(named.host == "collector.example.org");
  CHECK(named.port == 8054);
  CHECK(parse_endpoint("[::1]:53", "--collector", HostForm::kAddressOrName).to_string() ==
        "[::1]:53");
  for (const char* bad : {"bad host:1", "host\n:1", "mx:0", "[mx]x:1", "a:b:1"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_endpoint(bad, "--collector", HostForm::kAddressOrName), UsageError);
  }
  CHECK_THROWS_AS(parse_endpoint("[::1]", "plain"), UsageError);
  CHECK_THROWS_AS(parse_endpoint("1.2.3.4:", "plain"), UsageError);
}

TEST_CASE("Signed listening needs keys, and TLS needs both files", "[collect_config]") {
  CollectConfig c;
  apply_collect_setting(c, "state", "/var/lib/x");
  apply_collect_setting(c, "rbldnsd_dir", "/var/lib/y");
  apply_collect_setting(c, "signed", "127.0.0.1:8054");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("signed needs a keys file"));
  apply_collect_setting(c, "keys", "/etc/exigrey/collect.keys");
  check_collect_config(c);  // no plain listener is needed then
  apply_collect_setting(c, "tls_cert", "/etc/exigrey/collect.pem");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("tls_cert and tls_key go together"));
  apply_collect_setting(c, "tls_key", "/etc/exigrey/collect.key");
  check_collect_config(c);
  CHECK_THROWS_AS(apply_collect_setting(c, "keys", "relative.keys"), UsageError);
}

TEST_CASE("user and group name who the collector runs as", "[collect_config]") {
  CollectConfig c;
  apply_collect_setting(c, "state", "/var/lib/x");
  apply_collect_setting(c, "rbldnsd_dir", "/var/lib/y");
  apply_collect_setting(c, "plain", "127.0.0.1:2525");
  CHECK(c.user.empty());
  apply_collect_setting(c, "group", "exigrey");
  CHECK_THROWS_WITH(check_collect_config(c), Catch::Contains("group needs user"));
  apply_collect_setting(c, "user", "exigrey-collect");
  check_collect_config(c);
  CHECK(c.user == "exigrey-collect");
  CHECK(c.group == "exigrey");
  CHECK_THROWS_AS(apply_collect_setting(c, "user", "bad name"), UsageError);
  CHECK_THROWS_AS(apply_collect_setting(c, "user", "-rf"), UsageError);
  CHECK_THROWS_AS(apply_collect_setting(c, "user", "a/b"), UsageError);
  apply_collect_setting(c, "user", "none");
  CHECK(c.user.empty());
  const CollectConfig f = parse_collect_config("user = nobody\ngroup = nogroup\n", "f");
  CHECK(f.user == "nobody");
  CHECK(f.group == "nogroup");
}

TEST_CASE("Every setting reads back what --check-config shows", "[collect_config]") {
  CollectConfig c = parse_collect_config(
      "plain = [::1]:2525\nsigned = 127.0.0.1:8054\nkeys = /k\ntls_cert = /c\ntls_key = /p\n"
      "state = /s\nrbldnsd_dir = /r\nallow = 10.0.0.0/8 ::1\nmin_reporters = 3\nttl = 2h\n"
      "decay = 0\nwhitelist = 192.0.2.0/24 good.org\nsource_rate = 0\ndns_ns = ns.example.org\n"
      "sync = none\nmap_size = 64M\nlog = syslog\nlog_level = debug\nuser = u\ngroup = g\n"
      "dns_primary = 127.0.0.1:5300\ndns_key = /etc/exigrey/dns.key\n"
      "dns_zones = black=bl.example.org rpz=rpz.example.org\ndns_zones = white_names=DWL.x.org\n"
      "dns_notify = 127.0.0.1:53 [::1]:5353\n",
      "f");
  const std::string text = describe_collect_config(c);
  const CollectConfig back = parse_collect_config(text, "check-config");
  CHECK(back == c);
  CHECK(describe_collect_config(CollectConfig{}).find("signed = none\n") != std::string::npos);
  CHECK(text.find("tls_key = /p\n") != std::string::npos);
  CHECK(text.find("keys = /k\n") != std::string::npos);
  for (std::string_view key : collect_setting_keys()) {
    CollectConfig d;
    apply_collect_setting(d, key, show_collect_setting(c, key));
    CHECK(show_collect_setting(d, key) == show_collect_setting(c, key));
  }
  CHECK_THROWS_AS(show_collect_setting(c, "nope"), UsageError);
}

TEST_CASE("The manual page documents every setting", "[collect_config]") {
  std::ifstream in(std::string(EXIGREY_SOURCE_DIR) + "/docs/exigrey-collect.8");
  REQUIRE(in);
  // The option lines: ".BI \-\-ttl " DURATION"", possibly two options on one.
  std::string options;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(".BI ")) options += line + "\n";
  }
  for (const CollectSetting& s : collect_settings()) {
    std::string flag = "\\-\\-";
    for (char ch : s.key) {
      if (ch == '_') {
        flag += "\\-";
      } else {
        flag += ch;
      }
    }
    INFO(flag);
    CHECK(options.find(flag + " ") != std::string::npos);
  }
}

TEST_CASE("answer and txt: parsed, appended, checked and shown as they read back",
          "[collect_config]") {
  using Catch::Contains;
  CHECK(show_collect_setting(CollectConfig{}, "answer").empty());
  CHECK(show_collect_setting(CollectConfig{}, "txt") == kDefaultTxt);
  const CollectConfig c = parse_collect_config(
      "answer = virus=127.0.0.4, trap=127.0.0.3\n"
      "answer = spam=127.0.0.2   # repeated: appends\n"
      "txt = {category}: $ see https://rbl.test/lookup?q=$#top  # a comment\n",
      "f");
  const std::vector<std::pair<std::string, std::string>> want = {
      {"virus", "127.0.0.4"}, {"trap", "127.0.0.3"}, {"spam", "127.0.0.2"}};
  CHECK(c.zone.answers == want);
  CHECK(c.zone.txt == "{category}: $ see https://rbl.test/lookup?q=$#top");
  CHECK(show_collect_setting(c, "answer") == "virus=127.0.0.4 trap=127.0.0.3 spam=127.0.0.2");
  CHECK(parse_collect_config(describe_collect_config(c), "check-config") == c);

  CollectConfig d = c;  // a flag replaces the file's list, then appends
  apply_collect_setting(d, "answer", "dictionary=127.0.0.5");
  apply_collect_setting(d, "answer", "trap=127.0.0.3", true);
  CHECK(show_collect_setting(d, "answer") == "dictionary=127.0.0.5 trap=127.0.0.3");
  CHECK_THROWS_WITH(apply_collect_setting(d, "answer", "virus=127.0.0.1"),
                    Contains("invalid answer \"virus=127.0.0.1\""));
  CHECK_THROWS_WITH(apply_collect_setting(d, "answer", "trap=127.0.0.9", true),
                    Contains("the category has an answer already"));
  std::string many;
  for (unsigned i = 0; i <= kMaxAnswers; ++i) {
    many += "c" + std::to_string(i) + "=127.0.0." + std::to_string(i + 2) + " ";
  }
  CHECK_THROWS_WITH(apply_collect_setting(d, "answer", many), Contains("at most 32 categories"));
  CHECK(show_collect_setting(d, "answer") == "dictionary=127.0.0.5 trap=127.0.0.3");
  CHECK_THROWS_WITH(parse_collect_config("txt = {nope}\n", "f"),
                    Contains("f:1: invalid txt \"{nope}\" (unknown placeholder"));
  // A flag is not comment-stripped: " #" would not read back from --check-config.
  CHECK_THROWS_WITH(apply_collect_setting(d, "txt", "see #x"), Contains("comment"));
  CHECK_THROWS_WITH(parse_collect_config("txt =\n", "f"), Contains("txt has no value"));
  CHECK_THROWS_WITH(parse_collect_config("txt = a\ntxt = b\n", "f"), Contains("set twice"));
}

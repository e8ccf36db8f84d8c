#include "collect_main.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "collector.h"
#include "common/log.h"
#include "dump.h"
#include "exigrey/collect_config.h"
#include "exigrey/error.h"
#include "settings.h"

namespace exigrey::collect {
namespace {

struct FlagHelp {
  std::string_view key;
  std::string_view help;
  bool list = false;
};

// One table for every setting flag; the same keys as the settings file.
constexpr FlagHelp kFlags[] = {
    {"plain", "accept plain report lines on ADDR:PORT (e.g. 127.0.0.1:2525)"},
    {"signed", "accept signed batches from exigrey-forward on ADDR:PORT"},
    {"keys", "reporters' secrets for signed batches, ID SECRET per line (reread on SIGHUP)"},
    {"tls_cert", "certificate chain (PEM): the signed listener speaks TLS"},
    {"tls_key", "private key (PEM) of tls_cert"},
    {"metrics", "serve Prometheus /metrics on ADDR:PORT"},
    {"state", "directory of the collector's LMDB store"},
    {"rbldnsd_dir", "directory where the rbldnsd data files are published"},
    {"allow", "networks allowed to send plain reports (default 127.0.0.0/8 ::1)", true},
    {"min_reporters", "distinct reporters needed before a subject is listed (default 2)"},
    {"ttl", "how long a vote counts after its last report (default 1d)"},
    {"decay", "half-life of a vote's weight, 0 for none (default 12h)"},
    {"whitelist", "networks and domains never black-listed", true},
    {"max_line", "longest report line in bytes (default 512)"},
    {"idle_timeout", "close connections without a line for this long (default 30s)"},
    {"max_connections", "open plain connections at most (default 512)"},
    {"source_rate", "reports per second per source, 0 for no limit (default 100)"},
    {"source_burst", "reports a source may send at once (default 1000)"},
    {"max_bad_lines", "bad lines before a connection is closed (default 100)"},
    {"dns_ttl", "TTL of the published records (default 5m)"},
    {"dns_ns", "name server named in $NS and $SOA (default localhost)"},
    {"dns_hostmaster", "SOA contact (default hostmaster.localhost)"},
    {"sync", "store sync mode: full, meta or none (default meta)"},
    {"map_size", "store map size (default 1G)"},
    {"log", "auto (default: stderr, or syslog when stderr is closed or /dev/null), stderr or syslog"},
    {"log_level", "error, warning, info or debug (default info)"},
    {"user", "after binding and reading keys as root, run as this user"},
    {"group", "with --user: run with this group (default: the user's primary group)"},
};

void print_error(std::string_view message) {
  if (message.starts_with("exigrey-collect: ")) message.remove_prefix(17);
  if (message.starts_with("exigrey: ")) message.remove_prefix(9);
  // On stderr, and in syslog too once that is the log (a daemon started with
  // stderr on /dev/null must not fail silently).
  daemon::log_startup_error("exigrey-collect", fmt::format("error: {}", message));
}

}  // namespace

int collect_main(int argc, char** argv) {
  CLI::App app{
      "exigrey-collect: aggregates black/white reports from Exim servers and publishes them "
      "as rbldnsd data files. See exigrey-collect(8)."};
  app.set_version_flag("--version", std::string("exigrey-collect ") + EXIGREY_VERSION);
  CommandLine cmd;
  bool dump = false, check = false;
  app.add_option("--config", cmd.config_file, "settings file (key = value lines)");
  app.add_flag("--dump", dump, "print the store's subjects and totals, then exit");
  app.add_flag("--check-config", check, "print the effective settings, then exit");
  std::map<std::string, std::string> scalar_values;
  std::map<std::string, std::vector<std::string>> list_values;
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const FlagHelp& f : kFlags) {
    const std::string key(f.key);
    CLI::Option* opt = nullptr;
    if (f.list) {
      opt = app.add_option(flag_of(key), list_values[key], std::string(f.help));
    } else {
      opt = app.add_option(flag_of(key), scalar_values[key], std::string(f.help));
    }
    options.emplace_back(key, opt);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (const auto& [key, opt] : options) {
      if (opt->count() == 0) continue;
      if (list_values.contains(key)) {
        cmd.lists[key] = list_values[key];
      } else {
        cmd.scalars[key] = scalar_values[key];
      }
    }
    CollectConfig cfg = load_settings(cmd);
    if (dump) return dump_state(cfg, stdout);
    check_collect_config(cfg);
    if (check) {
      std::fputs(describe(cfg).c_str(), stdout);
      return 0;
    }
    return run_collector(cmd, std::move(cfg));
  } catch (const Error& e) {
    print_error(e.what());
  } catch (const std::exception& e) {
    print_error(e.what());
  }
  return 1;
}

}  // namespace exigrey::collect

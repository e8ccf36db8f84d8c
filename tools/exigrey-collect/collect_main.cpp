// SPDX-License-Identifier: GPL-2.0-or-later
#include "collect_main.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin.h"
#include "collector.h"
#include "common/log.h"
#include "dump.h"
#include "exigrey/collect_config.h"
#include "exigrey/error.h"
#include "exigrey/exit_status.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"
#include "settings.h"

namespace exigrey::collect {
namespace {

void print_error(std::string_view message) {
  if (message.starts_with("exigrey-collect: ")) message.remove_prefix(17);
  if (message.starts_with("exigrey: ")) message.remove_prefix(9);
  // On stderr, and in syslog too once that is the log (a daemon started with
  // stderr on /dev/null must not fail silently).
  daemon::log_startup_error("exigrey-collect", message);
}

// The settings the collector last ran with, from its store; `cfg` when it
// has not stored any (an older collector, or none started yet).
// A process opens a store one way only: the way the command will (admin.h).
CollectConfig running_settings(const CollectConfig& cfg, bool write) {
  if (cfg.state_dir.empty()) return cfg;
  StoreOptions options = cfg.store;
  options.read_only = !write;
  std::optional<std::string> text;
  try {
    const ReputationStore store(ReputationStore::path_in(cfg.state_dir), options);
    text = store.settings_text();
  } catch (const StoreError&) {
    return cfg;  // no store yet: the command itself says what is wrong, if anything
  }
  if (!text) return cfg;
  return parse_collect_config(*text, "the settings stored by the running collector");
}

int run(int argc, char** argv) {
  CLI::App app{
      "exigrey-collect: aggregates black/white reports from Exim servers and publishes them "
      "as rbldnsd data files. See exigrey-collect(8)."};
  app.set_version_flag("--version", std::string("exigrey-collect ") + EXIGREY_VERSION);
  CommandLine cmd;
  bool dump = false, check = false;
  app.add_option("--config", cmd.config_file, "settings file (key = value lines)");
  app.add_flag("--dump", dump, "print the store's subjects and totals, then exit");
  app.add_flag("--check-config", check, "print the effective settings, then exit");
  AdminCommand admin;
  auto subject_command = [&](const char* name, const char* help) {
    CLI::App* sub = app.add_subcommand(name, help);
    sub->add_option("subject", admin.subject, "an IPv4 or IPv6 address or a domain name")
        ->required();
    sub->add_flag("--json", admin.json, "one JSON object");
    return sub;
  };
  subject_command("lookup", "why a subject is listed or not, with its evidence and history");
  CLI::App* ban = subject_command("ban", "list a subject by hand for a time");
  ban->add_option("--for", admin.duration, "how long (e.g. 7d)")->required();
  ban->add_option("--reason", admin.reason, "why (recorded in its history)")->required();
  CLI::App* unban = subject_command("unban", "lift a ban");
  unban->add_option("--reason", admin.reason, "why (recorded in its history)")->required();
  CLI::App* delist =
      subject_command("delist", "end a listing now; reports made before it stop counting");
  delist->add_option("--for", admin.duration, "also keep it unlisted this long (e.g. 30d)");
  delist->add_option("--reason", admin.reason, "why (recorded in its history)")->required();
  CLI::App* list = app.add_subcommand("list", "subjects in the store, or removal requests");
  list->add_flag("--listed", admin.listed, "only black-listed subjects");
  list->add_flag("--banned", admin.banned, "only subjects banned by the operator");
  list->add_flag("--delisted", admin.delisted, "only subjects delisted by the operator");
  list->add_option("--category", admin.category, "only subjects reported with this category");
  list->add_flag("--requests", admin.requests, "the removal requests instead");
  list->add_option("--limit", admin.limit, "at most this many lines");
  list->add_flag("--json", admin.json, "one JSON object per line");
  app.require_subcommand(0, 1);
  std::map<std::string, std::string> scalar_values;
  std::map<std::string, std::vector<std::string>> list_values;
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const CollectSetting& f : collect_settings()) {
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
    const int rc = app.exit(e);  // --help and --version are ParseErrors too
    return rc == 0 ? kExitOk : kExitUsage;
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
    if (!app.get_subcommands().empty()) {
      admin.name = app.get_subcommands().front()->get_name();
      // Without --config, judge with the running collector's settings (it
      // stores them), so that a lookup says what the collector publishes.
      if (cmd.config_file.empty()) {
        cfg = load_settings(cmd, running_settings(cfg, admin_writes(admin.name)));
      }
      check_policy(cfg.policy);
      return run_admin(cfg, admin, stdout);
    }
    check_collect_config(cfg);
    if (check) {
      std::fputs(describe_collect_config(cfg).c_str(), stdout);
      return kExitOk;
    }
    return run_collector(cmd, std::move(cfg));
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_status_of(e);
  }
}

}  // namespace

int collect_main(int argc, char** argv) {
  return run_program([&] { return run(argc, argv); }, print_error);
}

}  // namespace exigrey::collect

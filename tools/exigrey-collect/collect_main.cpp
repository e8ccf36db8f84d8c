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
      std::fputs(describe_collect_config(cfg).c_str(), stdout);
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

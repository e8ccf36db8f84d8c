// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey_main.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "commands.h"
#include "context.h"
#include "exigrey/duration.h"
#include "exigrey/error.h"

namespace exigrey::cli {
namespace {

void print_error(std::string_view message) {
  // Core messages already carry the program name.
  std::string line =
      message.starts_with("exigrey: ") ? std::string(message) : "exigrey: " + std::string(message);
  for (char& c : line) {
    if (c == '\n') c = ' ';  // one line, always
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

// The first word that is not an option or its value, where a command is
// expected but none has that name; with the command it follows, if any.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* current = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg == "--dir" || arg == "--db" || arg == "--config") {
      ++i;
      continue;
    }
    if (arg.starts_with("-")) continue;
    const auto subs = current->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;  // a command's own arguments
    const CLI::App* match = nullptr;
    for (const CLI::App* sub : subs) {
      if (sub->get_name() == arg) match = sub;
    }
    if (match == nullptr) {
      return current == &app ? fmt::format("unknown command {:?}", arg)
                             : fmt::format("unknown {} command {:?}", current->get_name(), arg);
    }
    current = match;
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  Context ctx;
  CLI::App app{"Greylisting for Exim on LMDB: inspect and maintain a greylist store.", "exigrey"};
  app.set_version_flag("--version", "exigrey " EXIGREY_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.footer(
      "Global options (--dir, --db, --config, --json, --epoch) may also follow a command.\n"
      "Exit status: 0 success, 1 not found, 2 usage error, 3 other failure.\n"
      "See exigrey(1) and 'exigrey COMMAND --help'.");
  GlobalOptions& o = ctx.options;
  app.add_option("--dir", o.dir, "directory of named stores (default: Exim's spool_directory/grey)")
      ->type_name("DIR");
  app.add_option("--db", o.db, "store name, ./path or /path (default: seen)")->type_name("DB");
  app.add_option("--config", o.config,
                 "settings file (default: $EXIGREY_CONFIG or /etc/exigrey/exigrey.conf)")
      ->type_name("FILE");
  app.add_flag("--json", o.json, "print one JSON object per line");
  app.add_flag("--epoch", o.epoch, "print times as Unix seconds");

  Commands commands;
  add_query_commands(app, commands);
  add_edit_commands(app, commands);
  add_purge_command(app, commands);
  add_info_commands(app, commands);
  add_report_command(app, commands);
  add_dump_commands(app, commands);
  add_verify_command(app, commands);
  add_durability_commands(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (const auto word = unknown_command(app, argc, argv)) {
      print_error(fmt::format("{} (see 'exigrey --help')", *word));
      return kExitUsage;
    }
    print_error(std::string(e.what()) + " (see 'exigrey --help')");
    return kExitUsage;
  }
  ctx.out.set_modes(o.json, o.epoch);
  for (const Command& c : commands) {
    if (c.app->parsed()) {
      const int status = c.run(ctx);
      ctx.out.flush();
      return status;
    }
  }
  print_error("no command given (see 'exigrey --help')");
  return kExitUsage;
}

}  // namespace

UnixTime parse_at(const std::optional<std::string>& at, UnixTime now) {
  if (!at) return now;
  // Digits (and a minus) only: std::stoll would also take " 5" and "+5".
  UnixTime t = 0;
  const char* end = at->data() + at->size();
  const auto [p, ec] = std::from_chars(at->data(), end, t);
  if (ec == std::errc() && p == end && !at->empty()) return t;
  throw UsageError(fmt::format("exigrey: --at {:?}: expected Unix seconds", *at));
}

std::int64_t parse_age(const std::string& text, std::string_view option) {
  const std::int64_t age = parse_duration(text, "age");
  if (age < 0) {
    throw UsageError(fmt::format("exigrey: {} {:?}: an age cannot be negative", option, text));
  }
  return age;
}

int exigrey_main(int argc, char** argv) noexcept {
  return run_program([&] { return run(argc, argv); }, print_error);
}

}  // namespace exigrey::cli

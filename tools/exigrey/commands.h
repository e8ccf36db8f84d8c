// SPDX-License-Identifier: GPL-2.0-or-later
// commands.h: the command groups of `exigrey`. Each add_* function adds its
// subcommands and their options to the CLI11 table and registers what to
// run when one of them was given; exigrey_main() runs the one that was.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "context.h"

namespace exigrey::cli {

struct Command {
  CLI::App* app;
  std::function<int(Context&)> run;  // returns the exit status
};
using Commands = std::vector<Command>;

// list, show, check (cmd_query.cpp)
void add_query_commands(CLI::App& app, Commands& commands);
// delete, whitelist add|del|list (cmd_edit.cpp)
void add_edit_commands(CLI::App& app, Commands& commands);
// purge (cmd_purge.cpp)
void add_purge_command(CLI::App& app, Commands& commands);
// stats, readers, outbox (cmd_info.cpp)
void add_info_commands(CLI::App& app, Commands& commands);
// dump, load (cmd_dump.cpp)
void add_dump_commands(CLI::App& app, Commands& commands);
// report (cmd_report.cpp)
void add_report_command(CLI::App& app, Commands& commands);
// verify (cmd_verify.cpp)
void add_verify_command(CLI::App& app, Commands& commands);
// flush, recover (cmd_durability.cpp)
void add_durability_commands(CLI::App& app, Commands& commands);

// `list`, shared with `whitelist list`.
struct ListArgs {
  std::string prefix;
  bool whitelist = false;
  std::optional<std::string> older_than;
  std::optional<std::string> newer_than;
  bool waiting = false;
  bool passed = false;
};
int run_list(Context& ctx, const ListArgs& args);

// Adds --older-than and --newer-than to a listing command.
void add_age_filters(CLI::App* command, const std::shared_ptr<ListArgs>& args);

// Shared option helpers.
// Parses an age ("30d", "1h30m", seconds) for `option`; throws UsageError.
std::int64_t parse_age(const std::string& text, std::string_view option);
// `--at TIME` (Unix seconds) of check and report: `now` when not given;
// throws UsageError.
UnixTime parse_at(const std::optional<std::string>& at, UnixTime now);

}  // namespace exigrey::cli

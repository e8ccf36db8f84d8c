// SPDX-License-Identifier: GPL-2.0-or-later
// delete, whitelist add|del|list: small changes by hand, each command one
// short write transaction.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "exigrey/error.h"

namespace exigrey::cli {
namespace {

struct DeleteArgs {
  std::vector<std::string> names;
  bool whitelist = false;
};

int run_delete(Context& ctx, const DeleteArgs& a) {
  const Store store = ctx.open_write(/*create=*/false, /*to_free=*/true);
  std::vector<const std::string*> missing;
  std::vector<const std::string*> deleted;
  {
    WriteTxn txn = store.write();
    for (const auto& n : a.names) {
      const bool gone = a.whitelist ? txn.erase_whitelist(n) : txn.erase_item(n);
      (gone ? deleted : missing).push_back(&n);
    }
    txn.commit();
  }
  const char* what = a.whitelist ? "whitelist entry" : "item";
  for (const auto* n : deleted) {
    if (ctx.out.json()) {
      ctx.out.json_line(JsonObject()
                            .add("deleted", a.whitelist ? "whitelist" : "item")
                            .add(a.whitelist ? "suffix" : "name", *n));
    } else {
      ctx.out.line(fmt::format("deleted {} {}", what, display_name(*n)));
    }
  }
  ctx.out.flush();
  for (const auto* n : missing) {
    std::fprintf(stderr, "exigrey: no %s %s in %s\n", what, json_string(*n).c_str(),
                 store.path().c_str());
  }
  return missing.empty() ? kExitOk : kExitNotFound;
}

struct WhitelistAddArgs {
  std::vector<std::string> suffixes;
};

int run_whitelist_add(Context& ctx, const WhitelistAddArgs& a) {
  for (const auto& s : a.suffixes) {
    if (s.empty()) throw UsageError("exigrey: a whitelist suffix cannot be empty");
  }
  const Store store = ctx.open_write(/*create=*/true);
  const UnixTime now = ctx.now();
  std::vector<std::pair<const std::string*, bool>> done;  // suffix, was already there
  {
    WriteTxn txn = store.write();
    for (const auto& s : a.suffixes) {
      const auto old = txn.whitelisted(s);
      txn.put_whitelist(s, WhitelistEntry{old ? old->created : now, now});
      done.emplace_back(&s, old.has_value());
    }
    txn.commit();
  }
  for (const auto& [s, refreshed] : done) {
    if (ctx.out.json()) {
      ctx.out.json_line(
          JsonObject().add(refreshed ? "refreshed" : "added", "whitelist").add("suffix", *s));
    } else {
      ctx.out.line(fmt::format("{} {}", refreshed ? "refreshed" : "whitelisted", display_name(*s)));
    }
  }
  return kExitOk;
}

}  // namespace

void add_edit_commands(CLI::App& app, Commands& commands) {
  {
    auto a = std::make_shared<DeleteArgs>();
    CLI::App* c = app.add_subcommand("delete", "Delete items (or whitelist entries) by name");
    c->add_option("names", a->names, "items exactly as `list` shows them (or suffixes)")
        ->required()
        ->type_name("NAME...");
    c->add_flag("-w,--whitelist", a->whitelist, "delete whitelist entries (NAME is a suffix)");
    commands.push_back({c, [a](Context& ctx) { return run_delete(ctx, *a); }});
  }
  CLI::App* wl = app.add_subcommand("whitelist", "Add, delete or list whitelist entries");
  wl->require_subcommand(1);
  {
    auto a = std::make_shared<WhitelistAddArgs>();
    CLI::App* c = wl->add_subcommand(
        "add", "Whitelist suffixes (e.g. client addresses); refreshes existing entries");
    c->add_option("suffixes", a->suffixes, "the suffixes, as the part after '/' in the key")
        ->required()
        ->type_name("SUFFIX...");
    commands.push_back({c, [a](Context& ctx) { return run_whitelist_add(ctx, *a); }});
  }
  {
    auto a = std::make_shared<DeleteArgs>();
    a->whitelist = true;
    CLI::App* c = wl->add_subcommand("del", "Delete whitelist entries");
    c->add_option("suffixes", a->names, "the suffixes")->required()->type_name("SUFFIX...");
    commands.push_back({c, [a](Context& ctx) { return run_delete(ctx, *a); }});
  }
  {
    auto a = std::make_shared<ListArgs>();
    a->whitelist = true;
    CLI::App* c = wl->add_subcommand("list", "List whitelist entries (as list --whitelist)");
    c->add_option("prefix", a->prefix, "only suffixes that start with PREFIX")->type_name("PREFIX");
    add_age_filters(c, a);
    commands.push_back({c, [a](Context& ctx) { return run_list(ctx, *a); }});
  }
}

}  // namespace exigrey::cli

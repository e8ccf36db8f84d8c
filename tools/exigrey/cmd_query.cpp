// SPDX-License-Identifier: GPL-2.0-or-later
// list, show, check: the read-only questions. They open the store read-only
// and read in short snapshots, so they never block Exim.
#include <fmt/format.h>

#include <memory>

#include "commands.h"
#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/key.h"
#include "exigrey/listing.h"

namespace exigrey::cli {
namespace {

JsonObject item_json(std::string_view name, const ItemRecord& r) {
  JsonObject j;
  j.add("type", "item")
      .add("name", name)
      .add("created", r.created)
      .add("used", r.used)
      .add("count", std::uint64_t{r.count})
      .add("first", r.first);
  return j;
}

JsonObject whitelist_json(std::string_view suffix, const WhitelistEntry& w) {
  JsonObject j;
  j.add("type", "whitelist")
      .add("suffix", suffix)
      .add("created", w.created)
      .add("last_used", w.last_used);
  return j;
}

}  // namespace

int run_list(Context& ctx, const ListArgs& a) {
  ListFilter filter;
  filter.prefix = a.prefix;
  const UnixTime now = ctx.now();
  if (a.older_than) filter.used_before = now - parse_age(*a.older_than, "--older-than");
  if (a.newer_than) filter.used_since = now - parse_age(*a.newer_than, "--newer-than");
  if (a.waiting) filter.state = ItemState::kWaiting;
  if (a.passed) filter.state = ItemState::kPassed;
  if (a.whitelist && (a.waiting || a.passed)) {
    throw UsageError("exigrey: --waiting and --passed apply to items, not to --whitelist");
  }
  const Store store = ctx.open_read();
  Output& out = ctx.out;
  if (a.whitelist) {
    Table table(out, {{"SUFFIX"}, {"CREATED"}, {"LAST USED"}});
    for_each_whitelisted(store, filter, [&](const WhitelistView& v) {
      if (out.json()) {
        out.json_line(whitelist_json(v.suffix, v.entry));
      } else {
        table.row({display_name(v.suffix), out.time(v.entry.created), out.time(v.entry.last_used)});
      }
      return true;
    });
    table.finish();
    return kExitOk;
  }
  Table table(out, {{"ITEM"}, {"CREATED"}, {"USED"}, {"COUNT", Table::Align::kRight}, {"FIRST"}});
  for_each_item(store, filter, [&](const ItemView& v) {
    if (out.json()) {
      out.json_line(item_json(v.name, v.record));
    } else {
      table.row({display_name(v.name), out.time(v.record.created), out.time(v.record.used),
                 fmt::format("{}", v.record.count),
                 v.record.first ? display_name(*v.record.first) : std::string()});
    }
    return true;
  });
  table.finish();
  return kExitOk;
}

namespace {

struct ShowArgs {
  std::string name;
  bool whitelist = false;
};

int run_show(Context& ctx, const ShowArgs& a) {
  const Store store = ctx.open_read();
  Output& out = ctx.out;
  const UnixTime now = ctx.now();
  auto ago = [&](UnixTime t) {
    if (out.epoch()) return out.time(t);
    return t <= now ? fmt::format("{} ({} ago)", out.time(t), format_age(now - t))
                    : fmt::format("{} (in {})", out.time(t), format_age(t - now));
  };
  ReadTxn txn = store.read();
  if (a.whitelist) {
    const auto w = txn.whitelisted(a.name);
    if (!w) {
      throw NotFound(
          fmt::format("exigrey: no whitelist entry {} in {}", json_string(a.name), store.path()));
    }
    if (out.json()) {
      out.json_line(whitelist_json(a.name, *w));
    } else {
      print_fields(out, {{"suffix", display_name(a.name)},
                         {"created", ago(w->created)},
                         {"last used", ago(w->last_used)}});
    }
    return kExitOk;
  }
  const auto r = txn.item(a.name);
  if (!r) {
    const KeyParts parts = split_key(a.name);
    if (parts.suffix && txn.item(parts.item)) {
      throw NotFound(
          fmt::format("exigrey: no item {} in {} (show takes the item without /SUFFIX: try {})",
                      json_string(a.name), store.path(), json_string(parts.item)));
    }
    throw NotFound(fmt::format("exigrey: no item {} in {}", json_string(a.name), store.path()));
  }
  if (out.json()) {
    out.json_line(item_json(a.name, *r));
  } else {
    print_fields(out, {{"item", display_name(a.name)},
                       {"created", ago(r->created)},
                       {"used", ago(r->used)},
                       {"count", fmt::format("{}", r->count)},
                       {"first", r->first ? display_name(*r->first) : std::string("-")},
                       {"state", r->count == 0 ? "waiting (never passed)" : "passed"}});
  }
  return kExitOk;
}

struct CheckArgs {
  std::string key;
  std::string delay = fmt::format("{}", kDefaultDelay);
  std::optional<std::string> at;
};

Decision would_decide(Context& ctx, std::string_view key, std::int64_t delay, UnixTime now) {
  if (ctx.store_exists()) return check(ctx.open_read(), key, delay, now);
  // No store yet: every key is new, as the plugin would find.
  Decision d{Verdict::kDefer, Reason::kNew, std::max<std::int64_t>(delay, 0)};
  return d;
}

int run_check(Context& ctx, const CheckArgs& a) {
  const std::int64_t delay = parse_duration(a.delay, "delay");
  const UnixTime now = parse_at(a.at, ctx.now());
  const Decision d = would_decide(ctx, a.key, delay, now);
  const KeyParts parts = split_key(a.key);
  Output& out = ctx.out;
  const char* unseen_answer = unseen(d) ? "yes" : "no";
  if (out.json()) {
    JsonObject j;
    j.add("key", a.key).add("item", parts.item);
    if (parts.suffix) {
      j.add("suffix", *parts.suffix);
    } else {
      j.add_null("suffix");
    }
    j.add("unseen", unseen_answer)
        .add("verdict", d.verdict == Verdict::kDefer ? "defer" : "pass")
        .add("reason", to_string(d.reason))
        .add("wait", d.wait)
        .add("delayed", d.delayed.value_or(0))
        .add("at", now);
    out.json_line(j);
    return kExitOk;
  }
  std::string why;
  switch (d.reason) {
    case Reason::kWhitelisted:
      why = fmt::format("the suffix {} is whitelisted", display_name(parts.suffix.value_or("")));
      break;
    case Reason::kNew:
      why = fmt::format("first sighting: it would be recorded; a retry passes after {}",
                        format_duration(d.wait));
      break;
    case Reason::kTooEarly:
      why = fmt::format("seen before; a retry passes in {}", format_duration(d.wait));
      break;
    case Reason::kPassed:
      why = d.delayed ? fmt::format("the delay is over: it passes, {} after its first sighting",
                                    format_duration(*d.delayed))
                      : fmt::format("it passed before: it passes again (pass {})", d.passes);
      break;
  }
  out.line(fmt::format("{} ({}: {})", unseen_answer, to_string(d.reason), why));
  return kExitOk;
}

}  // namespace

void add_age_filters(CLI::App* c, const std::shared_ptr<ListArgs>& a) {
  c->add_option_function<std::string>(
       "--older-than", [a](const std::string& v) { a->older_than = v; },
       "only entries last used more than AGE ago (e.g. 30d)")
      ->type_name("AGE");
  c->add_option_function<std::string>(
       "--newer-than", [a](const std::string& v) { a->newer_than = v; },
       "only entries last used at most AGE ago")
      ->type_name("AGE");
}

void add_query_commands(CLI::App& app, Commands& commands) {
  {
    auto a = std::make_shared<ListArgs>();
    CLI::App* c = app.add_subcommand(
        "list", "List items (or whitelist entries) with their times; filter by prefix and age");
    c->add_option("prefix", a->prefix, "only names that start with PREFIX")->type_name("PREFIX");
    c->add_flag("-w,--whitelist", a->whitelist, "list whitelist entries instead of items");
    add_age_filters(c, a);
    auto* waiting = c->add_flag("--waiting", a->waiting, "only items that never passed");
    auto* passed = c->add_flag("--passed", a->passed, "only items that passed");
    waiting->excludes(passed);
    commands.push_back({c, [a](Context& ctx) { return run_list(ctx, *a); }});
  }
  {
    auto a = std::make_shared<ShowArgs>();
    CLI::App* c = app.add_subcommand("show", "Show one item (or whitelist entry) in full");
    c->add_option("name", a->name, "the item, exactly as `list` shows it (no /SUFFIX)")
        ->required()
        ->type_name("ITEM");
    c->add_flag("-w,--whitelist", a->whitelist, "show the whitelist entry for a suffix");
    commands.push_back({c, [a](Context& ctx) { return run_show(ctx, *a); }});
  }
  {
    auto a = std::make_shared<CheckArgs>();
    CLI::App* c = app.add_subcommand(
        "check", "Print the verdict `unseen` would give for KEY now, changing nothing");
    c->add_option("key", a->key, "the key as the ACL passes it: ITEM[/SUFFIX]")
        ->required()
        ->type_name("KEY[/SUFFIX]");
    c->add_option("--delay", a->delay, "the delay, as in the ACL (default 600; units s m h d w)")
        ->type_name("D");
    c->add_option_function<std::string>(
         "--at", [a](const std::string& v) { a->at = v; },
         "decide as at this time (Unix seconds) instead of now")
        ->type_name("TIME");
    commands.push_back({c, [a](Context& ctx) { return run_check(ctx, *a); }});
  }
}

}  // namespace exigrey::cli

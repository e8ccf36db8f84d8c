// SPDX-License-Identifier: GPL-2.0-or-later
// purge: removes what has not been used for a while, in short batches so
// that Exim never waits on the writer lock for more than ~10 ms.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "exigrey/error.h"
#include "exigrey/purge.h"

namespace exigrey::cli {
namespace {

struct PurgeArgs {
  std::string older_than;
  bool dry_run = false;
  bool quiet = false;
};

// A progress line on stderr, for long runs on a terminal only.
class Progress {
 public:
  Progress() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(const PurgeProgress& p) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(250)) {
      return;
    }
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\rexigrey: purge: %llu scanned, %llu items and %llu whitelist entries",
                 static_cast<unsigned long long>(p.scanned),
                 static_cast<unsigned long long>(p.removed_items),
                 static_cast<unsigned long long>(p.removed_whitelist));
    std::fflush(stderr);
  }
  void clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

int run_purge(Context& ctx, const PurgeArgs& a) {
  const std::int64_t age = parse_age(a.older_than, "--older-than");
  PurgeOptions opts;
  opts.cutoff = ctx.now() - age;
  opts.dry_run = a.dry_run;
  const Store store =
      a.dry_run ? ctx.open_read() : ctx.open_write(/*create=*/false, /*to_free=*/true);
  Output& out = ctx.out;
  const char* verb = a.dry_run ? "would remove" : "removed";
  Progress progress;
  PurgeEvents events;
  if (!a.quiet) {
    events.on_item = [&](std::string_view name, const ItemRecord& r) {
      progress.clear();
      if (out.json()) {
        out.json_line(JsonObject()
                          .add(a.dry_run ? "would_remove" : "removed", "item")
                          .add("name", name)
                          .add("used", r.used)
                          .add("count", std::uint64_t{r.count}));
      } else {
        out.line(
            fmt::format("{} item {} (last used {})", verb, display_name(name), out.time(r.used)));
      }
    };
    events.on_whitelist = [&](std::string_view suffix, const WhitelistEntry& w) {
      progress.clear();
      if (out.json()) {
        out.json_line(JsonObject()
                          .add(a.dry_run ? "would_remove" : "removed", "whitelist")
                          .add("suffix", suffix)
                          .add("last_used", w.last_used));
      } else {
        out.line(fmt::format("{} whitelist entry {} (last used {})", verb, display_name(suffix),
                             out.time(w.last_used)));
      }
    };
  }
  events.on_progress = [&](const PurgeProgress& p) {
    if (!a.quiet) std::fflush(stdout);  // the lines so far, before the progress line
    progress.update(p);
  };
  const PurgeProgress result = purge(store, opts, events);
  progress.clear();
  if (out.json()) {
    out.json_line(JsonObject()
                      .add("summary", "purge")
                      .add("dry_run", a.dry_run)
                      .add("cutoff", opts.cutoff)
                      .add("scanned", result.scanned)
                      .add("items", result.removed_items)
                      .add("whitelist", result.removed_whitelist)
                      .add("batches", result.batches));
  } else {
    out.line(fmt::format("purge: {} {} and {} last used before {} ({} scanned, {})", verb,
                         plural(result.removed_items, "item", "items"),
                         plural(result.removed_whitelist, "whitelist entry", "whitelist entries"),
                         out.time(opts.cutoff), result.scanned,
                         plural(result.batches, "write batch", "write batches")));
  }
  return kExitOk;
}

}  // namespace

void add_purge_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<PurgeArgs>();
  CLI::App* c = app.add_subcommand(
      "purge",
      "Remove items and whitelist entries not used for AGE, in short batches (safe while "
      "Exim runs)");
  c->add_option("--older-than", a->older_than,
                "remove what was last used more than AGE ago (e.g. 30d, 12w)")
      ->required()
      ->type_name("AGE");
  c->add_flag("-n,--dry-run", a->dry_run, "only print what would be removed");
  c->add_flag("-q,--quiet", a->quiet, "print only the summary line");
  commands.push_back({c, [a](Context& ctx) { return run_purge(ctx, *a); }});
}

}  // namespace exigrey::cli

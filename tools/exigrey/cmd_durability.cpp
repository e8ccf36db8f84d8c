// SPDX-License-Identifier: GPL-2.0-or-later
// flush, recover: the keep file and the crash marker of sync = precious
// (durability.h). The package runs `flush --all` every 30 s, `recover --all`
// at boot before Exim starts and `flush --all --clean` at shutdown after
// Exim stopped; admins need neither for correctness.
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "commands.h"
#include "exigrey/durability.h"
#include "exigrey/error.h"
#include "exigrey/paths.h"

namespace exigrey::cli {
namespace {

struct FlushArgs {
  bool all = false;
  bool clean = false;
  bool quiet = false;
  std::string wait = "10s";
};

struct RecoverArgs {
  bool all = false;
  bool quiet = false;
};

// Runs `one` on the store the global options name, or with --all on every
// store in the directory; a failure of one store is reported and the others
// go on. Returns the worst exit status.
template <typename One>
int for_stores(Context& ctx, bool all, One one) {
  if (!all) return one(ctx, ctx.store_path());
  int worst = kExitOk;
  for (const std::string& path : stores_in(ctx.grey_dir())) {
    try {
      worst = std::max(worst, one(ctx, path));
    } catch (const Error& e) {
      ctx.out.error(e.what());
      worst = std::max(worst, e.kind() == ErrorKind::kUsage ? int{kExitUsage} : int{kExitFailure});
    }
  }
  return worst;
}

int flush_one(Context& ctx, const std::string& path, const FlushArgs& a,
              std::chrono::milliseconds wait) {
  const Store store = ctx.open_write_at(path);
  Output& out = ctx.out;
  const FlushResult f = flush(store);
  std::string what;
  if (!f.managed) {
    what =
        fmt::format("sync = {}: no keep file", to_string(store.options().sync));  // after "path: "
  } else if (f.rebuilt) {
    what = fmt::format("keep file made whole: {} records copied", f.copied);
  } else if (f.logged == 0) {
    what = "nothing to copy";
  } else {
    what = fmt::format("{} changes: {} records copied, {} removed", f.logged, f.copied, f.removed);
  }
  int status = kExitOk;
  std::string stop;
  if (a.clean) {
    switch (stop_clean(store, wait)) {
      case CleanStop::kMarked:
        stop = "marked clean";
        break;
      case CleanStop::kNotManaged:
        stop = "nothing to mark";
        break;
      case CleanStop::kBusy:
        stop = "still open in other processes: not marked clean";
        out.error(
            fmt::format("exigrey: store {} is still open in other processes after {} s: "
                        "not marked clean (the next boot restores it from its keep file)",
                        path, wait.count() / 1000));
        status = kExitFailure;
        break;
    }
  }
  if (a.quiet) return status;
  if (out.json()) {
    JsonObject j;
    j.add("store", path).add("managed", f.managed).add("changes", f.logged);
    j.add("copied", f.copied).add("removed", f.removed).add("rebuilt", f.rebuilt);
    if (a.clean) j.add("clean", stop == "marked clean");
    out.json_line(j);
  } else {
    out.line(fmt::format("{}: {}{}", path, what, stop.empty() ? "" : "; " + stop));
  }
  return status;
}

int recover_one(Context& ctx, const std::string& path, bool quiet) {
  const std::time_t start = std::time(nullptr);
  const Store store = ctx.open_write_at(path);  // opening recovers when the marker says so
  const DurabilityStatus d = durability(store);
  Output& out = ctx.out;
  const bool recovered = d.last_recovery && d.last_recovery->at >= start;
  std::string what;
  if (!d.managed) {
    what = fmt::format("{}: sync = {}: no crash marker", path, to_string(store.options().sync));
  } else if (recovered) {
    what = describe(*d.last_recovery, path);
  } else {
    what = fmt::format("{}: sound, open since {}", path, out.time(d.since));
  }
  if (out.json()) {
    out.json_line(
        JsonObject().add("store", path).add("managed", d.managed).add("recovered", recovered));
  } else if (!quiet || recovered) {
    out.line(what);  // a recovery is said even with -q: the journal should have it
  }
  return kExitOk;
}

}  // namespace

void add_durability_commands(CLI::App& app, Commands& commands) {
  {
    auto a = std::make_shared<FlushArgs>();
    CLI::App* c = app.add_subcommand(
        "flush", "Copy recent whitelist entries and passes into the keep file (sync = precious)");
    c->add_flag("--all", a->all, "every store in the directory");
    c->add_flag("--clean", a->clean,
                "then mark the store clean, once no other process has it open (at shutdown)");
    c->add_option("--wait", a->wait, "how long --clean waits for other processes (default 10s)")
        ->type_name("AGE");
    c->add_flag("-q,--quiet", a->quiet, "print nothing but errors (for timers)");
    commands.push_back({c, [a](Context& ctx) {
                          const auto wait =
                              std::chrono::milliseconds(1000 * parse_age(a->wait, "--wait"));
                          return for_stores(ctx, a->all, [&](Context& c2, const std::string& p) {
                            return flush_one(c2, p, *a, wait);
                          });
                        }});
  }
  {
    auto a = std::make_shared<RecoverArgs>();
    CLI::App* c = app.add_subcommand(
        "recover", "Check the crash marker now and restore the store if the machine crashed");
    c->add_flag("--all", a->all, "every store in the directory");
    c->add_flag("-q,--quiet", a->quiet, "print only what a recovery did, and errors");
    commands.push_back({c, [a](Context& ctx) {
                          return for_stores(ctx, a->all, [a](Context& c2, const std::string& p) {
                            return recover_one(c2, p, a->quiet);
                          });
                        }});
  }
}

}  // namespace exigrey::cli

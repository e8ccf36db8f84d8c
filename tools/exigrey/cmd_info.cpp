// SPDX-License-Identifier: GPL-2.0-or-later
// stats, readers, outbox: how the store and the report queue are doing.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <memory>

#include "commands.h"
#include "exigrey/durability.h"
#include "exigrey/listing.h"
#include "exigrey/outbox.h"

namespace exigrey::cli {
namespace {

// The crash marker and the keep file, as `stats` shows them.
std::string marker_text(const DurabilityStatus& d, const Output& out) {
  if (!d.managed) return fmt::format("{} (LMDB syncs every commit)", to_string(d.mode));
  return fmt::format("{}: {} since {}, boot {}", to_string(d.mode), d.clean ? "clean" : "open",
                     out.time(d.since), d.boot.substr(0, 8));
}

std::string keep_text(const DurabilityStatus& d, const Output& out, UnixTime now) {
  if (!d.keep_in_use) return "-";
  std::string text = fmt::format("{} records, last flush {}", d.keep_records,
                                 d.last_flush ? out.time(*d.last_flush) : std::string("never"));
  if (d.unflushed > 0) {
    text += fmt::format("; {} changes waiting, oldest {} old", d.unflushed,
                        format_age(now - d.oldest_unflushed.value_or(now)));
  }
  return text;
}

int run_stats(Context& ctx) {
  const Store store = ctx.open_read();
  const StoreSummary s = summarize(store);
  const StoreStats st = store.stats();
  const DurabilityStatus d = durability(store);
  Output& out = ctx.out;
  const double map_pct = st.map_size == 0 ? 0.0
                                          : 100.0 * static_cast<double>(st.map_used) /
                                                static_cast<double>(st.map_size);
  if (out.json()) {
    JsonObject j;
    j.add("store", store.path())
        .add("items", s.items)
        .add("waiting", s.waiting)
        .add("passed", s.passed)
        .add("whitelist", s.whitelist);
    auto range = [&](std::string_view lo, std::string_view hi, const std::optional<TimeRange>& r) {
      if (r) {
        j.add(lo, r->oldest).add(hi, r->newest);
      } else {
        j.add_null(lo).add_null(hi);
      }
    };
    range("oldest_created", "newest_created", s.item_created);
    range("oldest_used", "newest_used", s.item_used);
    range("whitelist_oldest_used", "whitelist_newest_used", s.whitelist_used);
    j.add("file_size", st.file_size)
        .add("map_size", st.map_size)
        .add("map_used", st.map_used)
        .add("page_size", std::uint64_t{st.page_size})
        .add("readers_used", std::uint64_t{st.readers_used})
        .add("max_readers", std::uint64_t{st.max_readers})
        .add("sync", to_string(d.mode));
    if (d.managed) {
      j.add("marker", d.clean ? "clean" : "open").add("boot", d.boot).add("since", d.since);
    } else {
      j.add_null("marker");
    }
    j.add("keep_records", d.keep_records).add("unflushed", d.unflushed);
    if (d.oldest_unflushed) {
      j.add("oldest_unflushed", *d.oldest_unflushed);
    } else {
      j.add_null("oldest_unflushed");
    }
    if (d.last_flush) {
      j.add("last_flush", *d.last_flush);
    } else {
      j.add_null("last_flush");
    }
    if (d.last_recovery) {
      j.add("last_recovery", describe(*d.last_recovery, store.path()));
    } else {
      j.add_null("last_recovery");
    }
    out.json_line(j);
    return kExitOk;
  }
  auto range = [&](const std::optional<TimeRange>& r) {
    return r ? fmt::format("{} .. {}", out.time(r->oldest), out.time(r->newest)) : std::string("-");
  };
  print_fields(
      out, {
               {"store", store.path()},
               {"items", fmt::format("{} (waiting {}, passed {})", s.items, s.waiting, s.passed)},
               {"whitelist entries", fmt::format("{}", s.whitelist)},
               {"items created", range(s.item_created)},
               {"items used", range(s.item_used)},
               {"whitelist used", range(s.whitelist_used)},
               {"file size", format_bytes(st.file_size)},
               {"map", fmt::format("{} used of {} ({:.1f}%)", format_bytes(st.map_used),
                                   format_bytes(st.map_size), map_pct)},
               {"reader slots", fmt::format("{} of {} in use", st.readers_used, st.max_readers)},
               {"sync", marker_text(d, out)},
               {"keep file", keep_text(d, out, ctx.now())},
               {"last recovery",
                d.last_recovery ? describe(*d.last_recovery, store.path()) : std::string("none")},
           });
  return kExitOk;
}

struct ReadersArgs {
  bool check = false;
};

const char* slot_state(const ReaderSlot& r) {
  if (r.pid == static_cast<std::int64_t>(::getpid())) return "this process";
  if (::kill(static_cast<pid_t>(r.pid), 0) == 0 || errno == EPERM) return "live";
  return "dead";
}

int run_readers(Context& ctx, const ReadersArgs& a) {
  // Opened without the usual clearing, so that stale slots can be shown.
  const Store store = ctx.open_read(/*clear_stale_readers=*/false);
  Output& out = ctx.out;
  if (a.check) {
    const int cleared = store.clear_stale_readers();
    if (out.json()) {
      out.json_line(JsonObject().add("cleared", cleared));
    } else {
      out.line(fmt::format("cleared {} stale reader slot{}", cleared, cleared == 1 ? "" : "s"));
    }
  }
  const std::vector<ReaderSlot> slots = store.readers();
  Table table(out, {{"PID", Table::Align::kRight}, {"THREAD"}, {"TXNID"}, {"STATE"}});
  for (const ReaderSlot& r : slots) {
    if (out.json()) {
      JsonObject j;
      j.add("pid", r.pid).add("thread", fmt::format("{:x}", r.thread));
      if (r.txnid) {
        j.add("txnid", *r.txnid);
      } else {
        j.add_null("txnid");
      }
      out.json_line(j.add("state", slot_state(r)));
    } else {
      table.row({fmt::format("{}", r.pid), fmt::format("{:x}", r.thread),
                 r.txnid ? fmt::format("{}", *r.txnid) : std::string("-"), slot_state(r)});
    }
  }
  table.finish();
  if (!out.json() && slots.empty()) out.line("no reader slots in use");
  return kExitOk;
}

int run_outbox(Context& ctx) {
  const std::string path = Outbox::path_in(ctx.grey_dir());
  Output& out = ctx.out;
  struct stat st {};
  OutboxStats s;
  const bool present = ::stat(path.c_str(), &st) == 0;
  if (present) {
    OutboxOptions opts;
    opts.read_only = true;
    s = Outbox(path, opts).stats();
    ctx.fix_owner(path + "-lock");
  }
  if (out.json()) {
    JsonObject j;
    j.add("outbox", path).add("exists", present).add("pending", s.pending);
    j.add("black", s.black).add("white", s.white);
    if (s.oldest) {
      j.add("oldest", *s.oldest);
    } else {
      j.add_null("oldest");
    }
    out.json_line(j.add("next_seq", s.next_seq).add("dropped", s.dropped));
    return kExitOk;
  }
  print_fields(out,
               {
                   {"outbox", present ? path : path + " (none yet: nothing reported)"},
                   {"pending", fmt::format("{} (black {}, white {})", s.pending, s.black, s.white)},
                   {"oldest", s.oldest ? out.time(*s.oldest) : std::string("-")},
                   {"next seq", fmt::format("{}", s.next_seq)},
                   {"dropped", fmt::format("{}", s.dropped)},
               });
  return kExitOk;
}

}  // namespace

void add_info_commands(CLI::App& app, Commands& commands) {
  {
    CLI::App* c = app.add_subcommand(
        "stats", "Counts, oldest and newest times, store size, map use and reader slots");
    commands.push_back({c, [](Context& ctx) { return run_stats(ctx); }});
  }
  {
    auto a = std::make_shared<ReadersArgs>();
    CLI::App* c = app.add_subcommand("readers", "List the store's reader slots");
    c->add_flag("--check", a->check, "first clear slots left by dead processes and say how many");
    commands.push_back({c, [a](Context& ctx) { return run_readers(ctx, *a); }});
  }
  {
    CLI::App* c = app.add_subcommand(
        "outbox", "Reports waiting for exigrey-forward: count, oldest, per verb");
    commands.push_back({c, [](Context& ctx) { return run_outbox(ctx); }});
  }
}

}  // namespace exigrey::cli

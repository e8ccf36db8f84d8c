// SPDX-License-Identifier: GPL-2.0-or-later
// report: what greylisting did over a window, from the store and, given
// --log, from Exim's main log (exigrey/activity.h does the counting).
// Read-only, in short snapshots: safe while Exim runs.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.h"
#include "exigrey/activity.h"
#include "exigrey/error.h"

namespace exigrey::cli {
namespace {

constexpr std::size_t kMaxTop = 1000;

struct ReportArgs {
  std::string since = "1d";
  std::string retry_window = "1h";
  std::string top = "10";
  std::vector<std::string> logs;
  std::string reject_text = "greylisted";
  bool progress = false;
  std::optional<std::string> at;
};

// "exigrey report: scanned N entries..." on stderr, rewritten in place at
// most once a second, and wiped before anything else is printed. Blanks
// rather than a terminal escape wipe it, so a redirected stderr stays text.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void show(const std::string& text) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (width_ > 0 && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    const std::string line = "exigrey report: " + text + "...";
    std::fprintf(stderr, "\r%s%*s", line.c_str(),
                 static_cast<int>(width_ > line.size() ? width_ - line.size() : 0), "");
    std::fflush(stderr);
    width_ = std::max(width_, line.size());
  }
  void clear() {
    if (width_ == 0) return;
    std::fprintf(stderr, "\r%*s\r", static_cast<int>(width_), "");
    std::fflush(stderr);
    width_ = 0;
  }

 private:
  bool enabled_;
  std::size_t width_ = 0;  // of the longest line shown; 0: nothing on screen
  std::chrono::steady_clock::time_point last_{};
};

std::size_t parse_top(const std::string& text) {
  std::size_t n = 0;
  std::size_t used = 0;
  try {
    n = std::stoul(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text.starts_with('-') || n > kMaxTop) {
    throw UsageError(
        fmt::format("exigrey: --top {:?}: expected a number from 0 to {}", text, kMaxTop));
  }
  return n;
}

// A log file, opened before the store is walked so that a typo fails at once.
struct LogInput {
  std::string name;
  std::unique_ptr<std::ifstream> file;  // null: standard input ("-")
};

LogInput open_log(const std::string& name) {
  if (name == "-") return {name, nullptr};
  struct stat st {};
  if (::stat(name.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw Error(ErrorKind::kStore, fmt::format("exigrey: cannot read log {}: it is a directory "
                                               "(give Exim's main log file)",
                                               name));
  }
  errno = 0;
  auto file = std::make_unique<std::ifstream>(name, std::ios::binary);
  if (!file->is_open()) {
    const int err = errno;
    throw Error(ErrorKind::kStore, fmt::format("exigrey: cannot open log {}: {}", name,
                                               err != 0 ? std::strerror(err) : "unreadable"));
  }
  return {name, std::move(file)};
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? std::string("-")
                    : fmt::format("{:.1f}%",
                                  100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string window_text(const GreyActivity& a, const Output& out) {
  const ActivityOptions& o = a.options;
  if (o.since == kSinceEver) return fmt::format("everything up to {}", out.time(o.now));
  return fmt::format("{} to {} ({})", out.time(o.since), out.time(o.now),
                     format_duration(o.now - o.since));
}

// ---- JSON ----------------------------------------------------------------

std::string json_top(const TopCounter& c, std::size_t n) {
  std::string s = "[";
  for (const TopCounter::Entry& e : c.top(n)) {
    if (s.size() > 1) s += ',';
    s += JsonObject().add("name", e.name).add("count", e.count).str();
  }
  return s + "]";
}

void print_json(Output& out, const GreyActivity& a, const std::string& store) {
  const ActivityOptions& o = a.options;
  JsonObject j;
  j.add("store", store).add("now", o.now);
  if (o.since == kSinceEver) {
    j.add_null("since");
  } else {
    j.add("since", o.since);
  }
  j.add("retry_window", o.retry_window)
      .add("items", a.items)
      .add("first_seen", a.first_seen)
      .add("first_passes", a.first_passes)
      .add("passed_again", a.passed_again)
      .add("waiting", a.waiting)
      .add("never_retried", a.never_retried)
      .add("whitelist", a.whitelist)
      .add("whitelist_new", a.whitelist_new)
      .add("whitelist_used", a.whitelist_used);
  const DelayStats& d = a.delays();
  j.add("delays_source", a.delays_from_log() ? "log" : "store")
      .add("delays", d.count())
      .add("delays_left_out", a.delays_from_log() ? std::uint64_t{0} : a.delays_left_out);
  const auto stat = [&](std::string_view key, std::optional<std::int64_t> v) {
    if (v) {
      j.add(key, *v);
    } else {
      j.add_null(key);
    }
  };
  stat("delay_median", d.percentile(50));
  stat("delay_p90", d.percentile(90));
  stat("delay_max", d.count() > 0 ? std::optional<std::int64_t>(d.max()) : std::nullopt);
  std::string hist = "[";
  for (std::size_t i = 0; i < kDelayBuckets; ++i) {
    const DelayBucket& b = kDelayBucketTable[i];
    JsonObject e;
    e.add("label", b.label).add("from", b.from);
    if (b.to) {
      e.add("to", *b.to);
    } else {
      e.add_null("to");
    }
    if (i > 0) hist += ',';
    hist += e.add("count", d.buckets()[i]).str();
  }
  j.add_raw("histogram", hist + "]");
  j.add_raw("top_never_retried_networks", json_top(a.never_retried_networks, o.top))
      .add("top_never_retried_networks_other", a.never_retried_networks.other())
      .add_raw("top_sender_domains", json_top(a.sender_domains, o.top))
      .add("top_sender_domains_other", a.sender_domains.other());
  const DecisionCounts& c = a.decisions;
  j.add("log_files", a.log_files)
      .add("log_lines", a.log_lines)
      .add("log_lines_used", a.log_lines_used)
      .add("log_lines_outside", a.log_lines_outside)
      .add("log_lines_skipped", a.log_lines_skipped)
      .add_raw("decisions", JsonObject()
                                .add("greylisted_new", c.greylisted_new)
                                .add("greylisted_too_early", c.greylisted_too_early)
                                .add("passed_after_delay", c.passed_after_delay)
                                .add("passed_known", c.passed_known)
                                .add("passed_whitelisted", c.passed_whitelisted)
                                .str())
      .add("log_rejects", a.log_rejects)
      .add_raw("top_log_networks", json_top(a.log_networks, o.top))
      .add("top_log_networks_other", a.log_networks.other())
      .add_raw("top_log_sender_domains", json_top(a.log_sender_domains, o.top))
      .add("top_log_sender_domains_other", a.log_sender_domains.other());
  out.json_line(j);
}

// ---- text ----------------------------------------------------------------

// Count lines of all sections share one label and one number width.
struct CountLine {
  std::string label;  // empty: a section heading in `note`
  std::uint64_t value = 0;
  std::string note;
};

void print_counts(Output& out, const std::vector<CountLine>& lines) {
  std::size_t label_w = 0;
  std::size_t value_w = 0;
  for (const CountLine& l : lines) {
    if (l.label.empty()) continue;
    label_w = std::max(label_w, l.label.size());
    value_w = std::max(value_w, fmt::formatted_size("{}", l.value));
  }
  for (const CountLine& l : lines) {
    if (l.label.empty()) {
      out.line("");
      out.line(l.note);
      continue;
    }
    std::string text = fmt::format("  {:<{}}  {:>{}}", l.label, label_w, l.value, value_w);
    if (!l.note.empty()) text += "  " + l.note;
    out.line(text);
  }
}

void print_histogram(Output& out, const GreyActivity& a) {
  const DelayStats& d = a.delays();
  std::string heading = a.delays_from_log()
                            ? fmt::format("Delays until the first pass (from the log: {})",
                                          plural(d.count(), "pass", "passes"))
                            : fmt::format("Delays of first passes (from the store: {}",
                                          plural(d.count(), "item", "items"));
  if (!a.delays_from_log()) {
    if (a.delays_left_out > 0) {
      heading += fmt::format("; {} first seen in the window passed again and {} left out",
                             a.delays_left_out, a.delays_left_out == 1 ? "is" : "are");
    }
    heading += ')';
  }
  out.line("");
  out.line(heading);
  if (d.count() == 0) {
    out.line("  no first passes in the window");
    return;
  }
  constexpr std::size_t kBar = 40;
  std::uint64_t largest = 0;
  for (const std::uint64_t n : d.buckets()) largest = std::max(largest, n);
  const std::size_t count_w = fmt::formatted_size("{}", largest);
  for (std::size_t i = 0; i < kDelayBuckets; ++i) {
    const std::uint64_t n = d.buckets()[i];
    std::size_t bar =
        static_cast<std::size_t>((n * kBar + largest / 2) / std::max<std::uint64_t>(largest, 1));
    if (n > 0 && bar == 0) bar = 1;
    std::string text = fmt::format("  {:<6}  {:>{}}  {:>6}", kDelayBucketTable[i].label, n, count_w,
                                   percent(n, d.count()));
    if (bar > 0) text += "  " + std::string(bar, '#');
    out.line(text);
  }
  out.line(fmt::format("  median {}, p90 {}, max {}", format_duration(*d.percentile(50)),
                       format_duration(*d.percentile(90)), format_duration(d.max())));
}

void print_top(Output& out, std::string_view heading, const TopCounter& c, std::size_t n,
               std::string_view none) {
  out.line("");
  out.line(heading);
  const std::vector<TopCounter::Entry> top = c.top(n);
  if (top.empty()) {
    out.line(fmt::format("  {}", none));
    return;
  }
  std::size_t w = fmt::formatted_size("{}", top.front().count);
  if (c.other() > 0) w = std::max(w, fmt::formatted_size("{}", c.other()));
  for (const TopCounter::Entry& e : top) {
    out.line(fmt::format("  {:>{}}  {}", e.count, w, display_name(e.name)));
  }
  if (c.other() > 0) {
    out.line(fmt::format("  {:>{}}  others (beyond the {} distinct names kept)", c.other(), w,
                         c.distinct()));
  }
}

void print_text(Output& out, const GreyActivity& a, const std::string& store) {
  const ActivityOptions& o = a.options;
  print_fields(out, {{"window", window_text(a, out)}, {"store", store}});
  std::vector<CountLine> lines;
  if (a.log_files > 0) {
    const DecisionCounts& c = a.decisions;
    lines.push_back({"", 0,
                     fmt::format("Decisions (log: {}, {} read, {} in the window{}{})",
                                 plural(a.log_files, "file", "files"),
                                 plural(a.log_lines, "line", "lines"), a.log_lines_used,
                                 a.log_lines_skipped > 0
                                     ? fmt::format(", {} not understood", a.log_lines_skipped)
                                     : std::string(),
                                 c.total() == 0 ? "; no exigrey lines: set log = decisions in "
                                                  "exigrey.conf"
                                                : "")});
    lines.push_back({"greylisted, new", c.greylisted_new, ""});
    lines.push_back({"greylisted, too early", c.greylisted_too_early, ""});
    lines.push_back({"passed after the delay", c.passed_after_delay, ""});
    lines.push_back({"passed, known item", c.passed_known, ""});
    lines.push_back({"passed, whitelisted", c.passed_whitelisted, ""});
    lines.push_back({"rejected by Exim", a.log_rejects,
                     fmt::format("\"temporarily rejected\" lines saying {:?}", o.reject_text)});
  }
  const std::string retry = format_duration(o.retry_window);
  lines.push_back({"", 0, fmt::format("Items (of {} in the store)", a.items)});
  lines.push_back({"first seen", a.first_seen, "new items: greylisted"});
  lines.push_back({"first passes", a.first_passes, "passed once, after their delay"});
  lines.push_back({"passed again", a.passed_again, "known items passing once more"});
  lines.push_back({"waiting", a.waiting,
                   fmt::format("first seen in the window, not passed, under {} ago", retry)});
  lines.push_back({"never retried", a.never_retried,
                   fmt::format("first seen in the window, not passed, over {} ago", retry)});
  lines.push_back(
      {"", 0,
       fmt::format("Whitelist (of {} in the store)", plural(a.whitelist, "entry", "entries"))});
  lines.push_back({"new", a.whitelist_new, "whitelisted in the window"});
  lines.push_back({"in use", a.whitelist_used, "used in the window"});
  print_counts(out, lines);
  print_histogram(out, a);
  if (o.top == 0) return;
  print_top(out, "Top client networks that never retried (store, by first suffix)",
            a.never_retried_networks, o.top, "none");
  print_top(out, "Top sender domains of items first seen (store)", a.sender_domains, o.top,
            "none (no item names an address: hashed keys need --log)");
  if (a.log_files > 0) {
    print_top(out, "Top client networks greylisted (log)", a.log_networks, o.top, "none");
    print_top(out, "Top sender domains greylisted (log)", a.log_sender_domains, o.top, "none");
  }
}

int run_report(Context& ctx, const ReportArgs& args) {
  ActivityOptions o;
  o.now = parse_at(args.at, ctx.now());
  const std::int64_t since = parse_age(args.since, "--since");
  // Saturating: --at and --since may both be extreme.
  o.since = since == 0 || o.now < kSinceEver + since ? kSinceEver : o.now - since;
  o.retry_window = parse_age(args.retry_window, "--retry-window");
  o.top = parse_top(args.top);
  o.reject_text = args.reject_text;
  std::vector<LogInput> logs;
  for (const std::string& name : args.logs) logs.push_back(open_log(name));

  const Store store = ctx.open_read();
  GreyActivity activity(o);
  Progress progress(args.progress || ::isatty(STDERR_FILENO) == 1);
  scan_store(activity, store,
             [&](std::uint64_t n) { progress.show(fmt::format("scanned {} entries", n)); });
  for (LogInput& log : logs) {
    std::istream& in = log.file ? *log.file : std::cin;
    const std::string shown = log.file ? log.name : "standard input";
    read_log(activity, in, shown,
             [&](std::uint64_t n) { progress.show(fmt::format("read {} lines of {}", n, shown)); });
  }
  progress.clear();
  if (ctx.out.json()) {
    print_json(ctx.out, activity, store.path());
  } else {
    print_text(ctx.out, activity, store.path());
  }
  return kExitOk;
}

}  // namespace

void add_report_command(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* c = app.add_subcommand(
      "report", "What greylisting delayed, for how long, and who never retried (store and log)");
  c->add_option("--since", a->since, "the window: the last AGE (default 1d; 0: everything)")
      ->type_name("AGE");
  c->add_option("--retry-window", a->retry_window,
                "never-passed items older than AGE count as never retried (default 1h)")
      ->type_name("AGE");
  c->add_option("--top", a->top, "entries per top list (default 10, at most 1000; 0: none)")
      ->type_name("N");
  c->add_option("--log", a->logs, "also read this Exim main log (plain text; - for stdin)")
      ->type_name("FILE");
  c->add_option("--reject-text", a->reject_text,
                "Exim's \"temporarily rejected\" lines containing TEXT are greylisting's "
                "(default: greylisted)")
      ->type_name("TEXT");
  c->add_flag("--progress", a->progress,
              "show progress on stderr (default: when it is a terminal)");
  c->add_option_function<std::string>(
       "--at", [a](const std::string& v) { a->at = v; },
       "report as at this time (Unix seconds) instead of now")
      ->type_name("TIME");
  commands.push_back({c, [a](Context& ctx) { return run_report(ctx, *a); }});
}

}  // namespace exigrey::cli

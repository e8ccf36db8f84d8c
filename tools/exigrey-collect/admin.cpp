// SPDX-License-Identifier: GPL-2.0-or-later
#include "admin.h"

#include <fmt/format.h>

#include <algorithm>

#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/exit_status.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation_lookup.h"
#include "web_page.h"

namespace exigrey::collect {
namespace {

std::string quoted(std::string_view s) { return fmt::format("\"{}\"", json_escape(s)); }

std::string time_or_none(UnixTime t) { return t == 0 ? "none" : format_utc(t); }
std::string json_time(UnixTime t) { return t == 0 ? "null" : quoted(format_utc(t)); }

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& i : items) {
    if (out.size() > 1) out += ',';
    out += quoted(i);
  }
  return out + "]";
}

Subject subject_arg(std::string_view text) {
  try {
    return parse_subject(text);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("exigrey-collect: {}", e.what()));
  }
}

std::int64_t duration_arg(std::string_view text) {
  try {
    return parse_duration(text, "--for");
  } catch (const UsageError&) {
    throw UsageError(fmt::format(
        "exigrey-collect: invalid --for {:?} (use seconds or units such as 30m, 12h, 7d)",
        text.substr(0, 80)));
  }
}

ReputationStore open_store(const CollectConfig& cfg, bool write) {
  if (cfg.state_dir.empty()) {
    throw UsageError("exigrey-collect: no state directory (set state or --state DIR)");
  }
  StoreOptions options = cfg.store;
  options.read_only = !write;
  return ReputationStore(ReputationStore::path_in(cfg.state_dir), options);
}

std::string lookup_json(const LookupResult& r) {
  const SubjectRecord empty;
  const SubjectRecord& rec = r.record ? *r.record : empty;
  std::string votes = "[";
  for (const Vote& v : rec.votes) {
    if (votes.size() > 1) votes += ',';
    votes += fmt::format("{{\"reporter\":{},\"last_black\":{},\"last_white\":{}}}",
                         quoted(v.reporter), json_time(v.last_black), json_time(v.last_white));
  }
  votes += ']';
  std::string cats = "[";
  for (const CategoryCount& c : rec.categories) {
    if (cats.size() > 1) cats += ',';
    cats += fmt::format("{{\"name\":{},\"reports\":{},\"last\":{}}}", quoted(c.name), c.reports,
                        json_time(c.last));
  }
  cats += ']';
  std::string history = "[";
  for (const HistoryEvent& e : rec.history) {
    if (history.size() > 1) history += ',';
    history += fmt::format("{{\"time\":{},\"event\":{},\"text\":{}}}", json_time(e.time),
                           quoted(to_string(e.kind)), quoted(e.text));
  }
  history += ']';
  std::string request = "null";
  if (r.request) {
    request = fmt::format("{{\"time\":{},\"client\":{},\"contact\":{},\"message\":{}}}",
                          json_time(r.request->time), quoted(r.request->client),
                          quoted(r.request->contact), quoted(r.request->message));
  }
  const Assessment& a = r.assessment;
  return fmt::format(
      "{{\"query\":{},\"subject\":{},\"known\":{},\"listed\":{},\"rule\":{},\"explanation\":{},"
      "\"network\":{},\"black_votes\":{},\"white_votes\":{},\"black_score\":{:.3f},"
      "\"black_weight\":{:.3f},\"white_weight\":{:.3f},\"black_reports\":{},"
      "\"white_reports\":{},\"first_report\":{},\"last_report\":{},\"listed_since\":{},"
      "\"hold_until\":{},\"offenses\":{},\"ban_until\":{},\"ban_reason\":{},"
      "\"delisted_at\":{},\"exempt_until\":{},\"delist_reason\":{},\"last_note\":{},"
      "\"categories\":{},\"votes\":{},\"history\":{},\"request\":{}}}",
      quoted(r.query.text), quoted(r.subject.text), r.record.has_value(), r.listed(),
      quoted(to_string(r.network && !a.black_listed ? Rule::kEscalated : a.rule)),
      quoted(r.explanation), r.network ? quoted(r.network->text) : "null", a.black_votes,
      a.white_votes, a.black_score, a.black_weight, a.white_weight, rec.black_reports,
      rec.white_reports, json_time(rec.first_seen), json_time(rec.last_seen),
      json_time(rec.listed_since), json_time(rec.hold_until), rec.offenses,
      json_time(rec.ban_until), quoted(rec.ban_reason), json_time(rec.delisted_at),
      json_time(rec.exempt_until), quoted(rec.delist_reason), quoted(rec.last_note), cats, votes,
      history, request);
}

void print_lookup(const LookupResult& r, std::FILE* out) {
  const SubjectRecord empty;
  const SubjectRecord& rec = r.record ? *r.record : empty;
  const Assessment& a = r.assessment;
  auto row = [&](std::string_view name, const std::string& value) {
    fmt::print(out, "{:<13} {}\n", name, value);
  };
  row("subject", r.subject == r.query ? r.subject.text
                                      : fmt::format("{} (for {})", r.subject.text, r.query.text));
  row("status", r.listed() ? "listed" : "not listed");
  row("why", r.explanation);
  if (!r.record) {
    row("evidence", "none: never reported");
  } else {
    row("reports",
        fmt::format("black {}, white {}; first {}, last {}", rec.black_reports, rec.white_reports,
                    time_or_none(rec.first_seen), time_or_none(rec.last_seen)));
    row("votes",
        fmt::format("{} black (score {:.2f}, weight {:.2f}), {} white (weight {:.2f})",
                    a.black_votes, a.black_score, a.black_weight, a.white_votes, a.white_weight));
    for (const Vote& v : rec.votes) {
      row("", fmt::format("{}: black {}, white {}", v.reporter, time_or_none(v.last_black),
                          time_or_none(v.last_white)));
    }
    std::string cats;
    for (const CategoryCount& c : rec.categories) {
      if (!cats.empty()) cats += ", ";
      cats += fmt::format("{} ({})", c.name, c.reports);
    }
    row("categories", cats.empty() ? "none" : cats);
    if (!rec.last_note.empty()) row("last note", rec.last_note);
    row("listed since", time_or_none(rec.listed_since));
    if (rec.hold_until != 0) {
      row("hold",
          fmt::format("until {} (listing {} in a row)", format_utc(rec.hold_until), rec.offenses));
    }
    if (rec.ban_until != 0) {
      row("ban", fmt::format("until {}: {}", format_utc(rec.ban_until), rec.ban_reason));
    }
    if (rec.delisted_at != 0) {
      row("delisted", fmt::format("{}{}: {}", format_utc(rec.delisted_at),
                                  rec.exempt_until != 0 ? fmt::format(", exempt until {}",
                                                                      format_utc(rec.exempt_until))
                                                        : std::string(),
                                  rec.delist_reason));
    }
    bool first = true;
    for (const HistoryEvent& e : rec.history) {
      row(first ? "history" : "",
          fmt::format("{} {}: {}", format_utc(e.time), to_string(e.kind), e.text));
      first = false;
    }
  }
  if (r.network)
    row("network", fmt::format("{} listed since {}", r.network->text, format_utc(r.network_since)));
  if (r.request) {
    row("request", fmt::format("{} from {} ({}): {}", format_utc(r.request->time),
                               r.request->client, r.request->contact, r.request->message));
  }
}

int run_list(const CollectConfig& cfg, const AdminCommand& cmd, const ReputationStore& store,
             UnixTime now, std::FILE* out) {
  if (cmd.requests) {
    std::size_t n = 0;
    for (const RemovalRequest& r : store.requests()) {
      if (cmd.limit != 0 && n >= cmd.limit) break;
      ++n;
      if (cmd.json) {
        fmt::print(out,
                   "{{\"subject\":{},\"time\":{},\"client\":{},\"contact\":{},\"message\":{}}}\n",
                   quoted(r.subject.text), json_time(r.time), quoted(r.client), quoted(r.contact),
                   quoted(r.message));
      } else {
        fmt::print(out, "{} {} from {} ({}): {}\n", format_utc(r.time), r.subject.text, r.client,
                   r.contact, r.message);
      }
    }
    return 0;
  }
  const ReporterAges ages = cfg.policy.probation > 0 ? store.reporters() : ReporterAges{};
  std::size_t n = 0;
  store.for_each([&](const Subject& s, const SubjectRecord& r) {
    const Assessment a = assess(s, r, cfg.policy, now, ages);
    if (cmd.listed && !a.black_listed) return true;
    if (cmd.banned && r.ban_until <= now) return true;
    if (cmd.delisted && r.delisted_at == 0) return true;
    const std::vector<std::string> cats = categories_of(r);
    if (!cmd.category.empty() && std::find(cats.begin(), cats.end(), cmd.category) == cats.end()) {
      return true;
    }
    ++n;
    if (cmd.json) {
      fmt::print(
          out,
          "{{\"subject\":{},\"listed\":{},\"rule\":{},\"black_votes\":{},"
          "\"black_reports\":{},\"last_report\":{},\"listed_since\":{},\"categories\":{}}}\n",
          quoted(s.text), a.black_listed, quoted(to_string(a.rule)), a.black_votes, r.black_reports,
          json_time(r.last_seen), json_time(r.listed_since), json_list(cats));
    } else {
      std::string c;
      for (const std::string& x : cats) c += (c.empty() ? "" : ",") + x;
      fmt::print(out, "{:<40} {:<10} {:<11} votes={} reports={} last={} categories={}\n", s.text,
                 a.black_listed ? "listed" : "-", to_string(a.rule), a.black_votes, r.black_reports,
                 time_or_none(r.last_seen), c.empty() ? "none" : c);
    }
    return cmd.limit == 0 || n < cmd.limit;
  });
  return 0;
}

}  // namespace

bool admin_writes(std::string_view name) noexcept { return name != "lookup" && name != "list"; }

int run_admin(const CollectConfig& cfg, const AdminCommand& cmd, std::FILE* out) {
  const UnixTime now = SystemClock::instance().now();
  if (cmd.name == "lookup") {
    const ReputationStore store = open_store(cfg, false);
    const LookupResult r = lookup(store, cfg.policy, subject_arg(cmd.subject), now);
    if (cmd.json) {
      fmt::print(out, "{}\n", lookup_json(r));
    } else {
      print_lookup(r, out);
    }
    return 0;
  }
  if (cmd.name == "list") return run_list(cfg, cmd, open_store(cfg, false), now, out);
  ReputationStore store = open_store(cfg, true);
  const Subject subject = subject_arg(cmd.subject);
  std::string done;
  if (cmd.name == "ban") {
    if (cmd.duration.empty()) throw UsageError("exigrey-collect: ban needs --for AGE");
    ban(store, cfg.policy, subject, duration_arg(cmd.duration), cmd.reason, now);
    done = "banned";
  } else if (cmd.name == "unban") {
    if (!unban(store, cfg.policy, subject, cmd.reason, now)) {
      throw NotFound(fmt::format("exigrey-collect: {} is not banned", subject.text));
    }
    done = "unbanned";
  } else if (cmd.name == "delist") {
    delist(store, cfg.policy, subject, cmd.duration.empty() ? 0 : duration_arg(cmd.duration),
           cmd.reason, now);
    done = "delisted";
  } else {
    throw UsageError(fmt::format("exigrey-collect: unknown command {:?}", cmd.name));
  }
  const LookupResult r = lookup(store, cfg.policy, subject, now);
  if (cmd.json) {
    fmt::print(out, "{}\n", lookup_json(r));
  } else {
    fmt::print(out, "{} {}: {}\n", done, r.subject.text, r.explanation);
  }
  return 0;
}

}  // namespace exigrey::collect

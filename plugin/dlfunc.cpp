// SPDX-License-Identifier: GPL-2.0-or-later
#include "dlfunc.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <utility>
#include <vector>

#include "exigrey/config.h"
#include "exigrey/durability.h"
#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/greylist.h"
#include "exigrey/outbox.h"
#include "exigrey/paths.h"
#include "exigrey/report.h"
#include "exigrey/store.h"

namespace exigrey::plugin {
namespace {

constexpr std::string_view kUsage = "{KEY[/SUFFIX]}{DELAY}{DB}";
constexpr mode_t kGreyDirMode = 0750;
constexpr auto kConfigRecheck = std::chrono::seconds(1);

// What identifies one version of the settings file; a change of any field
// makes the plugin read the file again.
struct FileId {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

FileId file_id(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileId{};
  return FileId{true,
                st.st_dev,
                st.st_ino,
                st.st_size,
                st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

[[noreturn]] void store_failure(const std::string& message, int err = 0) {
  throw StoreError(ErrorKind::kStore, message, err);
}

// Exim forks a process per connection and calls us from one thread, so the
// lock is never contended there; it keeps test harnesses with threads honest.
// The state is leaked on purpose: no destructor may run at exit (a Store
// handle must not outlive core's environment registry).
class ProcessState {
 public:
  static ProcessState& get() {
    static auto* state = new ProcessState;
    return *state;
  }

  std::mutex mu;

  // The parsed settings file. A different path is read at once; the file
  // itself is checked for changes at most once per kConfigRecheck, because
  // the stat() would otherwise be most of the cost of a decision.
  const Config& settings(Host& host) {
    std::string path = config_path();
    const auto now = std::chrono::steady_clock::now();
    if (config_loaded_ && path == config_path_ && now - config_checked_ < kConfigRecheck) {
      return config_;
    }
    const FileId id = file_id(path);
    config_checked_ = now;
    if (config_loaded_ && path == config_path_ && id == config_id_) return config_;
    config_loaded_ = false;
    // The directory or the sync mode may change: resolve the DB path again.
    last_store_ = nullptr;
    config_ = load_config(path);  // UsageError names the file and line
    config_path_ = std::move(path);
    config_id_ = id;
    config_loaded_ = true;
    if (host.debugging()) {
      host.debug(fmt::format(
          "exigrey: settings from {}{}: directory={} sync={} map_size={} fail_open={} log={}",
          config_path_, id.exists ? "" : " (absent: defaults)",
          config_.directory.empty() ? "$spool_directory/grey" : config_.directory,
          to_string(config_.store.sync), config_.store.map_size, config_.fail_open ? "yes" : "no",
          to_string(config_.log)));
    }
    return config_;
  }

  // Where named DBs live: the configured directory or Exim's spool/grey.
  std::string grey_dir(const Config& cfg, Host& host) {
    if (!cfg.directory.empty()) return cfg.directory;
    if (spool_dir_.empty()) {
      // The spool directory cannot change inside one Exim process: ask once.
      std::string error;
      const auto spool = host.expand("$spool_directory", &error);
      if (!spool || spool->empty()) {
        store_failure(
            fmt::format("exigrey: cannot ask Exim for $spool_directory ({}): set 'directory' in {}",
                        spool ? "empty" : error, config_path_));
      }
      spool_dir_ = *spool;
    }
    std::string dir = spool_dir_;
    if (dir.back() != '/') dir += '/';
    dir += kGreySubdir;
    return dir;
  }

  // The store the previous call resolved, when `db` is the same argument and
  // the settings have not been read again since: a decision then skips the
  // directory and path work (about a third of the plugin's instructions per
  // call in a profile of `exim -bh`).
  const Store* last_store(std::string_view db) const {
    return last_store_ != nullptr && db == last_db_ ? last_store_ : nullptr;
  }
  void remember(std::string_view db, const Store& store) {
    last_db_.assign(db);
    last_store_ = &store;
  }

  // Makes sure `dir` exists (creating one missing level, mode 0750, given to
  // Exim's user when we are root), once per process.
  void ensure_dir(const std::string& dir, Host& host) {
    if (ready_dirs_.contains(dir)) return;
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        store_failure(
            fmt::format("exigrey: {} is not a directory: remove it or set another "
                        "'directory' in {}",
                        dir, config_path_));
      }
    } else if (errno != ENOENT) {
      const int err = errno;
      store_failure(fmt::format("exigrey: cannot use directory {}: {} (it must be searchable by "
                                "the Exim user)",
                                dir, std::strerror(err)),
                    err);
    } else if (::mkdir(dir.c_str(), kGreyDirMode) == 0) {
      ::chmod(dir.c_str(), kGreyDirMode);  // whatever the umask
      give_to_exim(dir, host);
      if (host.debugging()) host.debug(fmt::format("exigrey: created directory {}", dir));
    } else if (errno != EEXIST) {  // EEXIST: another process was quicker
      const int err = errno;
      store_failure(fmt::format("exigrey: cannot create directory {}: {} (create it, owned by the "
                                "Exim user, mode 0750)",
                                dir, std::strerror(err)),
                    err);
    }
    ready_dirs_.insert(dir);
  }

  // The handle for `path`, opened once per process; files the open creates
  // as root are given to Exim's user so that its processes can use them.
  // LMDB fixes sync and map size when a process opens the file: changed
  // settings apply to processes that open it later (Exim forks one per
  // connection), never half-way through this one.
  const Store& store(const std::string& path, const StoreOptions& options, Host& host) {
    if (auto it = stores_.find(path); it != stores_.end()) return it->second;
    Store store(path, options);
    const std::vector<std::string> files = store_files(path);
    std::vector<bool> had;
    for (const std::string& f : files) had.push_back(exists(f));
    store.open();  // may recover the store after a crash (durability.h)
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!had[i] && exists(files[i])) give_to_exim(files[i], host);
    }
    // Exim's main log says once what a recovery after a crash did, whichever
    // process did it (the package's boot unit, the CLI or this one).
    if (auto line = take_unlogged_recovery(store)) host.log(*line);
    return stores_.emplace(path, std::move(store)).first->second;
  }

  // The outbox in `dir`, opened once per process, its files given to Exim's
  // user like the stores'.
  Outbox& outbox(const std::string& dir, Host& host) {
    const std::string path = Outbox::path_in(dir);
    if (outbox_ && outbox_->path() == path) return *outbox_;
    const bool had_data = exists(path);
    const bool had_lock = exists(path + "-lock");
    outbox_.emplace(path);
    outbox_->stats();  // opens (and creates) it now, so ownership can be fixed
    if (!had_data) give_to_exim(path, host);
    if (!had_lock) give_to_exim(path + "-lock", host);
    return *outbox_;
  }

 private:
  ProcessState() = default;

  void give_to_exim(const std::string& path, Host& host) {
    if (::geteuid() != 0) return;  // files already belong to whoever runs Exim
    if (!exim_ids_) {
      exim_ids_ = std::pair{expand_id(host, "$exim_uid"), expand_id(host, "$exim_gid")};
    }
    const auto [uid, gid] = *exim_ids_;
    if (::lchown(path.c_str(), uid, gid) != 0) {
      const int err = errno;
      store_failure(fmt::format("exigrey: cannot give {} to the Exim user ({}:{}): {}", path, uid,
                                gid, std::strerror(err)),
                    err);
    }
  }

  static unsigned expand_id(Host& host, const char* var) {
    std::string error;
    const auto text = host.expand(var, &error);
    unsigned id = 0;
    if (!text) {
      store_failure(fmt::format("exigrey: cannot ask Exim for {}: {}", var, error));
    }
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), id);
    if (ec != std::errc() || end != text->data() + text->size()) {
      store_failure(fmt::format("exigrey: Exim's {} is {:?}, not a number", var, *text));
    }
    return id;
  }

  bool config_loaded_ = false;
  std::chrono::steady_clock::time_point config_checked_;
  std::string config_path_ = std::string(kDefaultConfigPath);
  FileId config_id_;
  Config config_;
  std::string spool_dir_;
  std::optional<std::pair<uid_t, gid_t>> exim_ids_;
  std::set<std::string, std::less<>> ready_dirs_;
  // Map nodes never move, so last_store_ may point into stores_.
  std::map<std::string, Store, std::less<>> stores_;
  std::string last_db_;
  const Store* last_store_ = nullptr;
  std::optional<Outbox> outbox_;
};

// Exim logs the FAIL text on one line; the caller's bytes must not break it.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

Outcome failure(std::string message) { return Outcome{false, one_line(std::move(message))}; }

// Why, in plain words (debug output and log lines).
std::string reason_text(const Decision& d) {
  switch (d.reason) {
    case Reason::kNew:
      return fmt::format("new, retry in {}s", d.wait);
    case Reason::kTooEarly:
      return fmt::format("too early, retry in {}s", d.wait);
    case Reason::kPassed:
      if (d.delayed) return fmt::format("the delay is over after {}", format_duration(*d.delayed));
      return fmt::format("known item, pass {}", d.passes);
    case Reason::kWhitelisted:
      return "whitelisted suffix";
  }
  return std::string(to_string(d.reason));
}

// The main-log form, which `exigrey report` reads back (docs/plugin.md,
// "Logging"): "greylisted (...)", "passed after 6m12s (the delay is over)",
// "passed (...)".
std::string log_text(const Decision& d) {
  if (d.reason == Reason::kPassed && d.delayed) {
    return fmt::format("passed after {} (the delay is over)", format_duration(*d.delayed));
  }
  return fmt::format("{} ({})", d.verdict == Verdict::kDefer ? "greylisted" : "passed",
                     reason_text(d));
}

// The answer of `decide`: fields for Exim's ${extract{NAME}{...}}. The set
// and order are fixed, so an ACL may also pick them by number.
std::string fields(const Decision& d) {
  std::string_view reason = to_string(d.reason);
  if (d.reason == Reason::kPassed && !d.delayed) reason = "known";
  return fmt::format("verdict={} reason={} wait={} delayed={}",
                     d.verdict == Verdict::kDefer ? "defer" : "pass", reason, d.wait,
                     d.delayed.value_or(0));
}

constexpr std::string_view kFailOpenFields = "verdict=pass reason=fail-open wait=0 delayed=0";

// The store a DB argument names, resolved once per process (see ProcessState).
const Store& store_for(ProcessState& state, const Config& cfg, std::string_view db, Host& host) {
  if (const Store* cached = state.last_store(db)) return *cached;
  const bool named = db.front() != '/' && !db.starts_with("./");
  const std::string dir = named ? state.grey_dir(cfg, host) : std::string();
  const std::string db_path = resolve_db_path(db, dir);
  if (named) state.ensure_dir(dir, host);
  const Store& store = state.store(db_path, cfg.store, host);
  state.remember(db, store);
  return store;
}

std::string empty_db_error(std::string_view name) {
  return fmt::format(
      "exigrey: {}: empty DB: omit the argument for the default \"{}\", or give a name, an "
      "absolute path or ./path",
      name, kDefaultDbName);
}

// The settings and the store a call works on, opened once its arguments
// passed their checks.
struct Opened {
  const Config& cfg;
  const Store& store;
};

// Runs a greylist or whitelist call: `body(open)` checks its arguments,
// then calls open(db) for the settings and the store. Errors as unseen
// handles them: a usage error (the ACL, the settings file) fails the
// expansion even under fail_open; a store error fails it too, unless the
// settings say fail_open: then `pass_answer` and a main-log line.
template <typename Body>
Outcome guarded_call(std::string_view name, std::string_view pass_answer, Host& host, Body body) {
  bool fail_open = false;
  try {
    ProcessState& state = ProcessState::get();
    std::unique_lock lock(state.mu, std::defer_lock);
    auto open = [&](std::string_view db) -> Opened {
      lock.lock();
      const Config& cfg = state.settings(host);
      fail_open = cfg.fail_open;
      return Opened{cfg, store_for(state, cfg, db, host)};
    };
    return body(open);
  } catch (const UsageError& e) {
    if (host.debugging()) host.debug(one_line(e.what()));
    return failure(e.what());
  } catch (const Error& e) {
    if (fail_open) {
      host.log(one_line(fmt::format("{} (fail_open: {} answers {})", e.what(), name, pass_answer)));
      return Outcome{true, std::string(pass_answer)};
    }
    if (host.debugging()) host.debug(one_line(e.what()));
    return failure(e.what());
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return failure(fmt::format("exigrey: {}: internal error: {}", name, e.what()));
  }
}

}  // namespace

std::string_view to_string(Function fn) noexcept {
  switch (fn) {
    case Function::kUnseen:
      return "unseen";
    case Function::kSeen:
      return "seen";
    case Function::kDecide:
      return "decide";
  }
  return "?";
}

Outcome greylist(Function fn, std::span<const std::string_view> args, Host& host,
                 const Clock& clock) {
  const std::string_view name = to_string(fn);
  // The verdict that lets mail through: the fail-open answer.
  const std::string_view pass_answer = fn == Function::kUnseen ? "no"
                                       : fn == Function::kSeen ? "yes"
                                                               : kFailOpenFields;
  if (args.empty() || args.size() > 3) {
    return failure(fmt::format(
        "exigrey: {} takes 1 to 3 arguments, got {}: use ${{dlfunc{{libexigrey.so}}{{{}}}{}}}",
        name, args.size(), name, kUsage));
  }
  const std::string_view key = args[0];
  if (key.empty()) {
    return failure(fmt::format(
        "exigrey: {}: empty KEY: build it from the sender, the recipient and the client, e.g. "
        "<$sender_address>:<$local_part@$domain>/$sender_host_address",
        name));
  }

  return guarded_call(name, pass_answer, host, [&](auto& open) -> Outcome {
    // Arguments first: a bad DELAY or DB must fail before any store is touched.
    std::int64_t delay = kDefaultDelay;
    if (args.size() >= 2) {
      if (args[1].empty()) {
        return failure(fmt::format(
            "exigrey: {}: empty DELAY: omit the argument for the default {}s, or give seconds "
            "or Exim units such as 10m",
            name, kDefaultDelay));
      }
      delay = parse_duration(args[1], "delay");
    }
    const std::string_view db = args.size() >= 3 ? args[2] : kDefaultDbName;
    if (db.empty()) return failure(empty_db_error(name));

    const auto [cfg, store] = open(db);
    const std::string& db_path = store.path();
    const Decision d = decide(store, key, delay, clock.now());
    std::string answer = fn == Function::kDecide                           ? fields(d)
                         : (fn == Function::kUnseen ? unseen(d) : seen(d)) ? "yes"
                                                                           : "no";
    const bool defer = d.verdict == Verdict::kDefer;

    if (cfg.log == DecisionLog::kDecisions || (cfg.log == DecisionLog::kDefers && defer)) {
      host.log(fmt::format("exigrey: {} key={:?} db={}", log_text(d), key, db_path));
    }
    if (host.debugging()) {
      host.debug(fmt::format("exigrey: {}({:?}, delay {}s, {}) = {} ({}{})", name, key, delay,
                             db_path, answer, reason_text(d), d.wrote ? ", written" : ""));
    }
    return Outcome{true, std::move(answer)};
  });
}

std::string_view to_string(SuffixFunction fn) noexcept {
  return fn == SuffixFunction::kWhitelist ? "whitelist" : "whitelisted";
}

Outcome suffix_function(SuffixFunction fn, std::span<const std::string_view> args, Host& host,
                        const Clock& clock) {
  const std::string_view name = to_string(fn);
  if (args.empty() || args.size() > 2) {
    return failure(
        fmt::format("exigrey: {} takes 1 or 2 arguments, got {}: use "
                    "${{dlfunc{{libexigrey.so}}{{{}}}{{SUFFIX}}{{DB}}}}",
                    name, args.size(), name));
  }
  const std::string_view suffix = args[0];
  const std::string_view db = args.size() >= 2 ? args[1] : kDefaultDbName;
  // A store error under fail_open: not whitelisted, so greylisting (which
  // fails open too) decides.
  return guarded_call(name, "no", host, [&](auto& open) -> Outcome {
    // Arguments first: a bad SUFFIX or DB must fail before any store is touched.
    check_suffix(suffix, name);
    if (db.empty()) return failure(empty_db_error(name));
    const auto [cfg, store] = open(db);
    std::string what;
    bool yes = true;
    if (fn == SuffixFunction::kWhitelist) {
      what = fmt::format("whitelisted suffix {:?} ({})", suffix,
                         to_string(whitelist_suffix(store, suffix, clock.now())));
    } else {
      yes = whitelisted_suffix(store, suffix, clock.now());
      what = fmt::format("suffix {:?} is {}whitelisted", suffix, yes ? "" : "not ");
    }
    if (cfg.log == DecisionLog::kDecisions) {
      host.log(fmt::format("exigrey: {} db={}", what, store.path()));
    }
    if (host.debugging()) {
      host.debug(fmt::format("exigrey: {}({:?}, {}) = {} ({})", name, suffix, store.path(),
                             yes ? "yes" : "no", what));
    }
    return Outcome{true, yes ? "yes" : "no"};
  });
}

Outcome report(std::span<const std::string_view> args, Host& host, const Clock& clock) {
  if (args.size() < 2 || args.size() > 3) {
    return failure(
        fmt::format("exigrey: report takes 2 or 3 arguments, got {}: use "
                    "${{dlfunc{{libexigrey.so}}{{report}}{{black|white}}{{SUBJECT}}{{NOTE}}}}",
                    args.size()));
  }
  try {
    // Validate everything before the outbox is touched.
    Report r;
    r.verb = parse_verb(args[0]);
    r.subject = parse_subject(args[1]);
    if (args.size() == 3) r.note = parse_note(args[2]);
    r.time = clock.now();

    ProcessState& state = ProcessState::get();
    std::lock_guard lock(state.mu);
    const Config& cfg = state.settings(host);
    const std::string dir = state.grey_dir(cfg, host);
    state.ensure_dir(dir, host);
    const std::uint64_t seq = state.outbox(dir, host).append(r);
    if (cfg.log != DecisionLog::kNone) {
      host.log(fmt::format("exigrey: reported {} {} (outbox #{})", to_string(r.verb),
                           r.subject.text, seq));
    }
    if (host.debugging()) {
      host.debug(fmt::format("exigrey: report({}, {}, {:?}) queued as #{} in {}", to_string(r.verb),
                             r.subject.text, r.note, seq, Outbox::path_in(dir)));
    }
    return Outcome{true, "yes"};
  } catch (const Error& e) {
    // Exim 4.96 turns a failed expansion into an ACL error (451) even in a
    // `warn` statement, so a report that fails must not fail the expansion:
    // a missing $sender_host_address or a full outbox would block mail.
    host.log(one_line(fmt::format("{} (report not queued; answered no)", e.what())));
    return Outcome{true, "no"};
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return failure(fmt::format("exigrey: report: internal error: {}", e.what()));
  }
}

}  // namespace exigrey::plugin

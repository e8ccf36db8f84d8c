// SPDX-License-Identifier: GPL-2.0-or-later
#include "collector.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <asio.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "aggregator.h"
#include "collect_metrics.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "dns_sync.h"
#include "exigrey/error.h"
#include "exigrey/keys.h"
#include "exigrey/reputation_lookup.h"
#include "plain_listener.h"
#include "privileges.h"
#include "publisher.h"
#include "signed_listener.h"
#include "web_listener.h"

namespace exigrey::collect {
namespace {

// Idle-connection floods are bounded by max_connections, not by the soft
// descriptor limit: raise it to the hard limit.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string or_none(const std::string& s) { return s.empty() ? "none" : s; }

std::optional<ZoneWriter> make_writer(const CollectConfig& cfg) {
  if (cfg.rbldnsd_dir.empty()) return std::nullopt;
  return std::optional<ZoneWriter>(std::in_place, cfg.rbldnsd_dir, cfg.zone, cfg.rbldnsd_shards);
}

// Reads the TSIG key as the starting user (root may own it, mode 0600).
std::unique_ptr<DnsSync> make_dns(const CollectConfig& cfg, CollectMetrics& metrics) {
  if (cfg.dns_primary.empty()) return nullptr;
  std::vector<Endpoint> notify;
  for (const std::string& e : cfg.dns_notify) notify.push_back(parse_endpoint(e, "dns_notify"));
  return std::make_unique<DnsSync>(parse_endpoint(cfg.dns_primary, "dns_primary"),
                                   read_tsig_key_file(cfg.dns_key), std::move(notify),
                                   dns_zone_list(cfg.dns_zones), cfg.dns_backlog, metrics);
}

constexpr std::chrono::milliseconds kDnsDrain{3000};

class Collector {
 public:
  Collector(const CommandLine& cmd, CollectConfig cfg, std::optional<Identity> identity)
      : cmd_(cmd),
        cfg_(std::move(cfg)),
        metrics_(registry_),
        store_(ReputationStore::path_in(cfg_.state_dir), cfg_.store),
        writer_(make_writer(cfg_)),
        dns_(make_dns(cfg_, metrics_)),
        aggregator_(io_, store_, metrics_, clock_, cfg_.policy.ttl),
        publisher_(io_, store_, writer_ ? &*writer_ : nullptr, dns_.get(), cfg_.dns_zones,
                   cfg_.zone, metrics_, clock_, cfg_.policy),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        identity_(std::move(identity)) {
    aggregator_.set_change_hook(
        [this](std::vector<Subject> subjects) { publisher_.mark_changed(std::move(subjects)); });
    aggregator_.set_ipv6_prefix(cfg_.policy.ipv6_prefix);
    // As the starting user (root with --user): bind, read the keys and the TLS key.
    // Nothing is served before run().
    if (!cfg_.plain.empty()) {
      const Endpoint plain_at = parse_endpoint(cfg_.plain, "plain");
      try {
        plain_.emplace(io_, plain_at, aggregator_, metrics_, cfg_.limits, cfg_.allow);
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::kUsage, fmt::format("exigrey-collect: cannot listen on {}: {}",
                                                   plain_at.to_string(), e.code().message()));
      }
    }
    if (!cfg_.signed_at.empty()) {
      const Endpoint signed_at = parse_endpoint(cfg_.signed_at, "signed");
      KeyRing keys = load_keys(cfg_.keys_file);  // UsageError names the file and line
      try {
        signed_.emplace(io_, signed_at, aggregator_, store_, registry_, clock_, std::move(keys),
                        cfg_.limits, TlsFiles{cfg_.tls_cert, cfg_.tls_key});
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::kUsage, fmt::format("exigrey-collect: cannot listen on {}: {}",
                                                   signed_at.to_string(), e.code().message()));
      }
    }
    if (!cfg_.web.empty()) {
      const Endpoint w = parse_endpoint(cfg_.web, "web");
      try {
        web_.emplace(
            io_, w, web_text(cfg_), WebLimits{},
            [this](std::string_view q) { return public_view(q); },
            [this](const std::string& subject, const std::string& contact,
                   const std::string& message, const std::string& client) {
              return removal_request(subject, contact, message, client);
            },
            registry_);
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::kUsage,
                    fmt::format("exigrey-collect: cannot listen on {} for the lookup page: {}",
                                w.to_string(), e.code().message()));
      }
    }
    if (!cfg_.metrics.empty()) {
      const Endpoint m = parse_endpoint(cfg_.metrics, "metrics");
      try {
        metrics_server_.emplace(io_, m, [this] {
          refresh_gauges();
          return registry_.exposition();
        });
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::kUsage,
                    fmt::format("exigrey-collect: cannot listen on {} for metrics: {}",
                                m.to_string(), e.code().message()));
      }
    }
    if (identity_) become_user(*identity_);
    refresh_gauges();  // opens the store now (as the user): fail before serving
    store_.put_settings_text(describe_collect_config(cfg_));
    publisher_.start();  // the files exist before any client is served
    metrics_.start_time = clock_.now();
  }

  int run() {
    wait_for_signal();
    LOG_INFO(
        "exigrey-collect {} started: plain reports on {}, signed batches on {}, metrics on {}, "
        "lookup page on {}, state {}, rbldnsd files in {}, DNS UPDATEs to {}, min_reporters {}, "
        "ttl {}s",
        EXIGREY_VERSION, cfg_.plain.empty() ? "none" : cfg_.plain,
        cfg_.signed_at.empty() ? "none" : cfg_.signed_at,
        cfg_.metrics.empty() ? "none" : cfg_.metrics, cfg_.web.empty() ? "none" : cfg_.web,
        cfg_.state_dir, or_none(cfg_.rbldnsd_dir), or_none(cfg_.dns_primary),
        cfg_.policy.min_reporters, cfg_.policy.ttl);
    io_.run();
    LOG_INFO("exigrey-collect stopped");
    return 0;
  }

 private:
  // Drops to the user, then checks what it must write from now on and what
  // SIGHUP rereads, naming the path that is wrong.
  void become_user(const Identity& id) {
    drop_privileges(id);
    const std::string store = ReputationStore::path_in(cfg_.state_dir);
    require_writable(cfg_.state_dir, "state directory", id.user);
    require_writable(store, "store file", id.user);
    require_writable(store + "-lock", "store lock file", id.user);
    if (writer_) require_writable(cfg_.rbldnsd_dir, "rbldnsd directory", id.user);
    if (!cfg_.keys_file.empty() && !readable(cfg_.keys_file)) {
      LOG_WARNING(
          "keys file {} is not readable by user {}: SIGHUP cannot reread it (make it owned by "
          "root:{}, mode 0640)",
          cfg_.keys_file, id.user, id.group);
    }
    if (!cmd_.config_file.empty() && !readable(cmd_.config_file)) {
      LOG_WARNING("settings file {} is not readable by user {}: SIGHUP cannot reread it",
                  cmd_.config_file, id.user);
    }
    if (id.switch_needed) {
      LOG_INFO("running as user {} (uid {}), group {} (gid {})", id.user, id.uid, id.group, id.gid);
    }
  }

  // What to add to a reload error when the file is unreadable after the switch.
  std::string unreadable_hint(const std::string& file) const {
    if (!identity_ || file.empty() || readable(file)) return {};
    return fmt::format(" (exigrey-collect runs as user {}: {} must be readable by it)",
                       identity_->user, file);
  }

  void wait_for_signal() {
    signals_.async_wait([this](std::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        wait_for_signal();
        return;
      }
      LOG_INFO("signal {}: stopping", sig);
      stop();
    });
  }

  static WebText web_text(const CollectConfig& cfg) {
    WebText t;
    t.list_name = cfg.list_name;
    t.removal_text = cfg.removal_text;
    return t;
  }

  // What the public lookup page may show: whether and since when, the
  // categories and how many reporters, never who.
  PublicView public_view(std::string_view query) {
    PublicView v;
    v.query = std::string(query);
    Subject subject{SubjectKind::kIPv4, {}};
    try {
      subject = parse_subject(query);
    } catch (const UsageError& e) {
      std::string_view why = e.what();
      if (why.starts_with("exigrey: ")) why.remove_prefix(9);
      v.error = std::string(why);
      return v;
    }
    const LookupResult r = lookup(store_, publisher_.policy(), subject, clock_.now());
    v.subject = r.subject.text;
    v.listed = r.listed();
    v.request_pending = r.request.has_value();
    if (!v.listed || !r.record) {
      if (v.listed) v.listed_since = r.network_since;  // only its network is listed
      return v;
    }
    const SubjectRecord& rec = *r.record;
    v.manual = r.assessment.rule == Rule::kBanned;
    v.listed_since = rec.listed_since != 0  ? rec.listed_since
                     : rec.black_since != 0 ? rec.black_since
                                            : r.network_since;
    if (v.manual) v.listed_until = rec.ban_until;
    v.categories = r.categories;
    v.reporters = r.assessment.black_votes;
    v.last_report = rec.last_seen;
    return v;
  }

  RequestOutcome removal_request(const std::string& subject, const std::string& contact,
                                 const std::string& message, const std::string& client) {
    Subject s{SubjectKind::kIPv4, {}};
    try {
      s = parse_subject(subject);
    } catch (const UsageError&) {
      return RequestOutcome::kInvalid;
    }
    const UnixTime now = clock_.now();
    const LookupResult r = lookup(store_, publisher_.policy(), s, now);
    if (!r.listed()) return RequestOutcome::kNotListed;
    switch (store_.add_request(RemovalRequest{r.subject, now, client, contact, message},
                               cfg_.max_requests)) {
      case RequestResult::kRecorded:
        LOG_INFO("removal request for {} from {} (exigrey-collect list --requests)", r.subject.text,
                 client);
        return RequestOutcome::kRecorded;
      case RequestResult::kAlreadyPending:
        return RequestOutcome::kAlreadyPending;
      case RequestResult::kFull:
        LOG_WARNING("removal request for {} refused: {} requests are stored (max_requests)",
                    r.subject.text, cfg_.max_requests);
        return RequestOutcome::kFull;
    }
    return RequestOutcome::kInvalid;
  }

  void stop() {
    if (web_) web_->stop();
    if (plain_) plain_->stop();
    if (signed_) signed_->stop();
    aggregator_.flush();
    publisher_.stop();
    // The last listings to the name server, if it answers soon; what is
    // left is sent after the next start (dns_sync.h).
    if (dns_ && !dns_->drain(kDnsDrain)) {
      LOG_WARNING(
          "dns: the name server has not taken the last changes within {} ms; they are "
          "sent at the next start",
          kDnsDrain.count());
    }
    metrics_server_.reset();
    try {
      store_.sync();
    } catch (const Error& e) {
      LOG_ERROR("{}", e.what());
    }
    io_.stop();
  }

  void reload() {
    CollectConfig next;
    try {
      next = load_settings(cmd_);
      check_collect_config(next);
    } catch (const Error& e) {
      ++metrics_.reloads_failed;
      LOG_ERROR("reload failed, keeping the running configuration: {}{}", e.what(),
                unreadable_hint(cmd_.config_file));
      return;
    }
    for (const CollectSetting& setting : collect_settings()) {
      if (!setting.restart) continue;
      const std::string running = show_collect_setting(cfg_, setting.key);
      if (show_collect_setting(next, setting.key) != running) {
        LOG_WARNING("reload: {} changed; restart exigrey-collect to apply it", setting.key);
        apply_collect_setting(next, setting.key, running);
      }
    }
    daemon::log_init("exigrey-collect", next.log, next.log_level);
    if (plain_) plain_->set_limits(next.limits, next.allow);
    if (signed_) {
      try {
        signed_->set_keys(load_keys(next.keys_file));
        signed_->set_limits(next.limits);
      } catch (const Error& e) {
        ++metrics_.reloads_failed;
        LOG_ERROR("reload: keeping the old keys: {}{}", e.what(), unreadable_hint(next.keys_file));
        next.keys_file = cfg_.keys_file;
      }
    }
    if (web_) web_->set_text(web_text(next));
    aggregator_.set_ttl(next.policy.ttl);
    aggregator_.set_ipv6_prefix(next.policy.ipv6_prefix);
    publisher_.set_policy(next.policy);
    publisher_.set_zone(next.zone);
    cfg_ = std::move(next);
    try {
      store_.put_settings_text(describe_collect_config(cfg_));
    } catch (const Error& e) {
      LOG_ERROR("{}", e.what());
    }
    ++metrics_.reloads_ok;
    LOG_INFO("configuration reloaded{}: min_reporters {}, ttl {}s, decay {}s",
             cmd_.config_file.empty() ? "" : " from " + cmd_.config_file, cfg_.policy.min_reporters,
             cfg_.policy.ttl, cfg_.policy.decay);
  }

  void refresh_gauges() {
    metrics_.resident_bytes = resident_bytes();
    try {
      const ReputationTotals t = store_.totals();
      *metrics_.stored_reports[0] = static_cast<std::int64_t>(t.black_reports);
      *metrics_.stored_reports[1] = static_cast<std::int64_t>(t.white_reports);
      metrics_.subjects = static_cast<std::int64_t>(t.subjects);
      metrics_.requests_pending = static_cast<std::int64_t>(t.requests);
    } catch (const Error& e) {
      LOG_ERROR("{}", e.what());
    }
  }

  const CommandLine& cmd_;
  CollectConfig cfg_;
  const SystemClock& clock_ = SystemClock::instance();
  asio::io_context io_{1};
  daemon::Metrics registry_;
  CollectMetrics metrics_;
  ReputationStore store_;
  std::optional<ZoneWriter> writer_;  // when rbldnsd_dir is set
  std::unique_ptr<DnsSync> dns_;      // when dns_primary is set; outlives publisher_
  Aggregator aggregator_;
  Publisher publisher_;
  std::optional<PlainListener> plain_;
  std::optional<SignedListener> signed_;
  std::optional<WebListener> web_;
  std::optional<daemon::MetricsServer> metrics_server_;
  asio::signal_set signals_;
  std::optional<Identity> identity_;  // --user: who the collector runs as
};

}  // namespace

int run_collector(const CommandLine& cmd, CollectConfig cfg) {
  std::signal(SIGPIPE, SIG_IGN);
  // An unknown user, or --user without root, fails before anything is touched.
  std::optional<Identity> identity;
  if (!cfg.user.empty()) identity = resolve_identity(cfg.user, cfg.group);
  raise_fd_limit();
  ensure_dir(cfg.state_dir, 0750, "state", identity);
  if (!cfg.rbldnsd_dir.empty()) ensure_dir(cfg.rbldnsd_dir, 0755, "rbldnsd", identity);
  daemon::log_init("exigrey-collect", cfg.log, cfg.log_level);
  Collector collector(cmd, std::move(cfg), std::move(identity));
  return collector.run();
}

}  // namespace exigrey::collect

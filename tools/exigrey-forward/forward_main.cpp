// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey-forward/forward_main.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <optional>
#include <thread>

#include "common/log.h"
#include "common/metrics_server.h"
#include "exigrey-forward/forwarder.h"
#include "exigrey/batch.h"
#include "exigrey/duration.h"
#include "exigrey/error.h"
#include "exigrey/exit_status.h"
#include "exigrey/paths.h"
#include "exigrey/peers_file.h"
#include "exigrey/secret_file.h"

namespace exigrey::forward {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

// The secret alone, with trailing blanks (an editor's newline) removed.
// read_secret_file checks the mode on the open file and never returns a
// short read, as for the collector's keys file and the peers file.
std::string read_secret(const std::string& path) {
  std::string secret = read_secret_file(path, "--secret-file", kMaxSecret + 64);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' ||
                             secret.back() == ' ' || secret.back() == '\t')) {
    secret.pop_back();
  }
  try {
    check_secret(secret);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--secret-file {}: {}", path, e.what()));
  }
  return secret;
}

std::chrono::milliseconds millis_flag(const std::string& text, std::string_view flag) {
  // Whole seconds with Exim units, or N"ms" for sub-second values.
  if (text.ends_with("ms")) {
    const auto ms = parse_duration(text.substr(0, text.size() - 2), flag);
    if (ms < 0) throw UsageError(fmt::format("{} must not be negative", flag));
    return std::chrono::milliseconds(ms);
  }
  const auto s = parse_duration(text, flag);
  if (s < 0) throw UsageError(fmt::format("{} must not be negative", flag));
  return std::chrono::milliseconds(s * 1000);
}

// The short host name: what `hostname` prints, up to the first dot.
std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0)
    throw UsageError("cannot read the host name; use --name");
  std::string n(buf);
  if (const auto dot = n.find('.'); dot != std::string::npos) n.resize(dot);
  return n;
}

std::uint64_t bounded(const std::string& text, std::string_view flag, std::uint64_t lo,
                      std::uint64_t hi) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError(fmt::format("{} {:?}: want a whole number from {} to {}", flag, text, lo, hi));
  }
  return v;
}

int run(int argc, char** argv) {
  CLI::App app{
      "exigrey-forward: deliver exigrey's outbox of reports to collectors, signed and "
      "acknowledged"};
  app.set_version_flag("--version", std::string("exigrey-forward ") + EXIGREY_VERSION);
  ForwardOptions o;
  std::vector<std::string> collectors;
  std::string secret_file, config_file = config_path(), log_target = "auto", metrics;
  std::string batch_delay = "200ms", timeout = "10", backoff_max = "60";
  bool verbose = false;
  app.add_option("--dir", o.dir,
                 "store directory holding the outbox (default: the config's "
                 "directory, else /var/spool/exim4/grey)");
  std::string peers_file, name, peer_listen, peer_rate = "20000", peer_log_max = "1000000";
  app.add_option("--collector", collectors,
                 "collector HOST:PORT (repeatable: each gets every report)");
  app.add_option("--reporter", o.reporter, "this reporter's id, as in the collector's keys file");
  app.add_option("--secret-file", secret_file, "file holding this reporter's secret");
  app.add_option("--peers", peers_file,
                 "share greylisting with the MX hosts of this peers file "
                 "(default: the setting `peers`)");
  app.add_option("--name", name, "this host's name in the peers file (default: the host name)");
  app.add_option("--peer-listen", peer_listen,
                 "listen for peers on ADDR:PORT (default: this host's address in the peers file)");
  app.add_option("--peer-rate", peer_rate, "records per second taken from each peer (1-1000000)");
  app.add_option("--peer-log-max", peer_log_max,
                 "peer log entries kept per store for peers that are down (1000-100000000)");
  app.add_option("--tls-ca", o.tls_ca_file,
                 "speak TLS and verify the collector against this CA file")
      ->check(CLI::ExistingFile);
  app.add_flag("--once", o.once, "deliver what is pending, then exit (0 drained, 1 failed)");
  app.add_option("--batch-size", o.batch_size, "reports per batch (1-1000)")
      ->check(CLI::Range(1, static_cast<int>(kMaxBatchReports)));
  app.add_option("--batch-delay", batch_delay,
                 "send a partial batch after it waited this long (e.g. 200ms, 1s)");
  app.add_option("--timeout", timeout, "connect/send/answer timeout (seconds or Exim units)");
  app.add_option("--backoff-max", backoff_max, "longest wait between retries");
  app.add_option("--config", config_file, "settings file (sync mode of the greylist stores)");
  app.add_option("--metrics", metrics, "serve Prometheus /metrics on ADDR:PORT");
  app.add_option("--log", log_target,
                 "auto (default: stderr, or syslog when stderr is closed or /dev/null), "
                 "stderr or syslog");
  app.add_flag("-v,--verbose", verbose, "log every batch");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  std::optional<Endpoint> metrics_at;
  try {
    daemon::log_init("exigrey-forward", parse_log_target(log_target, "--log"),
                     verbose ? daemon::LogLevel::kDebug : daemon::LogLevel::kInfo);
    for (const auto& c : collectors)
      o.collectors.push_back(parse_endpoint(c, "--collector", HostForm::kAddressOrName));
    if (!metrics.empty()) metrics_at = parse_endpoint(metrics, "--metrics");
    o.config = load_config(config_file);
    if (peers_file.empty()) peers_file = o.config.peers_file;
    if (o.collectors.empty() && peers_file.empty()) {
      throw UsageError(
          "nothing to do: give --collector, or share greylisting with --peers "
          "(or the setting `peers`)");
    }
    if (!o.collectors.empty()) {
      if (o.reporter.empty()) throw UsageError("--collector needs --reporter");
      if (secret_file.empty()) throw UsageError("--collector needs --secret-file");
      check_reporter_id(o.reporter);
      o.secret = read_secret(secret_file);
    }
    if (o.once && o.collectors.empty())
      throw UsageError("--once drains the outbox: give --collector");
    if (o.dir.empty())
      o.dir = o.config.directory.empty() ? "/var/spool/exim4/grey" : o.config.directory;
    o.batch_delay = millis_flag(batch_delay, "--batch-delay");
    o.timeout = millis_flag(timeout, "--timeout");
    o.backoff_max = millis_flag(backoff_max, "--backoff-max");
    if (o.timeout.count() == 0) throw UsageError("--timeout must be above 0");
    if (!peers_file.empty() && !o.once) {
      PeerSyncOptions p;
      p.dir = o.dir;
      p.store = o.config.store;
      p.store.peer_log = true;  // the same options as the plugin's (one environment each)
      p.self = name.empty() ? host_name() : name;
      p.peers = load_peers(peers_file);
      p.listen = peer_listen;
      p.rate = static_cast<std::uint32_t>(bounded(peer_rate, "--peer-rate", 1, 1'000'000));
      p.log_max = bounded(peer_log_max, "--peer-log-max", 1000, 100'000'000);
      o.peers = std::move(p);
    }
  } catch (const std::exception& e) {
    daemon::log_startup_error("exigrey-forward", e.what());
    return exit_status_of(e);
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  daemon::Metrics registry;
  asio::io_context metrics_io;
  std::optional<daemon::MetricsServer> server;
  std::thread metrics_thread;
  if (metrics_at) {
    try {
      server.emplace(metrics_io, *metrics_at, [&registry] { return registry.exposition(); });
    } catch (const std::exception& e) {
      daemon::log_startup_error("exigrey-forward",
                                fmt::format("--metrics {}: {}", metrics_at->to_string(), e.what()));
      return kExitFailure;
    }
    metrics_thread = std::thread([&metrics_io] { metrics_io.run(); });
  }
  if (!o.collectors.empty()) {
    LOG_INFO("forwarding {}/outbox to {} collector(s) as {}", o.dir, o.collectors.size(),
             o.reporter);
  }
  if (o.peers) {
    LOG_INFO("sharing the greylisting of {} with {} peer(s) as {}", o.dir,
             o.peers->peers.size() - 1, o.peers->self);
  }
  int rc = kExitOk;
  try {
    rc = run_forwarder(o, registry, g_stop);
  } catch (const std::exception& e) {
    LOG_ERROR("{}", e.what());
    rc = exit_status_of(e);
  }
  if (metrics_at) {
    metrics_io.stop();
    metrics_thread.join();
  }
  LOG_INFO("stopped");
  return rc;
}

}  // namespace

int forward_main(int argc, char** argv) {
  return run_program([&] { return run(argc, argv); },
                     [](std::string_view line) {
                       std::fprintf(stderr, "exigrey-forward: %.*s\n",
                                    static_cast<int>(line.size()), line.data());
                     });
}

}  // namespace exigrey::forward

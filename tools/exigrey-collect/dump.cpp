// SPDX-License-Identifier: GPL-2.0-or-later
#include "dump.h"

#include <fmt/format.h>

#include "exigrey/error.h"
#include "exigrey/rbldnsd_zone.h"
#include "exigrey/reputation.h"
#include "exigrey/reputation_policy.h"

namespace exigrey::collect {

int dump_state(const CollectConfig& cfg, std::FILE* out) {
  if (cfg.state_dir.empty()) {
    throw UsageError("exigrey-collect: --dump needs the state directory (--state DIR)");
  }
  StoreOptions options = cfg.store;
  options.read_only = true;
  const ReputationStore store(ReputationStore::path_in(cfg.state_dir), options);
  const UnixTime now = SystemClock::instance().now();
  std::size_t skipped = 0;
  const ReporterAges ages = cfg.policy.probation > 0 ? store.reporters() : ReporterAges{};
  store.for_each(
      [&](const Subject& s, const SubjectRecord& r) {
        const Assessment a = assess(s, r, cfg.policy, now, ages);
        const char* listed = a.black_listed ? "black" : a.white_listed ? "white" : "no";
        fmt::print(out, "{} black={} white={} votes={} first={} last={} listed={}\n", s.text,
                   r.black_reports, r.white_reports, r.votes.size(), format_utc(r.first_seen),
                   format_utc(r.last_seen), listed);
        return true;
      },
      &skipped);
  const ReputationTotals t = store.totals();
  fmt::print(out, "# subjects={} black_reports={} white_reports={}{}\n", t.subjects,
             t.black_reports, t.white_reports,
             skipped > 0 ? fmt::format(" unreadable={}", skipped) : std::string());
  return 0;
}

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/dns_sync.h: keeps the zones on a primary name server in
// step with the listings, by RFC 2136 UPDATEs (docs/dns.md).
//
// The publisher pushes the changes of each publish (per zone, the records
// to delete and to add, computed from the listings that changed); a thread
// of its own sends them, so a slow or absent name server never holds up
// intake or the rbldnsd files. Pushes coalesce per record: the thread
// always sends the latest value of each (owner, type).
//
// What the server holds is checked by its SOA serial: when the thread
// starts, after resync() (the records' TTL or rendering changed), and
// whenever a zone's serial is not the one the thread's last UPDATE left
// (the zone was restored, reloaded or edited by someone else), the zone is
// transferred (AXFR) and compared with the whole wanted content, which the
// publisher's source renders from its index. A zone's serial is checked
// before each change sent to it, and every zone's every kCheckEvery, even
// when nothing changes. Otherwise only the pushed changes
// travel: for each (owner, type), a delete of the RRset and the add of the
// new record, in UPDATE messages of at most kMaxChanges changes and
// kMaxMessageBytes bytes, both halves of a change in the same message (each
// UPDATE is atomic on the server, so a name never goes missing between
// them), up to kWindow messages in flight on the connection. UPDATEs are idempotent, so after a
// failure (refused, timed out, connection lost) the unsent changes are sent again, the zone whose
// UPDATE failed is transferred again, and nothing is lost or doubled; a
// collector killed mid-update transfers every zone at its next start.
// Failures are logged (one line naming the server, zone and cause),
// counted, and retried after kRetryFirst, doubling to kRetryMax (a cheap
// attempt: recovery is quick when the server returns).
//
// Versions order pushes and full renderings: the source returns the
// version of the last push its rendering includes, so that pushed changes
// it already contains are not sent after it.
//
// After a zone changed, the secondaries in dns_notify get a NOTIFY at once
// (unsigned, over UDP, best effort), so that they need not wait for the
// primary's own, which Knot sends about a second later.
//
// Memory: the pending changes, at most `backlog` records (dns_backlog)
// waiting and as many in the round being sent; past that, as in a bulk load or a long outage of the
// name server, they are dropped and the next round compares every zone whole instead (logged once
// per overflow, counted in dns_backlog_overflows), which is what they would have added up to.
// During a whole comparison, the rendering of the zones not yet compared (each is freed once
// compared) and the records of the one being transferred; nothing is kept between rounds.
//
// Thread safety: every public member from any thread; the source is called
// on the sync thread and must lock what it reads. The metrics are atomics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collect_metrics.h"
#include "dns_client.h"
#include "exigrey/dns_zone.h"

namespace exigrey::collect {

class DnsSync {
 public:
  static constexpr std::size_t kMaxChanges = 2000;
  static constexpr std::size_t kMaxMessageBytes = 60000;
  // UPDATE messages sent before the first answer is read: the server
  // applies what is queued in one pass (Knot's cost per pass grows with the
  // zone: about 0.13 s at a million names).
  static constexpr std::size_t kWindow = 32;
  static constexpr std::chrono::milliseconds kTimeout{5000};
  static constexpr std::chrono::milliseconds kRetryFirst{500};
  static constexpr std::chrono::milliseconds kRetryMax{5000};
  static constexpr std::chrono::seconds kCheckEvery{10};

  // Every zone as it should be, and the version of the last push included.
  struct Full {
    std::vector<DnsZoneContent> zones;
    std::uint64_t version = 0;
  };
  using Source = std::function<Full()>;

  // `zones`: the zones to keep (lower case, no trailing dot). `notify`:
  // secondaries sent a NOTIFY after each zone change (dns_notify). Nothing
  // is sent before start().
  DnsSync(Endpoint server, dns::TsigKey key, std::vector<Endpoint> notify,
          std::vector<std::string> zones, std::size_t backlog, CollectMetrics& metrics);
  ~DnsSync();  // stops the thread: what was not sent is sent after a restart
  DnsSync(const DnsSync&) = delete;
  DnsSync& operator=(const DnsSync&) = delete;

  // Begins: every zone is compared whole with the source's rendering, then
  // kept by pushes. `ttl`: of the records.
  void start(Source source, std::uint32_t ttl);

  // Changes, numbered by the caller in increasing `version`.
  void push(std::vector<DnsZoneChanges> changes, std::uint64_t version);

  // The records' TTL or their rendering changed: compare every zone whole.
  void resync(std::uint32_t ttl);

  // Waits until everything pushed is on the server, at most `limit`; true
  // if it is (for a clean shutdown).
  bool drain(std::chrono::milliseconds limit);

 private:
  struct Pending {                    // the latest value of one (owner, type)
    std::optional<std::string> data;  // none: delete
    std::uint64_t version = 0;
  };
  using Key = std::pair<std::string, DnsRecordType>;  // owner, type
  using ZonePending = std::map<Key, Pending>;
  struct Held {                // what the server holds, as far as we know
    bool known = false;        // false: transfer and compare the zone whole
    std::uint32_t serial = 0;  // the SOA serial our last exchange left
  };
  struct Round {  // what one round of the thread works on
    std::map<std::string, ZonePending> pending;
    bool resync = false;
    std::uint32_t ttl = 0;
    std::uint64_t target = 0;
  };

  void run();
  void sync(Round& round, const Source& source);
  // Compares the zone whole with `wanted` and sends the difference.
  void sync_whole(const DnsZoneContent& wanted, std::uint32_t ttl, Held& held);
  void send_pending(const std::string& zone, const ZonePending& pending, std::uint32_t ttl,
                    Held& held);
  std::vector<DnsEntry> load(const std::string& zone, Held& held, std::uint32_t ttl,
                             bool& same_ttl);
  void send_all(const std::string& zone, std::vector<std::string> messages,
                const std::vector<std::size_t>& sizes, Held& held);
  void notify(const std::string& zone);
  void requeue(std::map<std::string, ZonePending>& pending);
  void bound_pending();  // under mu_

  DnsClient client_;
  std::vector<Endpoint> notify_;
  std::vector<std::string> zones_;
  std::size_t backlog_;
  CollectMetrics& metrics_;
  std::map<std::string, Held> held_;                    // sync thread only
  std::chrono::steady_clock::time_point next_check_{};  // sync thread only: every zone's serial

  std::mutex mu_;
  std::condition_variable cv_;
  Source source_;                               // guarded by mu_
  std::map<std::string, ZonePending> pending_;  // guarded by mu_
  bool resync_ = false;                         // guarded by mu_
  bool overflowed_ = false;                     // guarded by mu_: in this round's pushes
  std::uint32_t ttl_ = 0;                       // guarded by mu_
  std::uint64_t requested_ = 0;                 // guarded by mu_: bumped by every call
  std::uint64_t done_ = 0;                      // guarded by mu_: what is on the server
  bool stop_ = false;                           // guarded by mu_
  std::thread thread_;
};

}  // namespace exigrey::collect

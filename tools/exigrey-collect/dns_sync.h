// exigrey-collect/dns_sync.h: keeps the zones on a primary name server in
// step with the listings, by RFC 2136 UPDATEs (docs/dns.md).
//
// The publisher offers the zones' wanted content after every publish; a
// thread of its own sends the difference, so a slow or absent name server
// never holds up intake or the rbldnsd files. Offers coalesce: the thread
// always works towards the latest one.
//
// What the server holds is learnt by a zone transfer (AXFR) when the thread
// starts, and again whenever the zone's SOA serial is not the one the
// thread's last UPDATE left (the zone was restored, reloaded or edited by
// someone else); the serials are also checked every kCheckEvery when
// nothing changes. After that only changes travel: for each (owner, type)
// whose record changed, a delete of the RRset and an add, in UPDATE
// messages of at most kMaxChanges changes and kMaxMessageBytes bytes, both
// halves of a change in the same message (each UPDATE is atomic on the
// server, so a name never goes missing between them). UPDATEs are
// idempotent, so after a failure (refused, timed out, connection lost,
// collector killed) the next round starts again from a fresh transfer and
// nothing is lost or doubled. Failures are logged (one line naming the
// server, zone and cause), counted, and retried after kRetryFirst, doubling
// to kRetryMax (a cheap attempt: recovery is quick when the server returns).
//
// After a zone changed, the secondaries in dns_notify get a NOTIFY at once
// (unsigned, over UDP, best effort), so that they need not wait for the
// primary's own, which Knot sends about a second later.
//
// Thread safety: offer() and the destructor from any one thread; the
// metrics are atomics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collect_metrics.h"
#include "dns_client.h"
#include "exigrey/dns_zone.h"

namespace exigrey::collect {

class DnsSync {
 public:
  static constexpr std::size_t kMaxChanges = 2000;
  static constexpr std::size_t kMaxMessageBytes = 60000;
  static constexpr std::chrono::milliseconds kTimeout{5000};
  static constexpr std::chrono::milliseconds kRetryFirst{500};
  static constexpr std::chrono::milliseconds kRetryMax{5000};
  static constexpr std::chrono::seconds kCheckEvery{10};

  // `notify`: secondaries sent a NOTIFY after each zone change (dns_notify).
  DnsSync(Endpoint server, dns::TsigKey key, std::vector<Endpoint> notify, CollectMetrics& metrics);
  ~DnsSync();  // stops the thread: what was not sent is sent after a restart
  DnsSync(const DnsSync&) = delete;
  DnsSync& operator=(const DnsSync&) = delete;

  // The zones as they should be now, with the TTL of their records.
  void offer(std::vector<DnsZoneContent> zones, std::uint32_t ttl);

  // Waits until the latest offer is on the server, at most `limit`; true if
  // it is (for a clean shutdown).
  bool drain(std::chrono::milliseconds limit);

 private:
  struct Wanted {
    std::vector<DnsZoneContent> zones;
    std::uint32_t ttl = 0;
    std::uint64_t version = 0;
  };
  struct Held {                     // what the server holds, as far as we know
    bool known = false;             // false: transfer the zone first
    std::uint32_t serial = 0;       // the SOA serial our last exchange left
    std::uint32_t ttl = 0;          // of our records (0: mixed or unknown)
    std::vector<DnsEntry> entries;  // sorted by dns_entry_less
  };

  void run();
  void sync(const Wanted& wanted);
  void sync_zone(const DnsZoneContent& zone, std::uint32_t ttl);
  void load(const std::string& zone, Held& held);

  DnsClient client_;
  std::vector<Endpoint> notify_;
  CollectMetrics& metrics_;
  std::map<std::string, Held> held_;  // sync thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const Wanted> wanted_;  // guarded by mu_
  std::uint64_t offered_ = 0;             // guarded by mu_
  std::uint64_t done_ = 0;                // guarded by mu_: the version on the server
  bool stop_ = false;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace exigrey::collect

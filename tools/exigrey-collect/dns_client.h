// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/dns_client.h: the few exchanges the collector has with a
// primary name server, over TCP: read a zone's SOA serial, read a whole
// zone (AXFR), send an RFC 2136 UPDATE. Every request is signed with the
// TSIG key and every answer's signature is checked (an AXFR's last message
// must be signed). Names, sizes and timeouts are checked; nothing the
// server sends can make it read out of bounds (dns_wire.h).
//
// One TCP connection serves a series of exchanges (a sync round); it is
// opened on first use and closed by close(), on any error, and by the
// destructor. Every wait is bounded by the timeout (connect, each send,
// each receive).
//
// Errors: DnsFailure, one line naming the server, the zone and the cause
// ("127.0.0.1:5300: UPDATE bl.example.org: REFUSED", "...: timed out
// after 5000 ms", "...: TSIG ...: the MAC does not match"); the connection
// is closed first. Thread safety: none; one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "exigrey/dns_wire.h"
#include "exigrey/endpoint.h"
#include "exigrey/fd.h"
#include "exigrey/tsig.h"

namespace exigrey::collect {

class DnsFailure : public std::runtime_error {
 public:
  DnsFailure(const std::string& message, int rcode = -1)
      : std::runtime_error(message), rcode_(rcode) {}
  // The server's RCODE when it answered with an error, else -1.
  int rcode() const noexcept { return rcode_; }

 private:
  int rcode_;
};

class DnsClient {
 public:
  DnsClient(Endpoint server, dns::TsigKey key, std::chrono::milliseconds timeout);
  ~DnsClient();
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  // The zone's SOA serial.
  std::uint32_t serial(const std::string& zone);

  // Reads the whole zone; `fn` sees every record but the closing SOA (the
  // first record is the SOA).
  void transfer(const std::string& zone, const std::function<void(dns::Record&&)>& fn);

  // Sends one UPDATE built by dns::UpdateBuilder (unsigned: this signs it).
  void update(const std::string& zone, std::string message);
  // Sends several, with up to `window` of them waiting for their answers at
  // a time (pipelined on the connection: a server such as Knot then applies
  // the queued updates together, in one pass over the zone). `answered(i)`
  // (if set) runs as messages[i] is accepted. Fails at the first refusal.
  void update(const std::string& zone, std::vector<std::string> messages, std::size_t window,
              const std::function<void(std::size_t)>& answered);

  void close() noexcept;
  const Endpoint& server() const noexcept { return server_; }
  // An ID for the next message (they start at a random value).
  std::uint16_t next_id();

 private:
  void connect();
  std::string sign(std::string& wire);
  // Sends a signed query; returns the verifier for its answers.
  dns::TsigVerifier ask(std::uint16_t id, const std::string& zone, dns::Type type,
                        const std::string& what);
  void send(std::string_view wire, const std::string& what);
  std::string receive(const std::string& what);
  [[noreturn]] void fail(const std::string& what, const std::string& why, int rcode = -1);

  Endpoint server_;
  dns::TsigKey key_;
  std::chrono::milliseconds timeout_;
  Fd fd_;
  std::uint16_t id_;
};

// Sends one NOTIFY for `zone` (RFC 1996) to `to` over UDP, unsigned, and
// does not wait for the answer: a hint that makes a secondary ask its
// primary for the new serial at once, instead of after the primary's own
// NOTIFY (Knot sends it about a second after an update). Returns false if
// the datagram could not be sent (never throws).
bool send_notify(const Endpoint& to, const std::string& zone, std::uint16_t id) noexcept;

// Reads the collector's TSIG key file: Knot's `keymgr -t NAME` output (the
// YAML that knot.conf can `include:`; its "# alg:name:secret" comment line
// or the id/algorithm/secret fields) or one "[alg:]name:secret" line as
// kdig -y takes it. The file must be private (secret_file.h). Throws
// UsageError naming the file, never the secret.
dns::TsigKey read_tsig_key_file(const std::string& path);

}  // namespace exigrey::collect

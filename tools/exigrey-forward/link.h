// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward/link.h: one connection to one collector (or peer MX),
// speaking the signed batch protocol (docs/protocol.md): send a frame, read one answer.
//
// Blocking with deadlines: connect, send and answer each have a timeout, so
// a collector that hangs can never stall the forwarder for longer. The
// connection is kept for the next batch and re-made after any error. With a
// CA file, the link speaks TLS and verifies the collector's certificate and
// host name. Errors: exchange() throws std::runtime_error with one line
// naming the collector and what failed; the link is then closed.
// Thread safety: one link is used by one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "exigrey/batch.h"
#include "exigrey/endpoint.h"

namespace exigrey::forward {

struct LinkOptions {
  Endpoint collector;
  std::string tls_ca_file;  // empty: plain TCP
  std::chrono::milliseconds timeout{10'000};
  std::string role = "collector";  // names the other end in messages ("peer")
};

class Link {
 public:
  explicit Link(LinkOptions options);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Sends one frame and returns the collector's answer.
  Answer exchange(const std::string& frame);
  void close() noexcept;
  const std::string& name() const noexcept { return name_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::string role_;
};

}  // namespace exigrey::forward

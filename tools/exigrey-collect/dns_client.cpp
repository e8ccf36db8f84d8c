// SPDX-License-Identifier: GPL-2.0-or-later
#include "dns_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>

#include "exigrey/error.h"
#include "exigrey/ip_network.h"
#include "exigrey/secret_file.h"
#include "exigrey/text.h"

namespace exigrey::collect {
namespace {

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// 0 for a host name (the collector's endpoints are parsed as addresses, so
// only a programming error gets there; the callers then fail cleanly).
socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage& ss) noexcept {
  const auto ip = parse_ip(e.host);
  if (!ip) return 0;
  if (ip->v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(e.port);
    std::memcpy(&a->sin6_addr, ip->bytes.data(), 16);
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(e.port);
  std::memcpy(&a->sin_addr, ip->bytes.data(), 4);
  return sizeof(*a);
}

}  // namespace

DnsClient::DnsClient(Endpoint server, dns::TsigKey key, std::chrono::milliseconds timeout)
    : server_(std::move(server)),
      key_(std::move(key)),
      timeout_(timeout),
      id_(static_cast<std::uint16_t>(std::random_device{}())) {}

DnsClient::~DnsClient() { close(); }

void DnsClient::close() noexcept { fd_.reset(); }

std::uint16_t DnsClient::next_id() { return ++id_; }

void DnsClient::fail(const std::string& what, const std::string& why, int rcode) {
  close();
  throw DnsFailure(fmt::format("{}: {}: {}", server_.to_string(), what, why), rcode);
}

void DnsClient::connect() {
  if (fd_.valid()) return;
  sockaddr_storage ss{};
  const socklen_t len = to_sockaddr(server_, ss);
  if (len == 0) fail("connect", "not an IP address");
  fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_.valid()) fail("connect", std::strerror(errno));
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) fail("connect", std::strerror(errno));
    pollfd p{fd_.get(), POLLOUT, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (r == 0) fail("connect", fmt::format("timed out after {} ms", timeout_.count()));
    int err = 0;
    socklen_t elen = sizeof(err);
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (r < 0 || err != 0) fail("connect", std::strerror(r < 0 ? errno : err));
  }
  const int one = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void DnsClient::send(std::string_view wire, const std::string& what) {
  const std::string frame = dns::tcp_frame(wire);
  std::size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(fd_.get(), frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_.get(), POLLOUT, 0};
      const int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      if (r == 0) fail(what, fmt::format("sending timed out after {} ms", timeout_.count()));
      if (r < 0 && errno != EINTR) fail(what, std::strerror(errno));
      continue;
    }
    fail(what, std::strerror(errno));
  }
}

std::string DnsClient::receive(const std::string& what) {
  auto read_exact = [&](std::size_t n) {
    std::string buf(n, '\0');
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::recv(fd_.get(), buf.data() + done, n - done, 0);
      if (r > 0) {
        done += static_cast<std::size_t>(r);
        continue;
      }
      if (r == 0) fail(what, "the server closed the connection");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) fail(what, std::strerror(errno));
      pollfd p{fd_.get(), POLLIN, 0};
      const int pr = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      if (pr == 0) fail(what, fmt::format("no answer within {} ms", timeout_.count()));
      if (pr < 0 && errno != EINTR) fail(what, std::strerror(errno));
    }
    return buf;
  };
  const std::string head = read_exact(2);
  const std::size_t len = std::size_t{static_cast<unsigned char>(head[0])} << 8U |
                          std::size_t{static_cast<unsigned char>(head[1])};
  if (len < 12) fail(what, fmt::format("a {}-byte answer is no DNS message", len));
  return read_exact(len);
}

std::string DnsClient::sign(std::string& wire) { return dns::tsig_sign(wire, key_, unix_now()); }

dns::TsigVerifier DnsClient::ask(std::uint16_t id, const std::string& zone, dns::Type type,
                                 const std::string& what) {
  dns::MessageBuilder b(id, dns::Opcode::kQuery);
  b.question(zone, type);
  std::string wire = b.finish();
  dns::TsigVerifier verifier(key_, sign(wire), unix_now());
  connect();
  send(wire, what);
  return verifier;
}

std::uint32_t DnsClient::serial(const std::string& zone) {
  const std::string what = fmt::format("SOA {}", zone);
  const std::uint16_t id = next_id();
  dns::TsigVerifier verifier = ask(id, zone, dns::Type::kSOA, what);
  const std::string answer = receive(what);
  try {
    verifier.verify(answer, true);
    const dns::Message m = dns::parse_message(answer);
    if (m.id != id) fail(what, "the answer's ID does not match the query's");
    if (m.rcode != 0) fail(what, dns::rcode_name(m.rcode), static_cast<int>(m.rcode));
    for (const dns::Record& r : m.answers) {
      if (r.type == dns::Type::kSOA && dns::names_equal(r.name, zone)) {
        return dns::parse_soa(r.rdata).serial;
      }
    }
  } catch (const Error& e) {
    fail(what, e.what());
  }
  fail(what, "no SOA in the answer (is the zone configured on the server?)");
}

void DnsClient::transfer(const std::string& zone, const std::function<void(dns::Record&&)>& fn) {
  const std::string what = fmt::format("AXFR {}", zone);
  const std::uint16_t id = next_id();
  dns::TsigVerifier verifier = ask(id, zone, dns::Type::kAXFR, what);
  unsigned soas = 0;
  bool first = true;
  while (soas < 2) {
    const std::string answer = receive(what);
    bool last_signed = false;
    try {
      verifier.set_now(unix_now());
      last_signed = verifier.verify(answer, false);
      dns::Message m = dns::parse_message(answer);
      if (m.id != id) fail(what, "an answer's ID does not match the query's");
      if (m.rcode != 0) fail(what, dns::rcode_name(m.rcode), static_cast<int>(m.rcode));
      for (dns::Record& r : m.answers) {
        if (r.type == dns::Type::kSOA) ++soas;
        if (first && r.type != dns::Type::kSOA) fail(what, "the transfer does not start with SOA");
        first = false;
        if (soas == 2) break;  // the closing SOA
        fn(std::move(r));
      }
      if (m.answers.empty()) fail(what, "an empty message in the transfer");
    } catch (const Error& e) {
      fail(what, e.what());
    }
    if (soas == 2 && !last_signed) fail(what, "TSIG: the transfer's last message is unsigned");
  }
}

void DnsClient::update(const std::string& zone, std::string message) {
  std::vector<std::string> one;
  one.push_back(std::move(message));
  update(zone, std::move(one), 1, nullptr);
}

void DnsClient::update(const std::string& zone, std::vector<std::string> messages,
                       std::size_t window, const std::function<void(std::size_t)>& answered) {
  const std::string what = fmt::format("UPDATE {}", zone);
  struct InFlight {
    std::uint16_t id;
    std::size_t index;  // in `messages`
    dns::TsigVerifier verifier;
  };
  std::deque<InFlight> in_flight;
  // One answer, to any of the messages waiting (RFC 7766 lets a server
  // answer out of order).
  auto settle = [&] {
    const std::string answer = receive(what);
    try {
      const dns::Message m = dns::parse_message(answer);
      const auto it = std::find_if(in_flight.begin(), in_flight.end(),
                                   [&](const InFlight& x) { return x.id == m.id; });
      if (it == in_flight.end()) fail(what, "the answer's ID does not match an update's");
      InFlight f = std::move(*it);
      in_flight.erase(it);
      // A refusal often comes without a valid signature (Knot answers a key
      // its ACL does not allow with NOTAUTH and TSIG error BADKEY): the
      // RCODE comes first, the TSIG problem explains it.
      if (m.rcode != 0) {
        std::string why = dns::rcode_name(m.rcode);
        try {
          f.verifier.verify(answer, true);
        } catch (const Error& e) {
          why +=
              fmt::format(" ({}; does the server's ACL let this key update this zone?)", e.what());
        }
        fail(what, why, static_cast<int>(m.rcode));
      }
      f.verifier.verify(answer, true);
      if (answered) answered(f.index);
    } catch (const Error& e) {
      fail(what, e.what());
    }
  };
  connect();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::string& message = messages[i];
    std::uint16_t id = 0;
    try {
      id = dns::parse_message(message).id;
    } catch (const Error& e) {
      fail(what, e.what());
    }
    dns::TsigVerifier verifier(key_, sign(message), unix_now());
    if (in_flight.size() >= std::max<std::size_t>(window, 1)) settle();
    send(message, what);
    in_flight.push_back(InFlight{id, i, std::move(verifier)});
  }
  while (!in_flight.empty()) settle();
}

bool send_notify(const Endpoint& to, const std::string& zone, std::uint16_t id) noexcept {
  std::string wire;
  try {
    dns::MessageBuilder b(id, dns::Opcode::kNotify);
    b.question(zone, dns::Type::kSOA);
    wire = b.finish();
  } catch (const std::exception&) {
    return false;
  }
  wire[2] = static_cast<char>(wire[2] | 0x04);  // AA, as RFC 1996 asks
  sockaddr_storage ss{};
  const socklen_t len = to_sockaddr(to, ss);
  if (len == 0) return false;
  const Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return false;
  const ssize_t n =
      ::sendto(fd.get(), wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  return n == static_cast<ssize_t>(wire.size());
}

dns::TsigKey read_tsig_key_file(const std::string& path) {
  const std::string text = read_secret_file(path, "TSIG key file", 64 * 1024);
  auto bad = [&](const std::string& why) {
    throw UsageError(fmt::format("TSIG key file {}: {}", path, why));
  };
  std::string id;
  std::string algorithm;
  std::string secret;
  std::string line_form;  // "alg:name:secret"
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.starts_with('#')) {
      // keymgr's "# hmac-sha256:name:secret".
      line = trim(line.substr(1));
      if (line.find(':') != std::string_view::npos && line.find(' ') == std::string_view::npos) {
        line_form = std::string(line);
      }
      continue;
    }
    if (line.starts_with("- ")) line = trim(line.substr(2));
    auto field = [&](std::string_view key, std::string& out) {
      if (line.starts_with(key)) {
        std::string_view v = trim(line.substr(key.size()));
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
          v = v.substr(1, v.size() - 2);
        }
        out = std::string(v);
        return true;
      }
      return false;
    };
    if (field("id:", id) || field("algorithm:", algorithm) || field("secret:", secret)) continue;
    if (line.empty() || line == "key:") continue;
    if (line.find(':') != std::string_view::npos && line.find(' ') == std::string_view::npos) {
      line_form = std::string(line);
      continue;
    }
    bad("expected keymgr -t output or one ALGORITHM:NAME:SECRET line");
  }
  std::string form;
  if (!id.empty() || !secret.empty()) {
    if (id.empty() || secret.empty()) bad("the key needs both id and secret");
    form = fmt::format("{}{}{}:{}", algorithm, algorithm.empty() ? "" : ":", id, secret);
  } else if (!line_form.empty()) {
    form = line_form;
  } else {
    bad("no key in the file");
  }
  try {
    return dns::parse_tsig_key(form);
  } catch (const UsageError& e) {
    bad(e.what());
  }
  return {};
}

}  // namespace exigrey::collect

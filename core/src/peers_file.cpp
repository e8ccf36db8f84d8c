// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/peers_file.h"

#include <fmt/format.h>

#include "exigrey/batch.h"
#include "exigrey/error.h"
#include "exigrey/secret_file.h"
#include "settings_text.h"

namespace exigrey {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const auto end = line.find_first_of(" \t");
    out.push_back(line.substr(0, end));
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  }
  return out;
}

}  // namespace

std::vector<PeerEntry> parse_peers(std::string_view text, std::string_view origin) {
  std::vector<PeerEntry> peers;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](const std::string& what) {
      throw UsageError(fmt::format("{}:{}: {}", origin, number, what));
    };
    const auto w = words(line);
    if (w.size() < 3 || w.size() > 4) {
      fail("expected 'NAME ADDRESS:PORT SECRET [scope=...]'");
    }
    PeerEntry p;
    try {
      check_reporter_id(w[0]);
      check_secret(w[2]);
    } catch (const UsageError& e) {
      fail(e.what());
    }
    p.name = std::string(w[0]);
    p.address = std::string(w[1]);
    if (p.address.rfind(':') == std::string::npos || p.address.size() > 300) {
      fail(fmt::format("peer {}: the address must be HOST:PORT", p.name));
    }
    p.secret = std::string(w[2]);
    if (w.size() == 4) {
      if (w[3] == "scope=items") {
        p.may_whitelist = false;
      } else if (w[3] != "scope=items,whitelist" && w[3] != "scope=whitelist,items") {
        fail(fmt::format("peer {}: unknown {:?} (use scope=items or scope=items,whitelist)", p.name,
                         w[3].substr(0, 40)));
      }
    }
    for (const PeerEntry& q : peers) {
      if (q.name == p.name) fail(fmt::format("peer {} listed twice", p.name));
    }
    peers.push_back(std::move(p));
  }
  return peers;
}

std::vector<PeerEntry> load_peers(const std::string& path) {
  return parse_peers(read_secret_file(path, "peers file"), path);
}

}  // namespace exigrey

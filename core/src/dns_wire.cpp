// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/dns_wire.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <array>

#include "exigrey/error.h"
#include "exigrey/text.h"

namespace exigrey::dns {
namespace {

// A pointer chain cannot be longer than the labels a name can hold; a cap
// below the message size keeps even a crafted chain of pointers cheap.
constexpr unsigned kMaxPointerHops = 128;

[[noreturn]] void corrupt(std::string_view why) {
  throw Error(ErrorKind::kCorrupt, fmt::format("malformed DNS message: {}", why));
}

[[noreturn]] void corrupt_rdata(std::string_view what, std::string_view why) {
  throw Error(ErrorKind::kCorrupt, fmt::format("malformed {} rdata: {}", what, why));
}

// Names given to us may hold anything; an error message must stay one short line.
std::string printable(std::string_view text) {
  constexpr std::size_t kMaxEcho = 80;
  std::string out;
  for (char c : text.substr(0, kMaxEcho)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMaxEcho) out += "...";
  return out;
}

[[noreturn]] void bad_name(std::string_view name, std::string_view why) {
  throw UsageError(fmt::format("invalid DNS name '{}': {}", printable(name), why));
}

constexpr bool plain_label_byte(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '.' && c != '\\';
}

unsigned char byte_at(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

std::uint16_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((byte_at(s, at) << 8) | byte_at(s, at + 1));
}

std::uint32_t get32(std::string_view s, std::size_t at) {
  return (std::uint32_t{get16(s, at)} << 16) | get16(s, at + 2);
}

std::string lower_wire(std::string wire) {
  // Label length bytes are at most 63, never in 'A'..'Z' (65..90), so the
  // whole wire name can be folded byte by byte.
  for (char& c : wire) c = ascii_lower(c);
  return wire;
}

void append_label_text(std::string& out, std::string_view label) {
  for (std::size_t i = 0; i < label.size(); ++i) {
    const unsigned char c = byte_at(label, i);
    if (plain_label_byte(c)) {
      out += static_cast<char>(c);
    } else if (c == '.' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      fmt::format_to(std::back_inserter(out), "\\{:03}", c);
    }
  }
}

// Text of a wire name already known to be well formed (labels within bounds, root last).
std::string wire_to_text(std::string_view wire) {
  std::string out;
  std::size_t at = 0;
  while (at < wire.size() && wire[at] != 0) {
    const std::size_t len = byte_at(wire, at);
    if (!out.empty()) out += '.';
    append_label_text(out, wire.substr(at + 1, len));
    at += 1 + len;
  }
  return out;
}

// Reads the name at `pos` (advancing `pos` past it) and returns it
// uncompressed. Labels read before the first pointer must end by `end`
// (the end of the RDATA that holds the name, or of the message).
// Every pointer must point before the start of the run of labels that
// holds it: each jump goes strictly backwards, so reading ends.
std::string read_name(std::string_view wire, std::size_t& pos, std::size_t end) {
  std::string out;
  std::size_t at = pos;
  std::size_t run_start = pos;
  std::size_t limit = end;
  bool jumped = false;
  unsigned hops = 0;
  for (;;) {
    if (at >= limit) corrupt("name runs past its end");
    const unsigned len = byte_at(wire, at);
    if ((len & 0xc0) == 0xc0) {
      if (at + 1 >= limit) corrupt("truncated compression pointer");
      const std::size_t target = ((len & 0x3fu) << 8) | byte_at(wire, at + 1);
      if (target >= run_start) corrupt("compression pointer does not point backwards");
      if (++hops > kMaxPointerHops) corrupt("too many compression pointers in a name");
      if (!jumped) pos = at + 2;
      jumped = true;
      at = run_start = target;
      limit = wire.size();
      continue;
    }
    if ((len & 0xc0) != 0) corrupt(fmt::format("unsupported label type 0x{:02x}", len & 0xc0));
    if (len == 0) {
      out += '\0';
      if (!jumped) pos = at + 1;
      return out;
    }
    if (at + 1 + len > limit) corrupt("label runs past its end");
    if (out.size() + 1 + len + 1 > kMaxNameBytes) corrupt("name longer than 255 bytes");
    out.append(wire.substr(at, 1 + len));
    at += 1 + len;
  }
}

struct Reader {
  std::string_view wire;
  std::size_t pos = 0;

  void need(std::size_t n, std::string_view what) const {
    if (wire.size() - pos < n) corrupt(fmt::format("truncated {}", what));
  }
  std::uint16_t u16(std::string_view what) {
    need(2, what);
    const std::uint16_t v = get16(wire, pos);
    pos += 2;
    return v;
  }
  std::uint32_t u32(std::string_view what) {
    need(4, what);
    const std::uint32_t v = get32(wire, pos);
    pos += 4;
    return v;
  }
};

// The RDATA of types that may carry compressed names, decompressed; others as they are.
std::string read_rdata(std::string_view wire, std::size_t start, std::size_t end, Type type) {
  if (start == end) return {};  // UPDATE deletions and prerequisites carry none
  std::size_t at = start;
  std::string out;
  auto fixed = [&](std::size_t n) {
    if (end - at < n) corrupt("truncated record data");
    out.append(wire.substr(at, n));
    at += n;
  };
  switch (type) {
    case Type::kNS:
    case Type::kCNAME:
    case Type::kPTR:
      out = read_name(wire, at, end);
      break;
    case Type::kMX:
      fixed(2);
      out += read_name(wire, at, end);
      break;
    case Type::kSOA:
      out = read_name(wire, at, end);
      out += read_name(wire, at, end);
      fixed(20);
      break;
    case Type::kTSIG:
      out = read_name(wire, at, end);
      fixed(end - at);
      break;
    default:
      fixed(end - start);
      break;
  }
  if (at != end) corrupt("record data longer than its contents");
  return out;
}

Record read_record(Reader& r) {
  Record rec;
  rec.name = wire_to_text(lower_wire(read_name(r.wire, r.pos, r.wire.size())));
  rec.type = static_cast<Type>(r.u16("record type"));
  rec.klass = r.u16("record class");
  rec.ttl = r.u32("record TTL");
  const std::uint16_t rdlength = r.u16("record data length");
  r.need(rdlength, "record data");
  rec.rdata = read_rdata(r.wire, r.pos, r.pos + rdlength, rec.type);
  r.pos += rdlength;
  return rec;
}

// Checks a wire name that must stand alone (no compression, nothing after it).
void check_wire_name(std::string_view wire, std::string_view what) {
  std::size_t at = 0;
  for (;;) {
    if (at >= wire.size()) corrupt_rdata(what, "name runs past its end");
    const std::size_t len = byte_at(wire, at);
    if (len > kMaxLabelBytes) corrupt_rdata(what, "compressed or unsupported label");
    if (at + 1 + len > kMaxNameBytes) corrupt_rdata(what, "name longer than 255 bytes");
    if (at + 1 + len > wire.size()) corrupt_rdata(what, "label runs past its end");
    at += 1 + len;
    if (len == 0) break;
  }
  if (at != wire.size()) corrupt_rdata(what, "bytes after the name");
}

// Length of the standalone wire name at the start of `wire` (0 if malformed).
std::size_t wire_name_length(std::string_view wire) {
  std::size_t at = 0;
  while (at < wire.size()) {
    const std::size_t len = byte_at(wire, at);
    if (len > kMaxLabelBytes || at + 1 + len > kMaxNameBytes) return 0;
    at += 1 + len;
    if (len == 0) return at;
  }
  return 0;
}

}  // namespace

std::string rcode_name(unsigned rcode) {
  static constexpr std::array<std::string_view, 12> kNames = {
      "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
      "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI"};
  if (rcode < kNames.size()) return std::string(kNames[rcode]);
  return fmt::format("RCODE{}", rcode);
}

std::string encode_name(std::string_view name) {
  std::string out;
  if (name.empty() || name == ".") return std::string(1, '\0');
  std::string label;
  auto end_label = [&] {
    if (label.empty()) bad_name(name, "empty label");
    out += static_cast<char>(label.size());
    out += label;
    label.clear();
    // Checked as it grows, so a long text is refused early (the root byte still to come).
    if (out.size() + 1 > kMaxNameBytes) bad_name(name, "longer than 255 bytes in wire form");
  };
  for (std::size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = byte_at(name, i);
    if (c == '.') {
      end_label();
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= name.size()) bad_name(name, "'\\' at the end");
      const unsigned char next = byte_at(name, i + 1);
      if (next >= '0' && next <= '9') {
        unsigned value = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          if (i + k >= name.size() || name[i + k] < '0' || name[i + k] > '9') {
            bad_name(name, "'\\' must be followed by 3 digits or one character");
          }
          value = value * 10 + static_cast<unsigned>(name[i + k] - '0');
        }
        if (value > 255) bad_name(name, "escaped byte over 255");
        label += static_cast<char>(value);
        i += 3;
      } else if (next > 0x20 && next < 0x7f) {
        label += static_cast<char>(next);
        i += 1;
      } else {
        bad_name(name, "'\\' must be followed by 3 digits or one character");
      }
    } else if (c > 0x20 && c < 0x7f) {
      label += static_cast<char>(c);
    } else {
      bad_name(name, "blank or byte outside printable ASCII");
    }
    if (label.size() > kMaxLabelBytes) bad_name(name, "label longer than 63 bytes");
  }
  // A name ending in '.' (the root label) leaves no label pending.
  if (!label.empty()) end_label();
  out += '\0';
  return out;
}

std::string normalize_name(std::string_view name) {
  return wire_to_text(lower_wire(encode_name(name)));
}

bool names_equal(std::string_view a, std::string_view b) {
  return lower_wire(encode_name(a)) == lower_wire(encode_name(b));
}

bool name_in_zone(std::string_view name, std::string_view zone) {
  const std::string n = lower_wire(encode_name(name));
  const std::string z = lower_wire(encode_name(zone));
  // Only a suffix that starts at a label boundary counts.
  for (std::size_t at = 0; at < n.size(); at += 1u + byte_at(n, at)) {
    if (n.size() - at == z.size() && std::string_view(n).substr(at) == z) return true;
  }
  return false;
}

std::string rdata_a(std::string_view dotted_quad) {
  // inet_pton takes exactly four decimal parts (no octal, no shorthand).
  const std::string text(dotted_quad);
  std::array<unsigned char, 4> bytes{};
  if (text.size() > 15 || inet_pton(AF_INET, text.c_str(), bytes.data()) != 1) {
    throw UsageError(fmt::format("invalid IPv4 address '{}'", printable(dotted_quad)));
  }
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string rdata_txt(std::string_view text) {
  constexpr std::size_t kChunk = 255;
  std::string out;
  do {
    const std::string_view chunk = text.substr(0, kChunk);
    out += static_cast<char>(chunk.size());
    out += chunk;
    text.remove_prefix(chunk.size());
  } while (!text.empty());
  if (out.size() > kMaxMessageBytes) throw UsageError("TXT text too long for one record");
  return out;
}

std::string txt_text(std::string_view rdata) {
  if (rdata.empty()) corrupt_rdata("TXT", "no character-string");
  std::string out;
  std::size_t at = 0;
  while (at < rdata.size()) {
    const std::size_t len = byte_at(rdata, at);
    if (rdata.size() - at - 1 < len) corrupt_rdata("TXT", "character-string runs past the end");
    out.append(rdata.substr(at + 1, len));
    at += 1 + len;
  }
  return out;
}

std::string a_text(std::string_view rdata) {
  if (rdata.size() != 4) corrupt_rdata("A", fmt::format("{} bytes, not 4", rdata.size()));
  return fmt::format("{}.{}.{}.{}", byte_at(rdata, 0), byte_at(rdata, 1), byte_at(rdata, 2),
                     byte_at(rdata, 3));
}

std::string rdata_name(std::string_view name) { return encode_name(name); }

std::string name_text(std::string_view wire_name) {
  check_wire_name(wire_name, "name");
  return wire_to_text(wire_name);
}

std::string rdata_soa(const Soa& soa) {
  std::string out = encode_name(soa.mname);
  out += encode_name(soa.rname);
  for (std::uint32_t v : {soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum}) {
    put32(out, v);
  }
  return out;
}

Soa parse_soa(std::string_view rdata) {
  Soa soa;
  const std::size_t m = wire_name_length(rdata);
  if (m == 0) corrupt_rdata("SOA", "bad MNAME");
  const std::size_t r = wire_name_length(rdata.substr(m));
  if (r == 0) corrupt_rdata("SOA", "bad RNAME");
  if (rdata.size() - m - r != 20) corrupt_rdata("SOA", "not 20 bytes of numbers after the names");
  soa.mname = wire_to_text(rdata.substr(0, m));
  soa.rname = wire_to_text(rdata.substr(m, r));
  const std::size_t at = m + r;
  soa.serial = get32(rdata, at);
  soa.refresh = get32(rdata, at + 4);
  soa.retry = get32(rdata, at + 8);
  soa.expire = get32(rdata, at + 12);
  soa.minimum = get32(rdata, at + 16);
  return soa;
}

Message parse_message(std::string_view wire) {
  if (wire.size() < 12) corrupt("shorter than the 12-byte header");
  Message m;
  Reader r{wire, 0};
  m.id = r.u16("header");
  const std::uint16_t flags = r.u16("header");
  m.qr = (flags & 0x8000) != 0;
  m.opcode = static_cast<Opcode>((flags >> 11) & 0xf);
  m.aa = (flags & 0x0400) != 0;
  m.tc = (flags & 0x0200) != 0;
  m.rd = (flags & 0x0100) != 0;
  m.ra = (flags & 0x0080) != 0;
  m.rcode = flags & 0xfu;
  const std::uint16_t qdcount = r.u16("header");
  const std::uint16_t ancount = r.u16("header");
  const std::uint16_t nscount = r.u16("header");
  const std::uint16_t arcount = r.u16("header");

  for (unsigned i = 0; i < qdcount; ++i) {
    Question q;
    q.name = wire_to_text(lower_wire(read_name(wire, r.pos, wire.size())));
    q.type = static_cast<Type>(r.u16("question"));
    q.klass = r.u16("question");
    m.questions.push_back(std::move(q));
  }
  const std::uint16_t counts[3] = {ancount, nscount, arcount};
  std::vector<Record>* sections[3] = {&m.answers, &m.authority, &m.additional};
  for (int s = 0; s < 3; ++s) {
    for (unsigned i = 0; i < counts[s]; ++i) {
      const std::size_t start = r.pos;
      Record rec = read_record(r);
      if (rec.type == Type::kTSIG) {
        // RFC 8945 5.1: anywhere but last, the message is malformed.
        if (s != 2 || i + 1 != counts[s]) corrupt("TSIG record not last in the message");
        m.tsig_offset = start;
      }
      sections[s]->push_back(std::move(rec));
    }
  }
  if (r.pos != wire.size()) corrupt("bytes after the last record");
  return m;
}

MessageBuilder::MessageBuilder(std::uint16_t id, Opcode opcode, bool rd)
    : id_(id),
      flags_(static_cast<std::uint16_t>(((static_cast<unsigned>(opcode) & 0xfu) << 11) |
                                        (rd ? 0x0100u : 0u))) {}

void MessageBuilder::add(std::string& section, std::uint16_t& count, std::string_view name,
                         Type type, std::uint16_t klass) {
  if (count == 0xffff) throw UsageError("DNS message section holds 65535 entries already");
  const std::string wire_name = encode_name(name);
  section += wire_name;
  put16(section, static_cast<std::uint16_t>(type));
  put16(section, klass);
  ++count;
}

void MessageBuilder::question(std::string_view name, Type type, std::uint16_t klass) {
  add(sections_[0], counts_[0], name, type, klass);
}

void MessageBuilder::record(Section section, std::string_view name, Type type, std::uint16_t klass,
                            std::uint32_t ttl, std::string_view rdata) {
  if (rdata.size() > 0xffff) throw UsageError("DNS record data longer than 65535 bytes");
  const std::size_t s = 1 + static_cast<std::size_t>(section);
  add(sections_[s], counts_[s], name, type, klass);
  put32(sections_[s], ttl);
  put16(sections_[s], static_cast<std::uint16_t>(rdata.size()));
  sections_[s] += rdata;
}

std::size_t MessageBuilder::size() const noexcept {
  std::size_t n = 12;
  for (const std::string& s : sections_) n += s.size();
  return n;
}

std::string MessageBuilder::finish() const {
  if (size() > kMaxMessageBytes) {
    throw UsageError(
        fmt::format("DNS message of {} bytes is over the limit of {}", size(), kMaxMessageBytes));
  }
  std::string out;
  out.reserve(size());
  put16(out, id_);
  put16(out, flags_);
  for (std::uint16_t c : counts_) put16(out, c);
  for (const std::string& s : sections_) out += s;
  return out;
}

UpdateBuilder::UpdateBuilder(std::uint16_t id, std::string_view zone)
    : builder_(id, Opcode::kUpdate), zone_(normalize_name(zone)) {
  builder_.question(zone_, Type::kSOA, kClassIN);
}

void UpdateBuilder::change(std::string_view name, Type type, std::uint16_t klass, std::uint32_t ttl,
                           std::string_view rdata) {
  if (!name_in_zone(name, zone_)) {
    throw UsageError(
        fmt::format("DNS name '{}' is not in zone '{}'", printable(name), printable(zone_)));
  }
  builder_.record(MessageBuilder::Section::kAuthority, name, type, klass, ttl, rdata);
  ++changes_;
}

void UpdateBuilder::add(std::string_view name, Type type, std::uint32_t ttl,
                        std::string_view rdata) {
  change(name, type, kClassIN, ttl, rdata);
}

void UpdateBuilder::delete_rrset(std::string_view name, Type type) {
  change(name, type, kClassANY, 0, {});
}

void UpdateBuilder::delete_name(std::string_view name) {
  change(name, Type::kANY, kClassANY, 0, {});
}

void UpdateBuilder::delete_rr(std::string_view name, Type type, std::string_view rdata) {
  change(name, type, kClassNONE, 0, rdata);
}

std::string tcp_frame(std::string_view message) {
  if (message.size() > kMaxMessageBytes) {
    throw UsageError(fmt::format("DNS message of {} bytes is too long for TCP", message.size()));
  }
  std::string out;
  out.reserve(2 + message.size());
  put16(out, static_cast<std::uint16_t>(message.size()));
  out += message;
  return out;
}

}  // namespace exigrey::dns

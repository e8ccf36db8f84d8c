// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/dns_wire.h: DNS messages in wire format (RFC 1035), enough for
// the collector to send RFC 2136 dynamic UPDATEs to a name server and read
// a zone back by AXFR (both over TCP, signed with TSIG: exigrey/tsig.h).
//
// Names as text: "4.3.2.1.bl.example.org", with or without a trailing dot;
// "." or "" is the root. A label holds printable ASCII except '.' and
// blanks; '\' escapes as in zone files: "\." is a dot inside a label,
// "\\" a backslash, "\DDD" the byte of that decimal value. Text made from
// wire data uses those escapes for every byte outside that set, so any name
// received reads back to the same wire name. Names compare without regard
// to ASCII case.
//
// The builders write no name compression (always valid, simple; name
// servers accept it). The parser accepts compression and decompresses the
// names in the RDATA of NS, CNAME, PTR, MX, SOA and TSIG (the types that
// may be compressed), so a Record's rdata never depends on the message it
// came in. It reads network data: every length is checked, each
// compression pointer must point before the start of the run of labels it
// ends (so pointers cannot loop), names stay within 255 bytes and labels
// within 63, a TSIG record must be the last of the message, and nothing
// may follow the last record.
//
// Errors: UsageError ("invalid DNS name 'x': why", "invalid IPv4 address
// ...", ...) for names, addresses and sizes given by a caller;
// Error(kCorrupt, "malformed DNS message: why") and Error(kCorrupt,
// "malformed ... rdata: why") for wire data received. Messages are one
// line; names echoed in them have unprintable bytes replaced.
//
// Ownership: every result owns its bytes; no view into an argument is kept.
// Thread safety: pure functions and value types; a builder is not
// synchronised (one per thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exigrey::dns {

// Values not listed are kept as they are (the enums have fixed underlying types).
enum class Type : std::uint16_t {
  kA = 1,
  kNS = 2,
  kCNAME = 5,
  kSOA = 6,
  kPTR = 12,
  kMX = 15,
  kTXT = 16,
  kAAAA = 28,
  kOPT = 41,
  kTSIG = 250,
  kIXFR = 251,
  kAXFR = 252,
  kANY = 255,
};
inline constexpr std::uint16_t kClassIN = 1, kClassNONE = 254, kClassANY = 255;
enum class Opcode : std::uint8_t { kQuery = 0, kNotify = 4, kUpdate = 5 };
enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNXDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kYXDomain = 6,
  kYXRRSet = 7,
  kNXRRSet = 8,
  kNotAuth = 9,
  kNotZone = 10,
};

inline constexpr std::size_t kMaxNameBytes = 255;  // wire form, root byte included
inline constexpr std::size_t kMaxLabelBytes = 63;
inline constexpr std::size_t kMaxMessageBytes = 65535;  // what a TCP length prefix can frame

// "NOERROR", "REFUSED", ...; "RCODE12" for values without a name. (A string,
// not a view: the unnamed ones are made on demand.)
std::string rcode_name(unsigned rcode);

// Uncompressed wire form. Throws UsageError("invalid DNS name 'x': why")
// for an empty label, a label over 63 bytes, a total over 255, a byte
// outside printable ASCII, or a bad escape.
std::string encode_name(std::string_view name);
// Lower-case, no trailing dot, escapes made canonical (root = ""). Throws as encode_name.
std::string normalize_name(std::string_view name);
// Case-insensitive, trailing dot ignored. Throws as encode_name.
bool names_equal(std::string_view a, std::string_view b);
// Whether `name` is `zone` or below it. Throws as encode_name.
bool name_in_zone(std::string_view name, std::string_view zone);

// RDATA helpers (wire form).
std::string rdata_a(std::string_view dotted_quad);  // UsageError unless an IPv4 address
// Split into character-strings of at most 255 bytes; "" gives one empty
// string. UsageError if the RDATA would exceed 65535 bytes.
std::string rdata_txt(std::string_view text);
std::string txt_text(std::string_view rdata);   // the strings joined; kCorrupt if malformed
std::string a_text(std::string_view rdata);     // "127.0.0.2"; kCorrupt unless 4 bytes
std::string rdata_name(std::string_view name);  // = encode_name: CNAME/NS/PTR rdata
// Uncompressed wire name (exactly one, nothing after it) -> "a.b.c": case
// kept, no trailing dot, root "". kCorrupt if malformed.
std::string name_text(std::string_view wire_name);

struct Soa {
  std::string mname, rname;  // text
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
  friend bool operator==(const Soa&, const Soa&) = default;
};
std::string rdata_soa(const Soa& soa);  // UsageError for a bad name
Soa parse_soa(std::string_view rdata);  // uncompressed rdata; kCorrupt if malformed

struct Record {
  std::string name;  // text, normalized (lower-case, no trailing dot)
  Type type = Type::kA;
  std::uint16_t klass = kClassIN;
  std::uint32_t ttl = 0;
  std::string rdata;  // wire form, names decompressed (see above)
};
struct Question {
  std::string name;  // text, normalized
  Type type = Type::kA;
  std::uint16_t klass = kClassIN;
};

struct Message {
  std::uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false;
  Opcode opcode = Opcode::kQuery;
  unsigned rcode = 0;               // the header's 4 bits (OPT's extended bits are not added)
  std::vector<Question> questions;  // UPDATE: the zone section
  std::vector<Record> answers;      // UPDATE: prerequisites
  std::vector<Record> authority;    // UPDATE: updates
  std::vector<Record> additional;   // a TSIG record, if any, is the last
  // Where the TSIG record starts in the wire (what TSIG verification strips);
  // 0 when there is none.
  std::size_t tsig_offset = 0;
};
// Throws Error(kCorrupt, "malformed DNS message: why").
Message parse_message(std::string_view wire);

class MessageBuilder {
 public:
  MessageBuilder(std::uint16_t id, Opcode opcode, bool rd = false);
  // UsageError for a bad name, or a section over 65535 entries.
  void question(std::string_view name, Type type, std::uint16_t klass = kClassIN);
  enum class Section { kAnswer, kAuthority, kAdditional };
  // UsageError for a bad name, rdata over 65535 bytes, or a section over 65535 entries.
  void record(Section section, std::string_view name, Type type, std::uint16_t klass,
              std::uint32_t ttl, std::string_view rdata);
  std::size_t size() const noexcept;  // bytes so far, header included
  // The message, counts filled in. UsageError if over kMaxMessageBytes.
  std::string finish() const;

 private:
  void add(std::string& section, std::uint16_t& count, std::string_view name, Type type,
           std::uint16_t klass);

  std::uint16_t id_;
  std::uint16_t flags_;
  std::array<std::uint16_t, 4> counts_{};  // question, answer, authority, additional
  std::array<std::string, 4> sections_;
};

// An RFC 2136 UPDATE of one zone: the zone section is the question (SOA,
// IN); the changes go in the update (authority) section, in order.
// Every name must be in the zone (UsageError otherwise: the server would
// answer NOTZONE).
class UpdateBuilder {
 public:
  UpdateBuilder(std::uint16_t id, std::string_view zone);
  // Adds an RR: class IN, ttl, rdata.
  void add(std::string_view name, Type type, std::uint32_t ttl, std::string_view rdata);
  // Deletes an RRset: class ANY, ttl 0, empty rdata.
  void delete_rrset(std::string_view name, Type type);
  // Deletes all RRsets at a name: class ANY, type ANY, ttl 0, empty rdata.
  void delete_name(std::string_view name);
  // Deletes one RR: class NONE, ttl 0, its rdata.
  void delete_rr(std::string_view name, Type type, std::string_view rdata);
  std::size_t size() const noexcept { return builder_.size(); }
  std::size_t changes() const noexcept { return changes_; }
  std::string finish() const { return builder_.finish(); }

 private:
  void change(std::string_view name, Type type, std::uint16_t klass, std::uint32_t ttl,
              std::string_view rdata);

  MessageBuilder builder_;
  std::string zone_;  // normalized
  std::size_t changes_ = 0;
};

// TCP framing: a 2-byte big-endian length, then the message. UsageError
// if the message is over kMaxMessageBytes.
std::string tcp_frame(std::string_view message);

}  // namespace exigrey::dns

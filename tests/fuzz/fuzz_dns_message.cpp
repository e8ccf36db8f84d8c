// SPDX-License-Identifier: GPL-2.0-or-later
// A DNS message as a name server sends it to the collector (UPDATE
// answers, AXFR streams): parsed, its record data read, its TSIG checked.
// What parses must build again into a message that parses the same.
#include "exigrey/dns_wire.h"
#include "exigrey/tsig.h"
#include "fuzz_common.h"

namespace {

using namespace exigrey::dns;

bool same_records(const std::vector<Record>& a, const std::vector<Record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].type != b[i].type || a[i].klass != b[i].klass ||
        a[i].ttl != b[i].ttl || a[i].rdata != b[i].rdata) {
      return false;
    }
  }
  return true;
}

void read_rdata(const Record& r) {
  switch (r.type) {
    case Type::kA:
      (void)a_text(r.rdata);
      break;
    case Type::kTXT:
      (void)txt_text(r.rdata);
      break;
    case Type::kSOA:
      (void)parse_soa(r.rdata);
      break;
    case Type::kNS:
    case Type::kCNAME:
    case Type::kPTR:
      (void)name_text(r.rdata);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace exigrey;
  const std::string_view in = fuzz::as_view(data, size);
  fuzz::expect_only_exigrey_errors([&] {
    const Message m = parse_message(in);
    for (const Question& q : m.questions) {
      if (q.name != normalize_name(q.name)) std::abort();
    }
    MessageBuilder b(m.id, m.opcode, m.rd);
    for (const Question& q : m.questions) b.question(q.name, q.type, q.klass);
    const std::pair<MessageBuilder::Section, const std::vector<Record>*> sections[] = {
        {MessageBuilder::Section::kAnswer, &m.answers},
        {MessageBuilder::Section::kAuthority, &m.authority},
        {MessageBuilder::Section::kAdditional, &m.additional}};
    for (const auto& [section, records] : sections) {
      for (const Record& r : *records) {
        if (r.name != normalize_name(r.name)) std::abort();
        b.record(section, r.name, r.type, r.klass, r.ttl, r.rdata);
        fuzz::expect_only_exigrey_errors([&] { read_rdata(r); });
      }
    }
    // Decompressed, a message may outgrow 64 KiB: then there is nothing to compare.
    if (b.size() > kMaxMessageBytes) return;
    const Message again = parse_message(b.finish());
    for (std::size_t i = 0; i < m.questions.size() && i < again.questions.size(); ++i) {
      if (again.questions[i].name != m.questions[i].name) std::abort();
    }
    if (again.questions.size() != m.questions.size() || !same_records(again.answers, m.answers) ||
        !same_records(again.authority, m.authority) ||
        !same_records(again.additional, m.additional) ||
        (again.tsig_offset == 0) != (m.tsig_offset == 0)) {
      std::abort();
    }
  });
  fuzz::expect_only_exigrey_errors([&] {
    const TsigKey key{"key.example", "hmac-sha256", std::string(32, 'k')};
    TsigVerifier verifier(key, std::string(32, 'm'), 1'750'000'000);
    // The seed "axfr-compressed-signed" is signed with this key over this
    // request MAC, so mutations of a genuine answer reach the MAC check.
    (void)verifier.verify(in, false);
  });
  return 0;
}

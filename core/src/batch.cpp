// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/batch.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>

#include "protocol_text.h"

namespace exigrey {
namespace {

using detail::fields;
using detail::malformed;
using detail::number;
using detail::strip_cr;

bool reporter_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

constexpr UnixTime kMaxTime = detail::kMaxProtocolTime;

}  // namespace

void check_reporter_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxReporterId) {
    throw UsageError(fmt::format("exigrey: reporter id must be 1 to {} bytes", kMaxReporterId));
  }
  for (char c : id) {
    if (!reporter_byte(c)) {
      throw UsageError("exigrey: reporter id may contain only letters, digits, '.', '_' and '-'");
    }
  }
}

void check_secret(std::string_view secret) {
  if (secret.size() < kMinSecret || secret.size() > kMaxSecret) {
    throw UsageError(fmt::format(
        "exigrey: a secret must be {} to {} bytes (make one with: openssl rand -hex 32)",
        kMinSecret, kMaxSecret));
  }
  for (char c : secret) {
    if (c <= ' ' || c == 0x7f) {
      throw UsageError("exigrey: a secret must be printable, without blanks");
    }
  }
}

std::string batch_mac(std::string_view secret, std::string_view header_line,
                      std::string_view body) {
  // The MAC algorithm is fetched once; EVP_MAC objects are thread-safe to share.
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) throw std::runtime_error("exigrey: OpenSSL has no HMAC");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  if (ctx == nullptr) throw std::bad_alloc();
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                               OSSL_PARAM_construct_end()};
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  const bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(header_line.data()),
                     header_line.size()) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
      EVP_MAC_final(ctx, mac, &len, sizeof mac) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) throw std::runtime_error("exigrey: HMAC-SHA256 failed in OpenSSL");
  std::string hex;
  hex.reserve(2 * len);
  for (std::size_t i = 0; i < len; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", mac[i]);
  return hex;
}

std::string encode_batch(const Batch& batch, std::string_view secret) {
  check_reporter_id(batch.reporter);
  if (batch.items.empty() || batch.items.size() > kMaxBatchReports) {
    throw UsageError(fmt::format("exigrey: a batch holds 1 to {} reports", kMaxBatchReports));
  }
  std::string body;
  std::uint64_t last = 0;
  for (const BatchItem& item : batch.items) {
    if (item.id <= last) throw UsageError("exigrey: report ids in a batch must increase");
    last = item.id;
    const Report& r = item.report;
    parse_note(r.note);  // the note must stay one line
    fmt::format_to(std::back_inserter(body), "{} {} {} {}", item.id, to_string(r.verb),
                   r.subject.text, r.time);
    if (!r.note.empty()) {
      body += ' ';
      body += r.note;
    }
    body += '\n';
  }
  if (body.size() > kMaxBatchBody) throw UsageError("exigrey: batch body over the size limit");
  return detail::signed_frame(fmt::format("{} BATCH {} {} {} {} {}\n", kBatchMagic, batch.reporter,
                                          last, batch.sent, batch.items.size(), body.size()),
                              body, secret);
}

std::string_view sent_time_refusal(UnixTime sent, UnixTime now) noexcept {
  if (sent < now - kMaxBatchAge) return "too-old";
  if (sent > now + kMaxBatchFuture) return "too-new";
  return {};
}

BatchHeader parse_batch_header(std::string_view line) {
  line = strip_cr(line);
  if (line.size() > kMaxProtocolLine) malformed("header line too long");
  const auto f = fields(line, 7);
  if (f.size() != 7 || f[0] != kBatchMagic || f[1] != "BATCH") malformed("not an EXIGREY/1 BATCH");
  BatchHeader h;
  try {
    check_reporter_id(f[2]);
  } catch (const UsageError&) {
    malformed("bad reporter id");
  }
  h.reporter = std::string(f[2]);
  h.seq = number<std::uint64_t>(f[3], 1, (std::uint64_t{1} << 63) - 1, "seq");
  h.sent = number<UnixTime>(f[4], 0, kMaxTime, "sent time");
  h.count = number<std::uint32_t>(f[5], 1, kMaxBatchReports, "count");
  h.length = number<std::uint32_t>(f[6], 1, kMaxBatchBody, "length");
  return h;
}

void verify_batch_mac(std::string_view mac_line, std::string_view secret,
                      std::string_view header_line, std::string_view body) {
  mac_line = strip_cr(mac_line);
  if (mac_line.size() != 4 + 64 || !mac_line.starts_with("MAC ")) malformed("bad MAC line");
  const std::string expected = batch_mac(secret, header_line, body);
  if (CRYPTO_memcmp(expected.data(), mac_line.data() + 4, 64) != 0) {
    throw ProtocolError("bad-mac", "exigrey: batch MAC does not verify");
  }
}

std::vector<BatchItem> parse_batch_body(std::string_view body, const BatchHeader& header) {
  if (body.size() != header.length) malformed("body length differs from the header");
  std::vector<BatchItem> out;
  out.reserve(header.count);
  std::uint64_t last = 0;
  while (!body.empty()) {
    const auto nl = body.find('\n');
    if (nl == std::string_view::npos) malformed("last report line has no newline");
    const std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    if (out.size() == header.count) malformed("more report lines than count");
    // id SP verb SP subject SP time [SP note]
    std::string_view part[4];
    std::string_view rest = line;
    for (auto& p : part) {
      const auto sp = rest.find(' ');
      p = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
      if (p.empty()) malformed("report line needs id, verb, subject and time");
    }
    BatchItem item;
    item.id = number<std::uint64_t>(part[0], 1, header.seq, "report id");
    if (item.id <= last) malformed("report ids do not increase");
    last = item.id;
    try {
      item.report.verb = parse_verb(part[1]);
      item.report.subject = parse_subject(part[2]);
      if (!rest.empty()) item.report.note = parse_note(rest);
    } catch (const UsageError& e) {
      malformed(e.what());
    }
    item.report.time = number<UnixTime>(part[3], 0, kMaxTime, "report time");
    out.push_back(std::move(item));
  }
  if (out.size() != header.count) malformed("fewer report lines than count");
  if (last != header.seq) malformed("seq is not the id of the last report");
  return out;
}

std::string format_answer(const Answer& a) {
  switch (a.kind) {
    case AnswerKind::kAck:
      return fmt::format("ACK {}\n", a.seq);
    case AnswerKind::kAckDup:
      return fmt::format("ACK {} dup\n", a.seq);
    case AnswerKind::kNak:
      return fmt::format("NAK {} {}\n", a.seq, a.reason);
  }
  return "NAK 0 malformed\n";
}

Answer parse_answer(std::string_view line) {
  line = strip_cr(line);
  if (line.size() > kMaxProtocolLine) malformed("answer line too long");
  const auto f = fields(line, 3);
  Answer a;
  if (f.size() < 2) malformed("short answer");
  a.seq = number<std::uint64_t>(f[1], 0, (std::uint64_t{1} << 63) - 1, "seq");
  if (f[0] == "ACK" && f.size() == 2) {
    a.kind = AnswerKind::kAck;
  } else if (f[0] == "ACK" && f.size() == 3 && f[2] == "dup") {
    a.kind = AnswerKind::kAckDup;
  } else if (f[0] == "NAK" && f.size() == 3) {
    a.kind = AnswerKind::kNak;
    a.reason = std::string(f[2]);
  } else {
    malformed("unknown answer");
  }
  return a;
}

}  // namespace exigrey

// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/peer_batch.h"

#include <fmt/format.h>

#include "exigrey/dump.h"
#include "exigrey/paths.h"
#include "protocol_text.h"

namespace exigrey {
namespace {

using detail::fields;
using detail::malformed;
using detail::number;
using detail::strip_cr;

// A DB name on the wire: a plain name (no path), as reporter ids are.
void check_db(std::string_view db) {
  try {
    check_reporter_id(db);
    (void)resolve_db_path(db, "/");  // refuses a store's own suffixes
  } catch (const UsageError&) {
    throw UsageError(fmt::format("exigrey: {:?} is not a plain DB name", db));
  }
}

}  // namespace

std::string encode_peer_batch(const PeerBatch& batch, std::string_view secret) {
  check_reporter_id(batch.sender);
  check_db(batch.db);
  if (batch.records.empty() || batch.records.size() > kMaxPeerBatchRecords) {
    throw UsageError(
        fmt::format("exigrey: a peer batch holds 1 to {} records", kMaxPeerBatchRecords));
  }
  std::string body;
  std::uint64_t last = 0;
  for (const PeerRecord& r : batch.records) {
    if (r.id <= last) throw UsageError("exigrey: record ids in a peer batch must increase");
    last = r.id;
    fmt::format_to(std::back_inserter(body), "{} ", r.id);
    body += r.record.kind == LoadedRecord::Kind::kItem
                ? dump_item_line(r.record.name, r.record.item)
                : dump_whitelist_line(r.record.name, r.record.entry);
  }
  if (body.size() > kMaxPeerBatchBody) throw UsageError("exigrey: peer batch over the size limit");
  return detail::signed_frame(
      fmt::format("{} GREY {} {} {} {} {} {}\n", kBatchMagic, batch.sender, batch.db, last,
                  batch.sent, batch.records.size(), body.size()),
      body, secret);
}

PeerBatchHeader parse_peer_batch_header(std::string_view line) {
  line = strip_cr(line);
  if (line.size() > kMaxProtocolLine) malformed("header line too long");
  const auto f = fields(line, 8);
  if (f.size() != 8 || f[0] != kBatchMagic || f[1] != "GREY") malformed("not an EXIGREY/1 GREY");
  PeerBatchHeader h;
  try {
    check_reporter_id(f[2]);
    check_db(f[3]);
  } catch (const UsageError&) {
    malformed("bad sender or DB name");
  }
  h.sender = std::string(f[2]);
  h.db = std::string(f[3]);
  h.seq = number<std::uint64_t>(f[4], 1, (std::uint64_t{1} << 63) - 1, "seq");
  h.sent = number<UnixTime>(f[5], 0, detail::kMaxProtocolTime, "sent time");
  h.count = number<std::uint32_t>(f[6], 1, kMaxPeerBatchRecords, "count");
  h.length = number<std::uint32_t>(f[7], 1, kMaxPeerBatchBody, "length");
  return h;
}

std::vector<PeerRecord> parse_peer_batch_body(std::string_view body,
                                              const PeerBatchHeader& header) {
  if (body.size() != header.length) malformed("body length differs from the header");
  std::vector<PeerRecord> out;
  out.reserve(header.count);
  std::uint64_t last = 0;
  while (!body.empty()) {
    const auto nl = body.find('\n');
    if (nl == std::string_view::npos) malformed("last record line has no newline");
    const std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    if (out.size() == header.count) malformed("more record lines than count");
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) malformed("a record line needs an id and a record");
    PeerRecord r;
    r.id = number<std::uint64_t>(line.substr(0, sp), 1, header.seq, "record id");
    if (r.id <= last) malformed("record ids do not increase");
    last = r.id;
    if (const std::string why = parse_dump_record(line.substr(sp + 1), r.record); !why.empty()) {
      malformed(why);
    }
    out.push_back(std::move(r));
  }
  if (out.size() != header.count) malformed("fewer record lines than count");
  if (last != header.seq) malformed("seq is not the id of the last record");
  return out;
}

}  // namespace exigrey

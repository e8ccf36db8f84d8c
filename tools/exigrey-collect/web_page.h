// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/web_page.h: the public lookup page of the blocklist, as
// pure functions: escaping, form decoding and the HTML and JSON renderers.
//
// What the public may see about a subject is a PublicView (listed or not,
// since when, categories, how many reporters, never who); WebText is what
// the operator says on every page. The pages are plain server-side HTML
// with one inline <style>, no script and no external resource, so they work
// without JavaScript under the strict Content-Security-Policy that
// web_listener.h sends. Every byte that comes from a client, the store or
// the operator goes through html_escape or json_escape; invalid UTF-8
// becomes U+FFFD, so a page is always valid UTF-8.
//
// Elements tests and scrapers may rely on: id="status" (its text starts
// with "listed", "not listed" or "invalid"), id="since", id="categories",
// id="reporters", id="removal" (the operator's text), id="request-form",
// id="request-result". Times are ISO 8601 UTC ("2025-01-02T03:04:05Z").
//
// Errors: parse_form and url_decode return nullopt on anything outside
// their bounds; nothing here throws except std::bad_alloc.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exigrey::collect {

inline constexpr std::size_t kMaxQueryBytes = 300;     // the `q` of a lookup
inline constexpr std::size_t kMaxContactBytes = 254;   // an e-mail address (RFC 5321 path)
inline constexpr std::size_t kMaxMessageBytes = 1000;  // a removal request's message
inline constexpr std::size_t kMaxFormFields = 8;
inline constexpr std::size_t kMaxFieldNameBytes = 32;
inline constexpr std::size_t kMaxFieldValueBytes = 1000;

struct PublicView {     // what the public may see about one query
  std::string query;    // what was typed (already bounded by the parser)
  std::string subject;  // normalised subject; empty when the query is not a valid subject
  std::string error;    // why not (one line), when subject is empty
  bool listed = false;
  bool manual = false;                  // listed by the operator (a ban) rather than by reports
  std::int64_t listed_since = 0;        // unix seconds, 0 when not listed
  std::int64_t listed_until = 0;        // 0: until the evidence expires
  std::vector<std::string> categories;  // e.g. {"virus","trap"}
  unsigned reporters = 0;               // distinct reporters counting now
  std::int64_t last_report = 0;
  bool request_pending = false;  // a removal request is already recorded
};

struct WebText {
  std::string list_name = "exigrey";
  std::string removal_text;  // the operator's removal policy, shown on listed pages
  std::string zone;          // the DNS zone, shown when not empty
};

enum class RequestOutcome { kRecorded, kAlreadyPending, kNotListed, kRateLimited, kFull, kInvalid };

// "recorded", "already_pending", "not_listed", "rate_limited", "full", "invalid".
std::string_view to_string(RequestOutcome outcome) noexcept;
// The HTTP status a removal request gets with this outcome (200, 429, 503, 400).
int http_status(RequestOutcome outcome) noexcept;

// &, <, >, " and ' as entities; control bytes other than \t \n \r and
// invalid UTF-8 as U+FFFD. Safe in element text and in quoted attributes.
std::string html_escape(std::string_view text);
// The inside of a JSON string (no surrounding quotes): ", \ and control
// bytes escaped, <, > and & as \u003c, \u003e, \u0026, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd.
std::string json_escape(std::string_view text);
// application/x-www-form-urlencoded decoding: "+" is a space, %XX two hex
// digits; a bad or truncated escape is nullopt.
std::optional<std::string> url_decode(std::string_view text);
// ISO 8601 UTC, "2025-01-02T03:04:05Z"; "" outside years 1970..9999.
std::string iso_time(std::int64_t unix_seconds);

// A query string or form body ("a=1&b=2"). nullopt on: more than
// kMaxFormFields fields, a name that is empty, longer than
// kMaxFieldNameBytes or not [A-Za-z0-9_.-], a repeated name, a bad escape,
// a decoded value longer than kMaxFieldValueBytes or not valid UTF-8, or a
// control byte in a value (\r \n \t are allowed in the field `message`).
// Empty pieces ("a=1&&b=2") are skipped.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view text);

// Pages (complete HTML documents, UTF-8).
std::string render_home(const WebText& text);
std::string render_lookup(const PublicView& view, const WebText& text);
std::string render_request_result(RequestOutcome outcome, std::string_view subject,
                                  const WebText& text);
std::string render_error_page(int status, std::string_view text);

// JSON documents (one object, no trailing newline). The lookup carries the
// operator's removal text, hence `text`.
std::string render_lookup_json(const PublicView& view, const WebText& text);
std::string render_request_json(RequestOutcome outcome, std::string_view subject);
std::string render_error_json(int status, std::string_view text);

// The reason phrase of the statuses the listener sends ("Not Found").
std::string_view status_reason(int status) noexcept;

}  // namespace exigrey::collect

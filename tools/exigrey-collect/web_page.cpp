// SPDX-License-Identifier: GPL-2.0-or-later
#include "web_page.h"

#include <fmt/format.h>

#include <array>

namespace exigrey::collect {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Decodes the code point at s[i] and advances i; invalid UTF-8 (overlong
// forms, surrogates, beyond U+10FFFF, truncated) consumes one byte and is
// nullopt, so that every input byte is either part of a good character or
// replaced.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    ++i;
    return std::nullopt;
  }
  if (s.size() - i < len) {
    ++i;
    return std::nullopt;
  }
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return std::nullopt;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return std::nullopt;
  }
  i += len;
  return cp;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (!next_code_point(s, i)) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// For the links back to a lookup: everything but unreserved characters
// percent-encoded, so the result is safe in a query and, once HTML-escaped,
// in an attribute.
std::string url_encode(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~' || u == ':') {
      out.push_back(c);
    } else {
      fmt::format_to(std::back_inserter(out), "%{:02X}", u);
    }
  }
  return out;
}

bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxFieldNameBytes) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Only the message is multi-line; in every other field a line break could
// only be an attempt to forge something downstream (a log line, a mail header).
bool valid_field_value(std::string_view name, std::string_view value) {
  if (value.size() > kMaxFieldValueBytes || !valid_utf8(value)) return false;
  const bool multiline = name == "message";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) continue;
    if (multiline && (c == '\r' || c == '\n' || c == '\t')) continue;
    return false;
  }
  return true;
}

// Howard Hinnant's civil_from_days: no locale, no time zone database.
struct Civil {
  std::int64_t year;
  unsigned month, day;
};
Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {m <= 2 ? y + 1 : y, m, d};
}

std::string json_string(std::string_view s) { return "\"" + json_escape(s) + "\""; }

std::string json_time(std::int64_t t) {
  const std::string iso = t == 0 ? "" : iso_time(t);
  return iso.empty() ? "null" : json_string(iso);
}

// The page around every body: one inline style, nothing external, no script.
constexpr std::string_view kStyle =
    "body{font-family:sans-serif;margin:0;background:#f4f5f7;color:#1d2230}"
    "main{max-width:44rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;"
    "border:1px solid #d5d9e0;border-radius:6px}"
    "h1{font-size:1.5rem;margin-top:0}h2{font-size:1.15rem}"
    "form{margin:1rem 0}label{display:block;margin:.6rem 0 .2rem}"
    "input[type=text],input[type=email],textarea{width:100%;box-sizing:border-box;padding:.45rem;"
    "font-size:1rem;border:1px solid #9aa3b2;border-radius:4px}"
    "button{margin-top:.6rem;padding:.45rem 1.1rem;font-size:1rem;border:0;border-radius:4px;"
    "background:#2f5fb3;color:#fff}"
    ".status{padding:.8rem 1rem;border-radius:4px;font-weight:bold}"
    ".listed{background:#fbe3e1;border-left:6px solid #c0392b}"
    ".clean{background:#e2f4e6;border-left:6px solid #2e8b47}"
    ".invalid{background:#fff4d6;border-left:6px solid #c99a06}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dd{margin:0}"
    "#removal{white-space:pre-wrap;background:#f4f5f7;padding:.8rem;border-radius:4px}"
    "code{word-break:break-all}footer{margin-top:2rem;font-size:.85rem;color:#5c6475}";

std::string page(std::string_view title, const WebText& text, std::string_view body) {
  std::string footer = html_escape(text.list_name);
  if (!text.zone.empty()) {
    footer += fmt::format(" &middot; DNS zone <code id=\"zone\">{}</code>", html_escape(text.zone));
  }
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"referrer\" content=\"no-referrer\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n{}"
      "<footer>{}</footer>\n</main>\n</body>\n</html>\n",
      html_escape(title), kStyle, body, footer);
}

std::string lookup_form(const WebText& text, std::string_view query) {
  return fmt::format(
      "<h1>{} lookup</h1>\n"
      "<form id=\"lookup-form\" method=\"get\" action=\"/lookup\">\n"
      "<label for=\"q\">IP address or domain name</label>\n"
      "<input type=\"text\" id=\"q\" name=\"q\" maxlength=\"{}\" required value=\"{}\">\n"
      "<button type=\"submit\">Look up</button>\n</form>\n",
      html_escape(text.list_name), kMaxQueryBytes, html_escape(query));
}

std::string time_html(std::int64_t t) {
  const std::string iso = iso_time(t);
  if (t == 0 || iso.empty()) return "unknown";
  return fmt::format("<time datetime=\"{0}\">{0}</time>", iso);
}

std::string listed_details(const PublicView& v, const WebText& text) {
  std::string categories;
  for (const std::string& c : v.categories) {
    if (!categories.empty()) categories += ", ";
    categories += html_escape(c);
  }
  if (v.manual)
    categories =
        categories.empty() ? "listed by the operator" : "listed by the operator: " + categories;
  if (categories.empty()) categories = "none given";
  std::string out = "<dl>\n";
  out += fmt::format("<dt>Listed since</dt><dd id=\"since\">{}</dd>\n", time_html(v.listed_since));
  out += fmt::format(
      "<dt>Listed until</dt><dd id=\"until\">{}</dd>\n",
      v.listed_until == 0 ? std::string("the reports expire") : time_html(v.listed_until));
  out += fmt::format("<dt>Why</dt><dd id=\"categories\">{}</dd>\n", categories);
  out += fmt::format("<dt>Reporters</dt><dd id=\"reporters\">{}</dd>\n", v.reporters);
  if (v.last_report != 0) {
    out += fmt::format("<dt>Last report</dt><dd id=\"last-report\">{}</dd>\n",
                       time_html(v.last_report));
  }
  out += "</dl>\n<h2>Removal</h2>\n";
  out += fmt::format("<div id=\"removal\">{}</div>\n",
                     text.removal_text.empty()
                         ? std::string("Listings expire on their own when the reports stop. "
                                       "If you believe this listing is wrong, ask for its removal.")
                         : html_escape(text.removal_text));
  if (v.request_pending) {
    out +=
        "<p id=\"request-pending\">A removal request for this subject is pending; "
        "the operator will review it.</p>\n";
  } else {
    out += fmt::format(
        "<form id=\"request-form\" method=\"post\" action=\"/request\">\n"
        "<input type=\"hidden\" name=\"subject\" value=\"{}\">\n"
        "<label for=\"contact\">Your e-mail address</label>\n"
        "<input type=\"email\" id=\"contact\" name=\"contact\" maxlength=\"{}\" required>\n"
        "<label for=\"message\">Why should it be removed?</label>\n"
        "<textarea id=\"message\" name=\"message\" maxlength=\"{}\" rows=\"5\"></textarea>\n"
        "<button type=\"submit\">Request removal</button>\n</form>\n",
        html_escape(v.subject), kMaxContactBytes, kMaxMessageBytes);
  }
  return out;
}

}  // namespace

std::string_view to_string(RequestOutcome outcome) noexcept {
  switch (outcome) {
    case RequestOutcome::kRecorded:
      return "recorded";
    case RequestOutcome::kAlreadyPending:
      return "already_pending";
    case RequestOutcome::kNotListed:
      return "not_listed";
    case RequestOutcome::kRateLimited:
      return "rate_limited";
    case RequestOutcome::kFull:
      return "full";
    case RequestOutcome::kInvalid:
      return "invalid";
  }
  return "invalid";
}

int http_status(RequestOutcome outcome) noexcept {
  switch (outcome) {
    case RequestOutcome::kRecorded:
    case RequestOutcome::kAlreadyPending:
    case RequestOutcome::kNotListed:
      return 200;
    case RequestOutcome::kRateLimited:
      return 429;
    case RequestOutcome::kFull:
      return 503;
    case RequestOutcome::kInvalid:
      return 400;
  }
  return 400;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const auto cp = next_code_point(text, i);
    if (!cp) {
      out += "\xEF\xBF\xBD";
      continue;
    }
    switch (*cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\t':
      case '\n':
      case '\r':
        out.push_back(static_cast<char>(*cp));
        break;
      default:
        if (*cp < 0x20 || *cp == 0x7f) {
          out += "\xEF\xBF\xBD";
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
  return out;
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const auto cp = next_code_point(text, i);
    if (!cp) {
      out += "\\ufffd";
      continue;
    }
    switch (*cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // <, > and & too, so that the JSON stays inert if a client ever
        // embeds it in HTML; U+2028/9 because JavaScript strings cannot
        // hold them raw.
        if (*cp < 0x20 || *cp == 0x7f || *cp == '<' || *cp == '>' || *cp == '&' || *cp == '\'' ||
            *cp == 0x2028 || *cp == 0x2029) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<std::uint32_t>(*cp));
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
  return out;
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (text.size() - i < 3) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string iso_time(std::int64_t t) {
  // 9999-12-31T23:59:59Z; beyond, the format would change width.
  if (t < 0 || t > 253402300799) return "";
  const std::int64_t days = t / 86400;
  const std::int64_t secs = t % 86400;
  const Civil c = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, secs / 3600,
                     secs / 60 % 60, secs % 60);
}

std::optional<std::map<std::string, std::string>> parse_form(std::string_view text) {
  std::map<std::string, std::string> out;
  std::size_t fields = 0;
  while (!text.empty()) {
    const std::size_t amp = text.find('&');
    const std::string_view piece = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (piece.empty()) continue;
    if (++fields > kMaxFormFields) return std::nullopt;
    const std::size_t eq = piece.find('=');
    const std::string_view raw_name = piece.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    // Encoded, a value is at most three bytes per decoded byte: longer
    // cannot fit, and need not be decoded to know it.
    if (raw_name.size() > 3 * kMaxFieldNameBytes || raw_value.size() > 3 * kMaxFieldValueBytes) {
      return std::nullopt;
    }
    auto name = url_decode(raw_name);
    auto value = url_decode(raw_value);
    if (!name || !value || !valid_field_name(*name) || !valid_field_value(*name, *value)) {
      return std::nullopt;
    }
    if (!out.emplace(std::move(*name), std::move(*value)).second) return std::nullopt;
  }
  return out;
}

std::string render_home(const WebText& text) {
  std::string body = lookup_form(text, "");
  body +=
      "<p>Enter an IPv4 or IPv6 address or a domain name to see whether it is listed, since "
      "when and why. Reporters are counted, never named.</p>\n";
  return page(text.list_name + " lookup", text, body);
}

std::string render_lookup(const PublicView& v, const WebText& text) {
  std::string body = lookup_form(text, v.query);
  if (v.subject.empty()) {
    body += fmt::format("<p id=\"status\" class=\"status invalid\">invalid query: {}</p>\n",
                        html_escape(v.error.empty() ? "not an address or a domain name" : v.error));
    body +=
        fmt::format("<p>You asked for <code id=\"query\">{}</code>.</p>\n", html_escape(v.query));
    return page(text.list_name + " lookup: invalid query", text, body);
  }
  const std::string subject = html_escape(v.subject);
  if (v.query != v.subject) {
    body +=
        fmt::format("<p>You asked for <code id=\"query\">{}</code>, that is <code>{}</code>.</p>\n",
                    html_escape(v.query), subject);
  }
  if (v.listed) {
    body += fmt::format(
        "<p id=\"status\" class=\"status listed\">listed: <code>{}</code> is on {}</p>\n", subject,
        html_escape(text.list_name));
    body += listed_details(v, text);
  } else {
    body += fmt::format(
        "<p id=\"status\" class=\"status clean\">not listed: <code>{}</code> is not on {}</p>\n",
        subject, html_escape(text.list_name));
  }
  return page(text.list_name + " lookup: " + v.subject, text, body);
}

std::string render_request_result(RequestOutcome outcome, std::string_view subject,
                                  const WebText& text) {
  const std::string s = html_escape(subject);
  std::string message;
  switch (outcome) {
    case RequestOutcome::kRecorded:
      message = fmt::format(
          "Your removal request for <code>{}</code> is recorded; the operator "
          "will review it.",
          s);
      break;
    case RequestOutcome::kAlreadyPending:
      message = fmt::format("A removal request for <code>{}</code> is already pending.", s);
      break;
    case RequestOutcome::kNotListed:
      message = fmt::format("<code>{}</code> is not listed: there is nothing to remove.", s);
      break;
    case RequestOutcome::kRateLimited:
      message = "Too many requests from your address; please try again later.";
      break;
    case RequestOutcome::kFull:
      message = "Too many removal requests are waiting for review; please try again later.";
      break;
    case RequestOutcome::kInvalid:
      message =
          "This request is not valid: it needs the listed address or name and your "
          "e-mail address, within the form's limits.";
      break;
  }
  std::string body = fmt::format("<h1>{} removal request</h1>\n", html_escape(text.list_name));
  body +=
      fmt::format("<p id=\"request-result\" class=\"status {}\" data-outcome=\"{}\">{}</p>\n",
                  outcome == RequestOutcome::kRecorded || outcome == RequestOutcome::kAlreadyPending
                      ? "clean"
                      : "invalid",
                  to_string(outcome), message);
  if (!subject.empty()) {
    body += fmt::format("<p><a href=\"/lookup?q={}\">Back to <code>{}</code></a></p>\n",
                        html_escape(url_encode(subject)), s);
  } else {
    body += "<p><a href=\"/\">Back to the lookup</a></p>\n";
  }
  return page(text.list_name + " removal request", text, body);
}

std::string render_error_page(int status, std::string_view text) {
  const std::string title = fmt::format("{} {}", status, status_reason(status));
  const std::string body = fmt::format(
      "<h1>{}</h1>\n<p id=\"error\">{}</p>\n<p><a href=\"/\">Back to the lookup</a></p>\n",
      html_escape(title), html_escape(text));
  WebText plain;
  plain.list_name = "exigrey";
  return page(title, plain, body);
}

std::string render_lookup_json(const PublicView& v, const WebText& text) {
  if (v.subject.empty()) {
    return fmt::format("{{\"query\":{},\"valid\":false,\"error\":{}}}", json_string(v.query),
                       json_string(v.error.empty() ? "not an address or a domain name" : v.error));
  }
  std::string categories = "[";
  for (const std::string& c : v.categories) {
    if (categories.size() > 1) categories += ",";
    categories += json_string(c);
  }
  categories += "]";
  return fmt::format(
      "{{\"query\":{},\"subject\":{},\"valid\":true,\"listed\":{},\"manual\":{},\"since\":{},"
      "\"until\":{},\"categories\":{},\"reporters\":{},\"last_report\":{},"
      "\"request_pending\":{},\"removal\":{}}}",
      json_string(v.query), json_string(v.subject), v.listed, v.listed && v.manual,
      v.listed ? json_time(v.listed_since) : "null", v.listed ? json_time(v.listed_until) : "null",
      categories, v.reporters, json_time(v.last_report), v.request_pending,
      json_string(text.removal_text));
}

std::string render_request_json(RequestOutcome outcome, std::string_view subject) {
  return fmt::format("{{\"outcome\":\"{}\",\"subject\":{}}}", to_string(outcome),
                     json_string(subject));
}

std::string render_error_json(int status, std::string_view text) {
  return fmt::format("{{\"status\":{},\"error\":{}}}", status, json_string(text));
}

std::string_view status_reason(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

}  // namespace exigrey::collect

// SPDX-License-Identifier: GPL-2.0-or-later
// The public lookup page: escaping, form decoding, the rendered pages, and
// the listener in-process (headers, errors, rate limits). The end-to-end
// test with a real browser and hostile clients is test_web.py.
#include <fmt/format.h>

#include <asio.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../../tools/exigrey-collect/web_listener.h"
#include "../../tools/exigrey-collect/web_page.h"

using namespace exigrey::collect;

namespace {

const std::string kScript = "<script>alert(1)</script>";
const std::string kImg = "\"><img src=x onerror=alert(1)>";

// The text of the element with this id (tags stripped, entities kept).
// Enough for our own markup: the element does not nest its own tag.
std::string element_text(const std::string& html, const std::string& id) {
  const std::size_t at = html.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "<missing>";
  const std::size_t open = html.rfind('<', at);
  const std::string tag = html.substr(open + 1, html.find_first_of(" >", open) - open - 1);
  const std::size_t start = html.find('>', at) + 1;
  const std::size_t end = html.find("</" + tag + ">", start);
  std::string out;
  bool in_tag = false;
  for (const char c : html.substr(start, end - start)) {
    if (c == '<') in_tag = true;
    if (!in_tag) out.push_back(c);
    if (c == '>') in_tag = false;
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80             ? 1
                      : (b & 0xE0) == 0xC0 ? 2
                      : (b & 0xF0) == 0xE0 ? 3
                      : (b & 0xF8) == 0xF0 ? 4
                                           : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    const std::uint32_t min = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

struct Tag {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // values as written
};

// Every tag of a document, as a browser tokenizes it: a '<' that escaping
// missed starts a tag here too, and an attribute value that a raw quote
// ended early shows up as more attributes or tags.
std::vector<Tag> tags(const std::string& html) {
  std::vector<Tag> out;
  std::size_t i = 0;
  const auto space = [&](char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
  };
  while ((i = html.find('<', i)) != std::string::npos) {
    ++i;
    if (i < html.size() && (html[i] == '/' || html[i] == '!')) {
      i = html.find('>', i);
      continue;
    }
    Tag t;
    while (i < html.size() && !space(html[i]) && html[i] != '>' && html[i] != '/')
      t.name += html[i++];
    for (;;) {
      while (i < html.size() && (space(html[i]) || html[i] == '/')) ++i;
      if (i >= html.size() || html[i] == '>') break;
      std::string name, value;
      while (i < html.size() && !space(html[i]) && html[i] != '>' && html[i] != '=' &&
             html[i] != '/') {
        name += html[i++];
      }
      if (i < html.size() && html[i] == '=') {
        ++i;
        if (i < html.size() && (html[i] == '"' || html[i] == '\'')) {
          const char quote = html[i++];
          const std::size_t end = html.find(quote, i);
          value = html.substr(i, end - i);
          i = end == std::string::npos ? html.size() : end + 1;
        } else {
          while (i < html.size() && !space(html[i]) && html[i] != '>') value += html[i++];
        }
      }
      t.attributes.emplace_back(name, value);
    }
    out.push_back(std::move(t));
  }
  return out;
}

// What every page must be: one document of our own tags and attributes
// only (no script, no event handler, nothing loaded from elsewhere), valid
// UTF-8.
void check_inert(const std::string& html) {
  static const std::set<std::string> kTags = {
      "html", "head", "meta",  "title", "style",  "body",     "main", "h1",
      "h2",   "form", "label", "input", "button", "p",        "code", "footer",
      "dl",   "dt",   "dd",    "div",   "time",   "textarea", "a"};
  static const std::set<std::string> kAttributes = {
      "lang",   "charset", "name", "content",   "id",          "method",
      "action", "for",     "type", "maxlength", "required",    "value",
      "class",  "rows",    "href", "datetime",  "data-outcome"};
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(valid_utf8(html));
  for (const Tag& t : tags(html)) {
    INFO("tag " << t.name);
    CHECK(kTags.contains(t.name));
    for (const auto& [name, value] : t.attributes) {
      INFO("attribute " << name << "=" << value);
      CHECK(kAttributes.contains(name));
      if (name == "href") CHECK((value.starts_with("/") && !value.starts_with("//")));
      if (name == "action") CHECK((value == "/lookup" || value == "/request"));
    }
  }
  // The style sheet loads nothing.
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
}

PublicView listed_view() {
  PublicView v;
  v.query = "198.51.100.7";
  v.subject = "198.51.100.7";
  v.listed = true;
  v.listed_since = 1735787045;  // 2025-01-02T03:04:05Z
  v.categories = {"virus", "trap"};
  v.reporters = 3;
  v.last_report = 1735790645;
  return v;
}

WebText text() {
  WebText t;
  t.list_name = "Example BL";
  t.removal_text = "Fix the host, then ask.\nSecond line.";
  t.zone = "bl.example.org";
  return t;
}

}  // namespace

TEST_CASE("html_escape makes markup and attribute breakouts inert", "[web]") {
  CHECK(html_escape(kScript) == "&lt;script&gt;alert(1)&lt;/script&gt;");
  CHECK(html_escape(kImg) == "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  CHECK(html_escape("it's a & b") == "it&#39;s a &amp; b");
  CHECK(html_escape("caf\xc3\xa9 \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(html_escape("a\tb\nc\r") == "a\tb\nc\r");
  CHECK(html_escape(std::string("a\0b\x1b", 4)) ==
        "a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD");
  CHECK(html_escape("\xff\xfe") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(html_escape("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  CHECK(html_escape("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(html_escape("\xe2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // truncated
}

TEST_CASE("json_escape gives a valid JSON string for any bytes", "[web]") {
  CHECK(json_escape("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(json_escape("\n\r\t\x01\x7f") == "\\n\\r\\t\\u0001\\u007f");
  CHECK(json_escape(kScript) == "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e");
  CHECK(json_escape("a&b'") == "a\\u0026b\\u0027");
  CHECK(json_escape("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(json_escape("\xe2\x80\xa8") == "\\u2028");
  CHECK(json_escape("x\xffy") == "x\\ufffdy");
  CHECK(json_escape("\xc3\x28") == "\\ufffd(");
  CHECK(json_escape("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // beyond U+10FFFF
  CHECK(json_escape(std::string("\0", 1)) == "\\u0000");

  // Random bytes: never a raw control byte, quote or angle bracket, always
  // valid UTF-8, and every backslash starts a JSON escape.
  std::mt19937 rng(20250102);
  for (int round = 0; round < 2000; ++round) {
    std::string in(rng() % 40, '\0');
    for (char& c : in) c = static_cast<char>(rng() & 0xFF);
    const std::string out = json_escape(in);
    INFO("round " << round);
    REQUIRE(valid_utf8(out));
    for (std::size_t i = 0; i < out.size(); ++i) {
      const auto u = static_cast<unsigned char>(out[i]);
      REQUIRE(u >= 0x20);
      REQUIRE(out[i] != '<');
      REQUIRE(out[i] != '>');
      if (out[i] == '"') REQUIRE((i > 0 && out[i - 1] == '\\'));
      if (out[i] == '\\') {
        REQUIRE(i + 1 < out.size());
        REQUIRE(std::string("\"\\/bfnrtu").find(out[i + 1]) != std::string::npos);
        ++i;
      }
    }
  }
}

TEST_CASE("url_decode is strict about escapes", "[web]") {
  CHECK(url_decode("a+b%20c") == "a b c");
  CHECK(url_decode("%41%62%2b") == "Ab+");
  CHECK(url_decode("") == "");
  CHECK(url_decode("%00") == std::string("\0", 1));
  CHECK_FALSE(url_decode("%"));
  CHECK_FALSE(url_decode("%4"));
  CHECK_FALSE(url_decode("abc%4"));
  CHECK_FALSE(url_decode("%zz"));
  CHECK_FALSE(url_decode("%g1"));
  CHECK_FALSE(url_decode("%1 "));
}

TEST_CASE("parse_form decodes within bounds and refuses the rest", "[web]") {
  const auto f = parse_form("q=1.2.3.4&x=a+b%21&&empty=&flag");
  REQUIRE(f);
  CHECK(f->size() == 4);
  CHECK(f->at("q") == "1.2.3.4");
  CHECK(f->at("x") == "a b!");
  CHECK(f->at("empty").empty());
  CHECK(f->at("flag").empty());
  CHECK(parse_form("")->empty());

  SECTION("at most 8 fields") {
    CHECK(parse_form("a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1"));
    CHECK_FALSE(parse_form("a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1"));
  }
  SECTION("names: 1..32 bytes of [A-Za-z0-9_.-], once each") {
    CHECK(parse_form(std::string(32, 'n') + "=v"));
    CHECK_FALSE(parse_form(std::string(33, 'n') + "=v"));
    CHECK_FALSE(parse_form("=v"));
    CHECK_FALSE(parse_form("a+b=v"));
    CHECK_FALSE(parse_form("a%3Cb=v"));
    CHECK_FALSE(parse_form("q=1&q=2"));
  }
  SECTION("values: at most 1000 bytes decoded") {
    CHECK(parse_form("v=" + std::string(1000, 'x')));
    CHECK_FALSE(parse_form("v=" + std::string(1001, 'x')));
    std::string encoded;
    for (int i = 0; i < 1000; ++i) encoded += "%41";
    CHECK(parse_form("v=" + encoded));
    CHECK_FALSE(parse_form("v=" + encoded + "%41"));
  }
  SECTION("bad escapes") {
    CHECK_FALSE(parse_form("q=%"));
    CHECK_FALSE(parse_form("q=%G0"));
    CHECK_FALSE(parse_form("q=ab%2"));
  }
  SECTION("control bytes: only \\r \\n \\t, and only in the message") {
    CHECK_FALSE(parse_form("q=a%00b"));
    CHECK_FALSE(parse_form("q=a%0Ab"));
    CHECK_FALSE(parse_form("contact=a%0D%0ABcc:x@example.org"));
    CHECK_FALSE(parse_form("q=%7F"));
    CHECK_FALSE(parse_form("message=a%00b"));
    CHECK_FALSE(parse_form("message=a%1Bb"));
    const auto m = parse_form("message=line+1%0D%0Aline+2%09tab");
    REQUIRE(m);
    CHECK(m->at("message") == "line 1\r\nline 2\ttab");
  }
  SECTION("values must be UTF-8") {
    CHECK(parse_form("q=caf%C3%A9"));
    CHECK_FALSE(parse_form("q=caf%E9"));
    CHECK_FALSE(parse_form("q=%ED%A0%80"));
  }
}

TEST_CASE("iso_time is ISO 8601 UTC", "[web]") {
  CHECK(iso_time(0) == "1970-01-01T00:00:00Z");
  CHECK(iso_time(1735787045) == "2025-01-02T03:04:05Z");
  CHECK(iso_time(951782400) == "2000-02-29T00:00:00Z");
  CHECK(iso_time(4102444799) == "2099-12-31T23:59:59Z");
  CHECK(iso_time(253402300799) == "9999-12-31T23:59:59Z");
  CHECK(iso_time(-1).empty());
  CHECK(iso_time(253402300800).empty());
}

TEST_CASE("The home page is a plain GET form", "[web]") {
  const std::string html = render_home(text());
  check_inert(html);
  CHECK(html.find("<form id=\"lookup-form\" method=\"get\" action=\"/lookup\">") !=
        std::string::npos);
  CHECK(html.find("name=\"q\"") != std::string::npos);
  CHECK(html.find("maxlength=\"300\"") != std::string::npos);
  CHECK(element_text(html, "zone") == "bl.example.org");
  CHECK(html.find("id=\"status\"") == std::string::npos);
}

TEST_CASE("A listed subject: since, categories, reporters, removal, request form", "[web]") {
  const std::string html = render_lookup(listed_view(), text());
  check_inert(html);
  CHECK(element_text(html, "status").starts_with("listed"));
  CHECK(element_text(html, "since") == "2025-01-02T03:04:05Z");
  CHECK(element_text(html, "until") == "the reports expire");
  CHECK(element_text(html, "categories") == "virus, trap");
  CHECK(element_text(html, "reporters") == "3");
  CHECK(element_text(html, "last-report") == "2025-01-02T04:04:05Z");
  CHECK(element_text(html, "removal") == "Fix the host, then ask.\nSecond line.");
  CHECK(html.find("<form id=\"request-form\" method=\"post\" action=\"/request\">") !=
        std::string::npos);
  CHECK(html.find("<input type=\"hidden\" name=\"subject\" value=\"198.51.100.7\">") !=
        std::string::npos);
  CHECK(html.find("name=\"contact\" maxlength=\"254\" required") != std::string::npos);
  CHECK(html.find("<textarea id=\"message\" name=\"message\" maxlength=\"1000\"") !=
        std::string::npos);
  CHECK(html.find("id=\"request-pending\"") == std::string::npos);

  SECTION("a pending request replaces the form") {
    PublicView v = listed_view();
    v.request_pending = true;
    const std::string pending = render_lookup(v, text());
    CHECK(pending.find("id=\"request-form\"") == std::string::npos);
    CHECK(pending.find("id=\"request-pending\"") != std::string::npos);
  }
  SECTION("an operator's ban says so, with its end") {
    PublicView v = listed_view();
    v.manual = true;
    v.reporters = 0;
    v.categories.clear();
    v.listed_until = 1735873445;
    const std::string ban = render_lookup(v, text());
    CHECK(element_text(ban, "categories") == "listed by the operator");
    CHECK(element_text(ban, "until") == "2025-01-03T03:04:05Z");
    CHECK(element_text(ban, "reporters") == "0");
  }
}

TEST_CASE("Not listed and invalid queries", "[web]") {
  PublicView clean;
  clean.query = " 192.0.2.1";
  clean.subject = "192.0.2.1";
  const std::string html = render_lookup(clean, text());
  check_inert(html);
  CHECK(element_text(html, "status").starts_with("not listed"));
  CHECK(html.find("id=\"since\"") == std::string::npos);
  CHECK(html.find("id=\"request-form\"") == std::string::npos);
  CHECK(html.find("id=\"removal\"") == std::string::npos);

  PublicView bad;
  bad.query = "no such thing!";
  bad.error = "not an IP address or a domain name";
  const std::string invalid = render_lookup(bad, text());
  check_inert(invalid);
  CHECK(element_text(invalid, "status") == "invalid query: not an IP address or a domain name");
  CHECK(element_text(invalid, "query") == "no such thing!");
}

TEST_CASE("Hostile text is escaped wherever it lands", "[web]") {
  for (const std::string& hostile : {kScript, kImg, std::string("' onmouseover='alert(1)")}) {
    INFO(hostile);
    PublicView v = listed_view();
    v.query = hostile;
    v.subject = hostile;  // cannot happen (subjects are normalised), must still be safe
    v.categories = {hostile};
    WebText t = text();
    t.list_name = hostile;
    t.removal_text = hostile;
    t.zone = hostile;
    for (const std::string& html : {render_lookup(v, t), render_home(t),
                                    render_request_result(RequestOutcome::kRecorded, hostile, t),
                                    render_error_page(400, hostile)}) {
      check_inert(html);
      CHECK(html.find(hostile) == std::string::npos);
    }
    const std::string page = render_lookup(v, t);
    CHECK(page.find(html_escape(hostile)) != std::string::npos);
    v.subject.clear();
    v.error = hostile;
    const std::string invalid = render_lookup(v, t);
    check_inert(invalid);
    CHECK(invalid.find(hostile) == std::string::npos);
  }
  const std::string link = render_request_result(RequestOutcome::kRecorded, "a b&c\"<", text());
  CHECK(link.find("href=\"/lookup?q=a%20b%26c%22%3C\"") != std::string::npos);
}

TEST_CASE("The lookup as JSON", "[web]") {
  CHECK(render_lookup_json(listed_view(), text()) ==
        "{\"query\":\"198.51.100.7\",\"subject\":\"198.51.100.7\",\"valid\":true,\"listed\":true,"
        "\"manual\":false,\"since\":\"2025-01-02T03:04:05Z\",\"until\":null,"
        "\"categories\":[\"virus\",\"trap\"],\"reporters\":3,"
        "\"last_report\":\"2025-01-02T04:04:05Z\",\"request_pending\":false,"
        "\"removal\":\"Fix the host, then ask.\\nSecond line.\"}");
  PublicView clean;
  clean.query = clean.subject = "example.org";
  CHECK(render_lookup_json(clean, WebText{}) ==
        "{\"query\":\"example.org\",\"subject\":\"example.org\",\"valid\":true,\"listed\":false,"
        "\"manual\":false,\"since\":null,\"until\":null,\"categories\":[],\"reporters\":0,"
        "\"last_report\":null,\"request_pending\":false,\"removal\":\"\"}");
  PublicView bad;
  bad.query = kScript + "\xff";
  bad.error = "not \"valid\"";
  CHECK(render_lookup_json(bad, text()) ==
        "{\"query\":\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\\ufffd\",\"valid\":false,"
        "\"error\":\"not \\\"valid\\\"\"}");
  CHECK(render_request_json(RequestOutcome::kAlreadyPending, "1.2.3.4") ==
        "{\"outcome\":\"already_pending\",\"subject\":\"1.2.3.4\"}");
  CHECK(render_error_json(404, "<x>") == "{\"status\":404,\"error\":\"\\u003cx\\u003e\"}");
}

TEST_CASE("Every removal outcome has its result page", "[web]") {
  for (const auto o :
       {RequestOutcome::kRecorded, RequestOutcome::kAlreadyPending, RequestOutcome::kNotListed,
        RequestOutcome::kRateLimited, RequestOutcome::kFull, RequestOutcome::kInvalid}) {
    const std::string html = render_request_result(o, "198.51.100.7", text());
    INFO(to_string(o));
    check_inert(html);
    CHECK(html.find("data-outcome=\"" + std::string(to_string(o)) + "\"") != std::string::npos);
    CHECK_FALSE(element_text(html, "request-result").empty());
    CHECK(element_text(html, "request-result") != "<missing>");
  }
  CHECK(http_status(RequestOutcome::kRecorded) == 200);
  CHECK(http_status(RequestOutcome::kRateLimited) == 429);
  CHECK(http_status(RequestOutcome::kFull) == 503);
  CHECK(http_status(RequestOutcome::kInvalid) == 400);
  const std::string err = render_error_page(404, "there is nothing here");
  check_inert(err);
  CHECK(element_text(err, "error") == "there is nothing here");
  CHECK(err.find("<h1>404 Not Found</h1>") != std::string::npos);
}

// The listener in-process: an io_context on its own thread, a blocking client.
namespace {

struct Served {
  std::string status_line, head, body;
};

Served fetch(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(request));
  std::string all;
  std::error_code ec;
  std::array<char, 4096> buf{};
  for (;;) {
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    all.append(buf.data(), n);
    if (ec) break;
  }
  Served out;
  const std::size_t end = all.find("\r\n\r\n");
  out.head = all.substr(0, end + 2);
  out.body = end == std::string::npos ? "" : all.substr(end + 4);
  out.status_line = all.substr(0, all.find("\r\n"));
  return out;
}

struct Server {
  Server(WebListener::LookupFn lookup, WebLimits limits = {}) {
    listener = std::make_unique<WebListener>(
        io, exigrey::Endpoint{"127.0.0.1", 0}, text(), limits, std::move(lookup),
        [](const std::string&, const std::string&, const std::string&, const std::string&) {
          return RequestOutcome::kRecorded;
        },
        metrics);
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    asio::post(io, [this] { listener->stop(); });
    thread.join();
  }
  std::uint64_t metric(const std::string& series) const {
    const std::string all = metrics.exposition();
    const std::size_t at = all.find("\n" + series + " ");
    if (at == std::string::npos) return 999999;
    return std::stoull(all.substr(at + series.size() + 2));
  }
  asio::io_context io;
  exigrey::daemon::Metrics metrics;
  std::unique_ptr<WebListener> listener;
  std::thread thread;
};

}  // namespace

TEST_CASE("The listener answers with strict headers and keeps going after errors", "[web]") {
  int calls = 0;
  Server server([&](std::string_view q) -> PublicView {
    if (++calls == 2) throw std::runtime_error("store unavailable");
    PublicView v;
    v.query = v.subject = std::string(q);
    return v;
  });
  const std::uint16_t port = server.listener->port();
  REQUIRE(port != 0);

  const Served home = fetch(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(home.status_line == "HTTP/1.1 200 OK");
  for (const char* header :
       {"Content-Type: text/html; charset=utf-8\r\n",
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action "
        "'self'; frame-ancestors 'none'; base-uri 'none'\r\n",
        "X-Content-Type-Options: nosniff\r\n", "Referrer-Policy: no-referrer\r\n",
        "Cache-Control: no-store\r\n", "Connection: close\r\n"}) {
    CHECK(home.head.find(header) != std::string::npos);
  }
  CHECK(home.head.find(fmt::format("Content-Length: {}\r\n", home.body.size())) !=
        std::string::npos);
  CHECK(home.body == render_home(text()));

  const Served first = fetch(port, "GET /api/lookup?q=example.org HTTP/1.0\r\n\r\n");
  CHECK(first.status_line == "HTTP/1.1 200 OK");
  CHECK(first.head.find("Content-Type: application/json; charset=utf-8\r\n") != std::string::npos);
  CHECK(first.body.starts_with("{\"query\":\"example.org\""));
  const Served failed = fetch(port, "GET /lookup?q=example.org HTTP/1.0\r\n\r\n");
  CHECK(failed.status_line == "HTTP/1.1 500 Internal Server Error");
  const Served after = fetch(port, "GET /lookup?q=example.org HTTP/1.0\r\n\r\n");
  CHECK(after.status_line == "HTTP/1.1 200 OK");

  CHECK(fetch(port, "GET /nope HTTP/1.0\r\n\r\n").status_line == "HTTP/1.1 404 Not Found");
  const Served method = fetch(port, "POST /lookup HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  CHECK(method.status_line == "HTTP/1.1 405 Method Not Allowed");
  CHECK(method.head.find("Allow: GET\r\n") != std::string::npos);
  CHECK(fetch(port, "GET / HTTP/1.1\r\n\r\n").status_line == "HTTP/1.1 400 Bad Request");
  CHECK(fetch(port, "GET / HTTP/2.0\r\n\r\n").status_line ==
        "HTTP/1.1 505 HTTP Version Not Supported");
  const Served api404 = fetch(port, "GET /api/nope HTTP/1.0\r\n\r\n");
  CHECK(api404.body == "{\"status\":404,\"error\":\"there is nothing here\"}");

  CHECK(server.metric("exigrey_collect_web_requests_total{route=\"home\"}") == 1);
  CHECK(server.metric("exigrey_collect_web_requests_total{route=\"other\"}") == 4);
  CHECK(server.metric("exigrey_collect_web_requests_total{route=\"lookup\"}") == 3);
  CHECK(server.metric("exigrey_collect_web_requests_total{route=\"api_lookup\"}") == 1);
  CHECK(server.metric("exigrey_collect_web_refused_total{reason=\"not_found\"}") == 2);
  CHECK(server.metric("exigrey_collect_web_refused_total{reason=\"method\"}") == 1);
  CHECK(server.metric("exigrey_collect_web_refused_total{reason=\"bad_request\"}") == 2);
}

TEST_CASE("The listener limits lookups per client and applies new limits", "[web]") {
  WebLimits limits;
  limits.lookup_rate = 0.001;
  limits.lookup_burst = 2;
  Server server(
      [](std::string_view q) {
        PublicView v;
        v.query = v.subject = std::string(q);
        return v;
      },
      limits);
  const std::uint16_t port = server.listener->port();
  const std::string get = "GET /lookup?q=example.org HTTP/1.0\r\n\r\n";
  CHECK(fetch(port, get).status_line == "HTTP/1.1 200 OK");
  CHECK(fetch(port, get).status_line == "HTTP/1.1 200 OK");
  const Served limited = fetch(port, get);
  CHECK(limited.status_line == "HTTP/1.1 429 Too Many Requests");
  CHECK(limited.head.find("Retry-After: 1000\r\n") != std::string::npos);
  CHECK(fetch(port, "GET / HTTP/1.0\r\n\r\n").status_line == "HTTP/1.1 200 OK");  // not a lookup

  limits.lookup_rate = 0;  // no limit
  std::promise<void> applied;
  asio::post(server.io, [&] {
    server.listener->set_limits(limits);
    applied.set_value();
  });
  applied.get_future().wait();
  CHECK(fetch(port, get).status_line == "HTTP/1.1 200 OK");
  CHECK(server.metric("exigrey_collect_web_refused_total{reason=\"rate\"}") == 1);
}

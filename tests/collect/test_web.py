#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The public lookup page (web_listener.h) end to end, on web_fixture (a
WebListener over an in-memory fake of the collector):

a) Debian's real headless Chromium loads the pages (home, listed, not
   listed, invalid, hostile queries) and the DOM it builds is checked: the
   ids, the texts, no <script> or <img> element from a query, the hostile
   text shown as text; a screenshot is a 1000x800 PNG with the page on it.
b) hostile clients over plain sockets: oversized heads and bodies, missing
   Content-Length, malformed request lines, bad percent-encoding, a 10 KB
   query, a slowloris, 200 connections at once, lookup and removal floods;
   every answer carries the security headers; the server keeps serving.
c) the counters the fixture prints on SIGUSR1 moved as they should, and a
   flood of refusals logged at most a line a second.

Usage: test_web.py PATH/TO/collect_web_fixture
Without /usr/bin/chromium, (b) and (c) still run, then the test is skipped
(exit 77), or fails under CI=1.
"""

import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import zlib

import browser
from browser import Dom
from collectlib import (FAILURES, check, expect, finish, log, raise_fd_limit, skip_or_fail, spawn,
                        tempdir)

binary = os.path.abspath(sys.argv[1])
CHROMIUM = browser.CHROMIUM
MAX_REQUESTS = 3   # the fixture's storage bound for removal requests
TIMEOUT = 2        # the fixture's connection timeout, seconds
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
REMOVAL_TEXT = "Listings expire 7 days after the last report.\nFix the host first."

raise_fd_limit()
root = tempdir()
logfile = os.path.join(root, "fixture.log")
started = time.time()
fixture = spawn([binary, "0", str(MAX_REQUESTS), str(TIMEOUT)], logfile)


def wait_for(what, cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def log_text():
    with open(logfile, "rb") as f:
        return f.read().decode("utf-8", "replace")


port = int(wait_for("the fixture to listen",
                    lambda: (re.search(r"^ready (\d+)$", log_text(), re.M) or [None, None])[1]))
log(f"fixture listening on 127.0.0.1:{port}")
RESPONSES = []  # every parsed answer, to check the headers of all at the end


class Answer:
    def __init__(self, raw):
        self.raw = raw
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.complete = bool(sep)
        if self.status:
            RESPONSES.append(self)

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def connect(source="127.0.0.2", timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    return s


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def raw(data, source="127.0.0.2"):
    """Sends bytes as they are, returns the answer read until the server closes."""
    with connect(source) as s:
        s.sendall(data)
        return Answer(read_all(s))


def get(path, source="127.0.0.2", headers=""):
    return raw(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode(), source)


def post(path, fields, source="127.0.0.2"):
    body = urllib.parse.urlencode(fields).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("POST", path, body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    head = f"HTTP/1.1 {r.status} {r.reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in r.getheaders())
    answer = Answer(head.encode("latin-1") + b"\r\n" + r.read())
    conn.close()
    return answer


def metrics():
    """Asks the fixture for its counters (SIGUSR1) and parses the exposition."""
    before = log_text().count("# end of metrics")
    fixture.send_signal(signal.SIGUSR1)
    text = wait_for("the metrics", lambda: log_text().count("# end of metrics") > before and log_text())
    block = text.split("# end of metrics")[before]
    out = {}
    for line in block.splitlines():
        if line.startswith("exigrey_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def refused(m, reason):
    return m.get(f'exigrey_collect_web_refused_total{{reason="{reason}"}}', -1)


def removal(m, outcome):
    return m.get(f'exigrey_collect_removal_requests_total{{outcome="{outcome}"}}', -1)


def q(text):
    return urllib.parse.quote(text, safe="")


# --- a) a real browser ------------------------------------------------------

def chromium(url, *args):
    code, out = browser.run(url, root, *args)
    check(f"chromium exits 0 on {url}", code == 0, code)
    return out


def page(path):
    return Dom(chromium(f"http://127.0.0.1:{port}{path}", "--dump-dom"))


def no_active_content(dom, what):
    check(f"{what}: no <script> element", not dom.tags("script"))
    check(f"{what}: no <img> element", not dom.tags("img"))
    check(f"{what}: no event handler attribute",
          not [e for e in dom.elements if any(a.startswith("on") for a in e["attrs"])])


def png_pixels(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + chunk) != crc:
            raise ValueError(f"bad CRC in {kind}")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError(f"unexpected PNG format {ihdr}")
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw_rows = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw_rows[y * (stride + 1)]
        line = bytearray(raw_rows[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def browser_checks():
    home = page("/")
    form = home.by_id("lookup-form")
    check("home: the lookup form", form is not None and form["attrs"].get("method") == "get"
          and form["attrs"].get("action") == "/lookup")
    check("home: a field q", (home.by_id("q") or {"attrs": {}})["attrs"].get("name") == "q")
    check("home: no status yet", home.by_id("status") is None)
    expect("home: the zone", "bl.exigrey.test", Dom.text(home.by_id("zone")))
    no_active_content(home, "home")

    listed = page("/lookup?q=198.51.100.7")
    check("listed: status starts with 'listed'",
          Dom.text(listed.by_id("status")).startswith("listed"), Dom.text(listed.by_id("status")))
    expect("listed: since", "2025-01-02T03:04:05Z", Dom.text(listed.by_id("since")))
    expect("listed: categories", "virus, trap", Dom.text(listed.by_id("categories")))
    expect("listed: reporters", "3", Dom.text(listed.by_id("reporters")))
    expect("listed: the operator's removal text", REMOVAL_TEXT, Dom.text(listed.by_id("removal")))
    rform = listed.by_id("request-form")
    check("listed: a removal form posting to /request",
          rform is not None and rform["attrs"].get("method") == "post"
          and rform["attrs"].get("action") == "/request")
    hidden = [e for e in listed.tags("input") if e["attrs"].get("name") == "subject"]
    check("listed: the hidden subject",
          len(hidden) == 1 and hidden[0]["attrs"].get("type") == "hidden"
          and hidden[0]["attrs"].get("value") == "198.51.100.7")
    contact = listed.by_id("contact")
    check("listed: an e-mail field of at most 254 bytes",
          contact is not None and contact["attrs"].get("type") == "email"
          and contact["attrs"].get("maxlength") == "254")
    message = listed.by_id("message")
    check("listed: a message of at most 1000 bytes",
          message is not None and message["tag"] == "textarea"
          and message["attrs"].get("maxlength") == "1000")
    no_active_content(listed, "listed")

    clean = page("/lookup?q=192.0.2.1")
    check("not listed: status starts with 'not listed'",
          Dom.text(clean.by_id("status")).startswith("not listed"), Dom.text(clean.by_id("status")))
    check("not listed: no removal form", clean.by_id("request-form") is None)
    check("not listed: no since", clean.by_id("since") is None)

    invalid = page("/lookup?q=" + q("no such host!"))
    check("invalid: status starts with 'invalid'",
          Dom.text(invalid.by_id("status")).startswith("invalid"), Dom.text(invalid.by_id("status")))

    for hostile in (SCRIPT, IMG, "'><svg/onload=alert(1)>"):
        source = chromium(f"http://127.0.0.1:{port}/lookup?q={q(hostile)}", "--dump-dom")
        dom = Dom(source)
        what = f"hostile query {hostile!r}"
        no_active_content(dom, what)
        check(f"{what}: no <svg>", not dom.tags("svg"))
        check(f"{what}: status 'invalid'", (Dom.text(dom.by_id("status")) or "").startswith("invalid"))
        expect(f"{what}: shown as text", hostile, Dom.text(dom.by_id("query")))
        expect(f"{what}: kept in the field's value", hostile,
               (dom.by_id("q") or {"attrs": {}})["attrs"].get("value"))
        check(f"{what}: escaped in the DOM dump", "&lt;" in source and hostile not in source)

    shot = os.path.join(root, "listed.png")
    chromium(f"http://127.0.0.1:{port}/lookup?q=198.51.100.7", f"--screenshot={shot}",
             "--window-size=1000,800")
    if not check("screenshot: written", os.path.exists(shot)):
        return
    with open(shot, "rb") as f:
        data = f.read()
    try:
        width, height, bpp, rows = png_pixels(data)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        check("screenshot: a valid PNG", False, e)
        return
    expect("screenshot: 1000x800", (1000, 800), (width, height))
    colours = {}
    for row in rows[::4]:
        for x in range(0, len(row), bpp * 4):
            px = bytes(row[x:x + 3])
            colours[px] = colours.get(px, 0) + 1
    common = max(colours.values()) / sum(colours.values())
    check("screenshot: not blank (many colours, no colour on 95% of the pixels)",
          len(colours) > 20 and common < 0.95, f"{len(colours)} colours, top {common:.2f}")
    # The listed status box (#fbe3e1): the inline style applied under the CSP.
    near = sum(n for px, n in colours.items() if all(abs(a - b) <= 4 for a, b in zip(px, (0xfb, 0xe3, 0xe1))))
    check("screenshot: the red 'listed' box is drawn (the inline style applies)", near > 100, near)


have_chromium = os.access(CHROMIUM, os.X_OK)
if have_chromium:
    browser_checks()
else:
    log(f"{CHROMIUM} not found: browser checks not run")

# --- b) hostile clients -----------------------------------------------------

m0 = metrics()

a = get("/", headers="X-Big: " + "a" * 9000 + "\r\n")
check("oversized head: 431", a.status == 431, a.status_line)
a = raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
check("oversized request line: 414", a.status == 414, a.status_line)
check("after oversized heads: still served", get("/").status == 200)

a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 5000\r\n\r\n" + b"a" * 5000)
check("body too large: 413", a.status == 413, a.status_line)
# A large upload: the 413 must reach the client even though it is still
# sending (a close with unread bytes would reset the connection first).
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 60000\r\n\r\n" + b"a" * 60000)
check("large upload: 413 received", a.status == 413, a.status_line)
a = raw(b"POST /api/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 99999999999999\r\n\r\n")
check("absurd Content-Length: 413", a.status == 413, a.status_line)
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
        b"subject=1.2.3.4")
check("POST without Content-Length: 411", a.status == 411, a.status_line)
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
check("chunked POST: 411", a.status == 411, a.status_line)
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc")
check("Content-Length with Transfer-Encoding: 400", a.status == 400, a.status_line)
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n")
check("bad Content-Length: 400", a.status == 400, a.status_line)
a = raw(b"POST /request HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")
check("wrong Content-Type: 415", a.status == 415, a.status_line)

for bad in (b"GARBAGE\r\n\r\n", b"GET /\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", b"\x16\x03\x01\x02\x00\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n"):
    a = raw(bad)
    check(f"malformed {bad[:40]!r}: 400", a.status == 400, a.status_line)
check("after malformed requests: still served", get("/").status == 200)

check("unknown path: 404", get("/admin").status == 404)
a = raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
check("POST /: 405 with Allow: GET", a.status == 405 and a.headers.get("allow") == "GET", a.status_line)
a = get("/request")
check("GET /request: 405 with Allow: POST", a.status == 405 and a.headers.get("allow") == "POST",
      a.status_line)
check("HEAD /: 405", raw(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").status == 405)

a = get("/lookup?q=%zz")
check("bad percent-encoding: 400", a.status == 400, a.status_line)
a = get("/api/lookup?q=abc%4")
check("truncated percent-encoding on the API: 400 with a JSON error",
      a.status == 400 and "error" in a.json(), a.status_line)
check("NUL in q: 400", get("/lookup?q=a%00b").status == 400)
check("invalid UTF-8 in q: 400", get("/api/lookup?q=%FF%FE").status == 400)
a = get("/lookup?q=" + "a" * 10000)
check("q of 10,000 bytes: 414 or 400", a.status in (414, 400), a.status_line)
a = get("/api/lookup?q=" + "a" * 500)
check("q of 500 bytes: 414", a.status == 414, a.status_line)
check("after long queries: still served", get("/").status == 200)

# The JSON API, hostile queries, from a client of its own (rate buckets).
for hostile in (SCRIPT, IMG, 'a"b\\c', "caf\u00e9 \u2028 \U0001F600", "x" * 300):
    a = get(f"/api/lookup?q={q(hostile)}", source="127.0.0.3")
    try:
        doc = a.json()
    except ValueError as e:
        check(f"API {hostile[:30]!r}: valid JSON", False, e)
        continue
    check(f"API {hostile[:30]!r}: 200, application/json",
          a.status == 200 and a.headers.get("content-type") == "application/json; charset=utf-8")
    expect(f"API {hostile[:30]!r}: the query round-trips", hostile.strip(), doc.get("query"))
    check(f"API {hostile[:30]!r}: no raw < > & in the body",
          not any(c in a.body for c in b"<>&"), a.body[:120])
    check(f"API {hostile[:30]!r}: not valid", doc.get("valid") is False and doc.get("error"))
a = get("/api/lookup?q=198.51.100.7", source="127.0.0.3")
doc = a.json()
expect("API listed", {"query": "198.51.100.7", "subject": "198.51.100.7", "valid": True,
                      "listed": True, "manual": False, "since": "2025-01-02T03:04:05Z",
                      "until": None, "categories": ["virus", "trap"], "reporters": 3,
                      "last_report": "2025-01-02T04:04:05Z", "request_pending": False,
                      "removal": REMOVAL_TEXT}, doc)
doc = get("/api/lookup?q=BAD.example.net.", source="127.0.0.3").json()
check("API: an operator's ban, normalised",
      doc.get("subject") == "bad.example.net" and doc.get("manual") is True
      and doc.get("until") == "2025-02-01T03:04:05Z", doc)
doc = get("/api/lookup?q=192.0.2.1", source="127.0.0.3").json()
check("API: not listed", doc.get("valid") is True and doc.get("listed") is False
      and doc.get("since") is None, doc)

# A slowloris: one byte at a time, never the end of the head. Others are
# served meanwhile; it is closed after the timeout.
slow = connect("127.0.0.4", timeout=TIMEOUT + 10)
t0 = time.time()
slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
served_during = []
closed_after = None
slow.settimeout(0.25)
while time.time() - t0 < TIMEOUT + 8:
    try:
        slow.sendall(b"X")
        if slow.recv(1) == b"":
            closed_after = time.time() - t0
            break
    except socket.timeout:
        pass
    except OSError:
        closed_after = time.time() - t0
        break
    if len(served_during) < 3:
        t1 = time.time()
        served_during.append((get("/").status, time.time() - t1))
slow.close()
check("slowloris: others served meanwhile, at once",
      len(served_during) == 3 and all(s == 200 and d < 1.0 for s, d in served_during), served_during)
check(f"slowloris: closed after the {TIMEOUT}s timeout",
      closed_after is not None and TIMEOUT - 0.5 <= closed_after <= TIMEOUT + 3, closed_after)

# 200 connections at once (the fixture allows 64): idle ones, then 200
# complete requests sent together. The server stays up and serves.
idle = [connect("127.0.0.4") for _ in range(200)]
a = get("/")
check("200 idle connections: a new client is served", a.status == 200, a.status_line)
for s in idle:
    s.close()
burst = [connect("127.0.0.4") for _ in range(200)]
for s in burst:
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass  # closed already, to make room for newer connections
statuses = []
for s in burst:
    statuses.append(Answer(read_all(s)).status)
    s.close()
check("200 requests at once: each is answered 200 or closed unanswered",
      set(statuses) <= {200, 0}, sorted(set(statuses)))
check("200 requests at once: at least 64 answered", statuses.count(200) >= 64, statuses.count(200))
check("after 200 connections: still served", get("/").status == 200)

# A lookup flood from one client: the burst (20) passes, then 429.
t0 = time.time()
flood = []
for i in range(200):
    a = get(f"/lookup?q=192.0.2.{i % 250}", source="127.0.0.5")
    flood.append(a)
    if a.status == 429:
        break
elapsed = time.time() - t0
ok = [a for a in flood if a.status == 200]
check("lookup flood: 429 after the burst", flood[-1].status == 429, [a.status for a in flood][-3:])
check("lookup flood: the burst of 20 passed first",
      20 <= len(ok) <= 20 + 5 * elapsed + 1 and len(ok) == len(flood) - 1, (len(ok), elapsed))
retry = flood[-1].headers.get("retry-after", "")
check("lookup flood: Retry-After in whole seconds", retry.isdigit() and int(retry) >= 1, retry)
a = get("/api/lookup?q=192.0.2.1", source="127.0.0.5")
check("lookup flood: the API is limited too, with a JSON body",
      a.status == 429 and "error" in a.json() and a.headers.get("retry-after"), a.status_line)
check("lookup flood: another client is still served",
      get("/lookup?q=192.0.2.1", source="127.0.0.6").status == 200)

# Removal requests: recorded, already pending, not listed, then 429 (burst 3).
form = {"subject": "198.51.100.7", "contact": "postmaster@example.org",
        "message": "We fixed it.\r\nPlease remove. <script>alert(1)</script>"}
a = post("/request", form, source="127.0.0.7")
check("removal: recorded", a.status == 200 and 'data-outcome="recorded"' in a.text(), a.status_line)
check("removal: the result page echoes no markup", "<script" not in a.text())
check("removal: the fixture got it, with the client and the whole message",
      "recorded subject=198.51.100.7 contact=postmaster@example.org client=127.0.0.7 "
      f"message_bytes={len(form['message'].encode())}" in log_text())
a = post("/request", form, source="127.0.0.7")
check("removal: again, already pending",
      a.status == 200 and 'data-outcome="already_pending"' in a.text(), a.status_line)
pending = Dom(get("/lookup?q=198.51.100.7", source="127.0.0.8").text())
check("removal: the page says pending, without the form",
      pending.by_id("request-pending") is not None and pending.by_id("request-form") is None)
a = post("/request", dict(form, subject="192.0.2.1"), source="127.0.0.7")
check("removal: not listed", 'data-outcome="not_listed"' in a.text(), a.status_line)
a = post("/request", form, source="127.0.0.7")
check("removal: the 4th from one client: 429 with Retry-After",
      a.status == 429 and a.headers.get("retry-after", "").isdigit(), a.status_line)

# The storage bound (3): two more fit, the next is refused as full.
a = post("/api/request", dict(form, subject="203.0.113.1"), source="127.0.0.9")
expect("API removal: recorded", {"outcome": "recorded", "subject": "203.0.113.1"}, a.json())
a = post("/api/request", dict(form, subject="203.0.113.2"), source="127.0.0.9")
expect("API removal: recorded (storage now full)", "recorded", a.json().get("outcome"))
a = post("/api/request", dict(form, subject="203.0.113.3"), source="127.0.0.9")
check("API removal: full, 503", a.status == 503 and a.json().get("outcome") == "full", a.body)

# Invalid removal requests never reach the store.
for i, (what, fields) in enumerate((
        ("a bad contact", dict(form, contact="not an address")),
        ("a header injection in the contact", dict(form, contact="a@b.example\r\nBcc: x@y")),
        ("no contact", {"subject": "198.51.100.7", "message": "hi"}),
        ("an invalid subject", dict(form, subject=SCRIPT)))):
    a = post("/api/request", fields, source=f"127.0.0.{20 + i}")
    check(f"removal with {what}: 400 invalid",
          a.status == 400 and a.json().get("outcome") == "invalid", (a.status, a.body))
a = post("/request", dict(form, message="m" * 1001), source="127.0.0.50")
check("removal with a 1001-byte message: 400 invalid",
      a.status == 400 and 'data-outcome="invalid"' in a.text(), a.status_line)

# Every answer: the security headers, the right type and length.
bad_headers = []
for r in RESPONSES:
    h = r.headers
    problems = []
    if h.get("content-security-policy") != CSP:
        problems.append("csp")
    if h.get("x-content-type-options") != "nosniff":
        problems.append("nosniff")
    if h.get("referrer-policy") != "no-referrer":
        problems.append("referrer")
    if h.get("cache-control") != "no-store":
        problems.append("cache")
    if h.get("connection") != "close":
        problems.append("connection")
    if h.get("content-type") not in ("text/html; charset=utf-8", "application/json; charset=utf-8"):
        problems.append("type")
    if h.get("content-length") != str(len(r.body)):
        problems.append("length")
    if h.get("content-type", "").startswith("text/html") and b"<script" in r.body:
        problems.append("script")
    if problems:
        bad_headers.append((r.status_line, problems))
check(f"all {len(RESPONSES)} answers carry the security headers, type and length",
      not bad_headers, bad_headers[:5])
statuses_seen = {r.status for r in RESPONSES}
check("answers of every kind were checked",
      {200, 400, 404, 405, 411, 413, 414, 415, 429, 431, 503} <= statuses_seen, sorted(statuses_seen))

# --- c) the counters ------------------------------------------------------------

m = metrics()


check("metrics: refused rate counted", refused(m, "rate") - refused(m0, "rate") >= 3)
check("metrics: refused too_large counted", refused(m, "too_large") - refused(m0, "too_large") >= 5)
check("metrics: refused bad_request counted",
      refused(m, "bad_request") - refused(m0, "bad_request") >= 15)
check("metrics: refused timeout counted (the slowloris)",
      refused(m, "timeout") - refused(m0, "timeout") >= 1)
check("metrics: refused connections counted (evicted at 64)",
      refused(m, "connections") - refused(m0, "connections") >= 136)
check("metrics: refused not_found and method counted",
      refused(m, "not_found") >= 1 and refused(m, "method") >= 3)
expect("metrics: removal requests recorded", 3, removal(m, "recorded"))
expect("metrics: removal requests already pending", 1, removal(m, "already_pending"))
expect("metrics: removal requests not listed", 1, removal(m, "not_listed"))
expect("metrics: removal requests full", 1, removal(m, "full"))
expect("metrics: removal requests rate limited", 1, removal(m, "rate_limited"))
expect("metrics: removal requests invalid", 5, removal(m, "invalid"))
check("metrics: lookups counted by route",
      m.get('exigrey_collect_web_requests_total{route="lookup"}', 0) >= 20
      and m.get('exigrey_collect_web_requests_total{route="api_lookup"}', 0) >= 10
      and m.get('exigrey_collect_web_requests_total{route="api_request"}', 0) >= 7)

# Hundreds of refusals, yet at most about a line a second in the log.
refusal_lines = len(re.findall(r"web: (refused |\d+ more refusals not logged)", log_text()))
total_refused = sum(v for k, v in m.items() if k.startswith("exigrey_collect_web_refused_total"))
seconds = time.time() - started
check("log: refusals logged at most once a second",
      refusal_lines <= seconds + 3 and total_refused > 3 * refusal_lines,
      (refusal_lines, total_refused, round(seconds, 1)))
check("log: suppressed refusals are counted in the log",
      re.search(r"\d+ more (refusals )?not logged", log_text()) is not None)


def refusals_in_log():
    text = log_text()
    return text.count("web: refused ") + sum(
        int(n) for n in re.findall(r"web: .*?(\d+) more (?:refusals )?not logged", text))


# The count of those not logged follows within a second: none unaccounted.
deadline = time.time() + 5
while refusals_in_log() < total_refused and time.time() < deadline:
    time.sleep(0.05)
expect("log: logged refusals + those counted as not logged = the refusals counted",
       total_refused, refusals_in_log())

fixture.send_signal(signal.SIGTERM)
try:
    rc = fixture.wait(timeout=10)
except subprocess.TimeoutExpired:
    rc = None
expect("the fixture stops cleanly on SIGTERM", 0, rc)
check("the fixture printed its metrics at exit", log_text().count("# end of metrics") >= 3)

if not have_chromium and not FAILURES:
    skip_or_fail(f"{CHROMIUM} is not installed (scripts/install-deps.sh); the other checks passed")
finish()

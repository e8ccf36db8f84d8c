#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Running the list as an operator, against the real collector, rbldnsd and dig:

- evidence: a report's note becomes its category; `lookup` shows the
  counts, categories, votes, the rule that decided and the history, in text
  and JSON, with the running collector's policy (it stores its settings);
- `delist` takes the subject out of DNS within about a second, is recorded,
  resolves a pending removal request; new evidence lists it again, unless
  `--for` exempts it;
- `ban`/`unban` list and unlist by hand within about a second; a reserved
  subject cannot be banned; bad arguments get one line and exit 1;
- IPv6 reports count per /64: any address of the /64 is listed;
- escalation: three listed addresses of a /24 list the /24;
- a removal request made on the lookup page shows in `list --requests`;
- the metrics count the operator's changes and the listing events.

Usage: test_operator.py PATH/TO/exigrey-collect
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import browser
from browser import Dom
from collectlib import (Collector, Rbldnsd, check, expect, finish, free_port, log, tempdir,
                        wait_port)

binary = os.path.abspath(sys.argv[1])
root = tempdir()
web_port = free_port()
c = Collector(binary, root, "--min-reporters", "1", "--escalate-ipv4", "3",
              "--web", f"127.0.0.1:{web_port}",
              "--removal-text", "Fix the host, then ask here.").start()
dns = Rbldnsd(root, c.rbldnsd_dir)
wait_port(web_port)


def admin(*args):
    """Runs exigrey-collect --state DIR ARGS (no policy flags: the stored ones apply)."""
    return subprocess.run([binary, "--state", c.state] + list(args), capture_output=True,
                          text=True, timeout=30)


def lookup_json(subject):
    r = admin("lookup", subject, "--json")
    if r.returncode != 0:
        raise RuntimeError(f"lookup {subject}: {r.stderr}")
    return json.loads(r.stdout)


def listed_within(subject, want, limit=2.0):
    took = dns.wait_for(subject, want, timeout=5)
    check(f"{subject} answers {want} within {limit} s", took is not None and took <= limit,
          f"({took})")
    return took


# ---- evidence --------------------------------------------------------------------------
c.send("black 11.22.33.44 virus Eicar-Test-Signature\n")
c.send("black 11.22.33.44 trap hit spamtrap\n", source="127.0.0.2")
c.send("black 11.22.33.44 virus W32/Bad\n", source="127.0.0.3")
listed_within("11.22.33.44", "127.0.0.2")
c.wait_metric("exigrey_collect_reports_total{verb=\"black\"}", 3)
j = lookup_json("11.22.33.44")
expect("lookup: listed", True, j["listed"])
expect("lookup: the rule that decided", "votes", j["rule"])
expect("lookup: categories, most reported first", ["virus", "trap"],
       [x["name"] for x in j["categories"]])
expect("lookup: three black votes", 3, j["black_votes"])
check("lookup: the running collector's min_reporters (1), not the default (2)",
      "min_reporters 1" in j["explanation"], j["explanation"])
expect("lookup: history starts with the listing", "listed", j["history"][0]["event"])
text = admin("lookup", "11.22.33.44").stdout
check("lookup (text): status, why, categories and votes",
      "status        listed" in text and "virus (2), trap (1)" in text
      and "plain:127.0.0.2" in text, text)
expect("lookup of an unknown address: not listed, never reported",
       (False, False), (lookup_json("11.22.33.55")["listed"], lookup_json("11.22.33.55")["known"]))

# ---- the lookup page of the real collector, in Chromium -----------------------------------
if browser.available():
    code, out = browser.run(f"http://127.0.0.1:{web_port}/lookup?q=11.22.33.44", root,
                            "--dump-dom")
    dom = browser.Dom(out)
    check("lookup page (Chromium): listed",
          Dom.text(dom.by_id("status")).strip().startswith("listed"), out[:2000])
    check("lookup page: the categories, most reported first",
          "virus" in Dom.text(dom.by_id("categories"))
          and Dom.text(dom.by_id("categories")).index("virus")
          < Dom.text(dom.by_id("categories")).index("trap"), Dom.text(dom.by_id("categories")))
    check("lookup page: how many reporters, never who",
          "3" in Dom.text(dom.by_id("reporters")) and "plain:" not in out, out[:2000])
    check("lookup page: the operator's removal text",
          "Fix the host, then ask here." in Dom.text(dom.by_id("removal")))
    check("lookup page: a removal request form", dom.by_id("request-form") is not None)
elif os.environ.get("CI"):
    check(f"{browser.CHROMIUM} is installed (scripts/install-deps.sh)", False)
else:
    log(f"{browser.CHROMIUM} not installed: the lookup page was not checked in a browser")

# ---- a removal request, then the delisting --------------------------------------------
body = urllib.parse.urlencode({"subject": "11.22.33.44", "contact": "admin@example.net",
                               "message": "We removed the infected PC."}).encode()
with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/request", data=body,
                            timeout=10) as resp:
    expect("the lookup page records a removal request", "recorded",
           json.loads(resp.read())["outcome"])
r = admin("list", "--requests", "--json")
reqs = [json.loads(line) for line in r.stdout.splitlines()]
expect("list --requests shows it", ["11.22.33.44"], [x["subject"] for x in reqs])
expect("list --requests: the message", "We removed the infected PC.", reqs[0]["message"])

changes = c.metric("exigrey_collect_operator_changes_total")
r = admin("delist", "11.22.33.44", "--reason", "the customer cleaned the host")
expect("delist exits 0", 0, r.returncode)
check("delist says what it did", r.stdout.startswith("delisted 11.22.33.44:"), r.stdout)
listed_within("11.22.33.44", "NXDOMAIN")
check("the collector counted the operator's change",
      c.wait_metric("exigrey_collect_operator_changes_total", changes + 1) >= changes + 1)
j = lookup_json("11.22.33.44")
expect("delisted: not listed", False, j["listed"])
expect("delisted: the reason is recorded", "the customer cleaned the host", j["delist_reason"])
expect("delisted: the history", ["listed", "removal-request", "delisted", "unlisted"],
       [e["event"] for e in j["history"]])
expect("delisting resolved the removal request", "", admin("list", "--requests").stdout)

# Times are whole seconds, and a delisting dismisses the votes of its own
# second too (the operator's word wins a tie): report in the next second.
delist_second = int(time.time())
while int(time.time()) <= delist_second:
    time.sleep(0.02)
c.send("black 11.22.33.44 virus again\n", source="127.0.0.4")
listed_within("11.22.33.44", "127.0.0.2", limit=3.0)
j = lookup_json("11.22.33.44")
check("new evidence after a delisting lists again (one vote: the old ones are dismissed)",
      j["black_votes"] == 1, j)
admin("delist", "11.22.33.44", "--for", "1d", "--reason", "exempt while we investigate")
listed_within("11.22.33.44", "NXDOMAIN")
publishes = c.metric("exigrey_collect_publishes_total")
c.send("black 11.22.33.44 virus once more\n", source="127.0.0.5")
c.wait_metric("exigrey_collect_publishes_total", publishes + 1)
time.sleep(1.2)  # rbldnsd's check interval: it would have seen a new file by now
expect("an exempt subject stays unlisted whatever the reports", "NXDOMAIN", dns.a("11.22.33.44"))
expect("lookup says why", "exempt", lookup_json("11.22.33.44")["rule"])

# ---- ban and unban ---------------------------------------------------------------------
r = admin("ban", "11.22.33.99", "--for", "1h", "--reason", "snowshoe run seen by hand")
expect("ban exits 0", 0, r.returncode)
listed_within("11.22.33.99", "127.0.0.2")
txt = dns.txt("11.22.33.99")
check("banned: the TXT says the operator listed it",
      txt and "11.22.33.99 listed by the exigrey operator since" in txt[0], txt)
j = lookup_json("11.22.33.99")
expect("banned: rule", "banned", j["rule"])
check("banned: the reason in the explanation", "snowshoe run" in j["explanation"],
      j["explanation"])
expect("list --banned", ["11.22.33.99"],
       [line.split()[0] for line in admin("list", "--banned").stdout.splitlines()])
admin("unban", "11.22.33.99", "--reason", "mistake")
listed_within("11.22.33.99", "NXDOMAIN")

# ---- bad arguments: one line, exit 2 (usage) or 1 (not found), nothing changed -------
for what, args, needle, status in [
        ("a reserved address cannot be banned", ["ban", "192.0.2.1", "--for", "1h", "--reason", "x"],
         "reserved", 2),
        ("a bad subject", ["lookup", "not an address!"], "invalid", 2),
        ("a bad duration", ["ban", "11.22.33.98", "--for", "soon", "--reason", "x"], "--for", 2),
        ("a reason with a control byte", ["delist", "11.22.33.98", "--reason", "a\x01b"],
         "control byte", 2),
        ("unban of a subject that is not banned", ["unban", "11.22.33.98", "--reason", "x"],
         "not banned", 1)]:
    r = admin(*args)
    check(f"{what}: exit {status} and one line naming it",
          r.returncode == status and r.stderr.count("\n") == 1 and needle in r.stderr,
          f"rc={r.returncode} {r.stderr!r}")
r = admin("ban", "11.22.33.98", "--reason", "no duration")
check("ban without --for is refused", r.returncode != 0 and "--for" in r.stderr, r.stderr)
expect("nothing was listed by the refused commands", "NXDOMAIN", dns.a("11.22.33.98"))

# ---- IPv6 per /64, and escalation ------------------------------------------------------
c.send("black 2a00:1450:4001:81b::1 spam\n")
listed_within("2a00:1450:4001:81b::1", "127.0.0.2")
expect("another address of the same /64 is listed", "127.0.0.2",
       dns.a("2a00:1450:4001:81b::beef"))
expect("the next /64 is not", "NXDOMAIN", dns.a("2a00:1450:4001:81c::1"))
expect("lookup of any address of the /64 names the /64", "2a00:1450:4001:81b::/64",
       lookup_json("2a00:1450:4001:81b::77")["subject"])

for i in (1, 2):
    c.send(f"black 11.22.40.{i} dictionary\n")
listed_within("11.22.40.2", "127.0.0.2")
expect("two addresses do not list their /24", "NXDOMAIN", dns.a("11.22.40.200"))
c.send("black 11.22.40.3 dictionary\n")
listed_within("11.22.40.200", "127.0.0.2", limit=3.0)
j = lookup_json("11.22.40.200")
check("lookup of a neighbour names the escalated network",
      j["listed"] and j["network"] == "11.22.40.0/24", j)
check("list --listed includes the network",
      "11.22.40.0/24" in admin("list", "--listed").stdout)

m = c.metrics()
check("metrics: listing events counted",
      m.get('exigrey_collect_listing_events_total{event="listed"}', 0) >= 6
      and m.get('exigrey_collect_listing_events_total{event="unlisted"}', 0) >= 3, m)
expect("metrics: one escalated listing", 1.0,
       m.get('exigrey_collect_black_listed_by_rule{rule="escalated"}'))
log("collector log:\n" + "".join(line for line in c.log().splitlines(True)
                                  if "listed" in line)[:2000])
check("the collector logs each listing change with its reason",
      "unlisted 11.22.33.44: not listed: delisted by the operator" in c.log(), c.log()[-2000:])
expect("collector stops cleanly", 0, c.stop())
finish()

#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""exigrey-collect + the real rbldnsd + dig: what a reported address, name or
network becomes in DNS, and how fast.

  - RFC 5782 test points are always there (127.0.0.2, ::ffff:7f00:2 and TEST
    listed; 127.0.0.1, ::ffff:7f00:1 and INVALID not), in both lists;
  - with min_reporters 2, one reporter lists nothing, a second lists the
    address within 2 s; IPv6 and domain names too;
  - private/documentation addresses and whitelisted ones are never listed;
  - white reports count against a listing and make white listings;
  - SIGHUP applies a changed file; an invalid one is refused and the old
    configuration kept; SIGTERM exits 0.
Distinct reporters are distinct source addresses: 127.0.0.1, 127.0.0.2, ...

Usage: test_dns.py PATH/TO/exigrey-collect
"""

import os
import sys
import signal
import time

from collectlib import (BL, DBL, DWL, WL, Collector, Rbldnsd, check, expect, finish, log,
                        tempdir)

binary = os.path.abspath(sys.argv[1])
root = tempdir()
conf = os.path.join(root, "collect.conf")
with open(conf, "w") as f:
    f.write("# test settings\nmin_reporters = 2\nttl = 1h\ndns_ttl = 10s\n")

c = Collector(binary, root, "--config", conf, "--decay", "0",
              "--whitelist", "11.99.0.0/16", "--whitelist", "good-sender.xyz").start()
dns = Rbldnsd(root, c.rbldnsd_dir)
black = white = 0


def report(verb, subject, *sources):
    """Sends one line per source; returns once the collector has committed them."""
    global black, white
    for src in sources:
        c.send(f"{verb} {subject}\n", source=src)
    if verb == "black":
        black += len(sources)
        key, want = 'exigrey_collect_reports_total{verb="black"}', black
    else:
        white += len(sources)
        key, want = 'exigrey_collect_reports_total{verb="white"}', white
    return c.wait_metric(key, want) == want


# RFC 5782 test points, in both lists and all three files.
for zone in (BL, WL):
    expect(f"{zone}: 127.0.0.2 is listed", "127.0.0.2", dns.a("127.0.0.2", zone))
    expect(f"{zone}: 127.0.0.1 is not", "NXDOMAIN", dns.a("127.0.0.1", zone))
    expect(f"{zone}: ::ffff:7f00:2 is listed", "127.0.0.2", dns.a("::ffff:7f00:2", zone))
    expect(f"{zone}: ::ffff:7f00:1 is not", "NXDOMAIN", dns.a("::ffff:7f00:1", zone))
for zone in (DBL, DWL):
    expect(f"{zone}: TEST is listed", "127.0.0.2", dns.a("test", zone))
    expect(f"{zone}: INVALID is not", "NXDOMAIN", dns.a("invalid", zone))
check("the test point has a TXT", dns.txt("127.0.0.2") == ['"RFC 5782 test point"'],
      dns.txt("127.0.0.2"))

# One reporter is not enough with min_reporters 2; a second one lists within 2 s.
check("first report committed", report("black", "11.22.33.44", "127.0.0.1"))
time.sleep(1.5)
expect("one reporter lists nothing", "NXDOMAIN", dns.a("11.22.33.44"))
check("same reporter again committed", report("black", "11.22.33.44", "127.0.0.1"))
time.sleep(1.2)
expect("the same reporter twice is still one reporter", "NXDOMAIN", dns.a("11.22.33.44"))
c.send("black 11.22.33.44\n", source="127.0.0.2")
took = dns.wait_for("11.22.33.44", "127.0.0.2", timeout=5)
black += 1
check("a second reporter lists the address within 2 s", took is not None and took <= 2.0,
      f"(took {took})")
log(f"report to DNS answer: {took:.3f} s" if took else "no answer")
txt = dns.txt("11.22.33.44")
check("the TXT says why and since when",
      len(txt) == 1 and txt[0].startswith('"11.22.33.44 reported by 2 exigrey reporters since 20')
      and txt[0].endswith('Z"'), txt)

# IPv6 and a domain name (normalised: case, trailing dot).
c.send("black 2a00:1450:4001:0::99\n", source="127.0.0.1")
c.send("black 2A00:1450:4001::99\r\n", source="127.0.0.3")
black += 2
took = dns.wait_for("2a00:1450:4001::99", "127.0.0.2", timeout=5)
check("an IPv6 address is listed within 2 s", took is not None and took <= 2.0, f"({took})")
c.send("black bad-sender.xyz\n", source="127.0.0.1")
c.send("black BAD-SENDER.XYZ.\n", source="127.0.0.2")
black += 2
took = dns.wait_for("bad-sender.xyz", "127.0.0.2", zone=DBL, timeout=5)
check("a domain name is listed within 2 s", took is not None and took <= 2.0, f"({took})")
expect("a name's IP zone is untouched", "NXDOMAIN", dns.a("bad-sender.xyz", BL))

# Never listed: private, documentation, whitelisted networks and names.
ignored_before = c.metric('exigrey_collect_reports_ignored_total{reason="reserved"}')
for s in ("10.1.2.3", "192.0.2.77", "fd00::1"):
    c.send(f"black {s}\n", source="127.0.0.1")
    c.send(f"black {s}\n", source="127.0.0.2")
check("reserved subjects are dropped at intake and counted",
      c.wait_metric('exigrey_collect_reports_ignored_total{reason="reserved"}',
                    ignored_before + 6) == ignored_before + 6)
check("whitelisted address committed", report("black", "11.99.1.1", "127.0.0.1", "127.0.0.2"))
check("whitelisted name committed",
      report("black", "mail.good-sender.xyz", "127.0.0.1", "127.0.0.2"))
check("a fresh control address committed", report("black", "11.22.33.50", "127.0.0.1",
                                                    "127.0.0.2"))
check("the control address is listed", dns.wait_for("11.22.33.50", "127.0.0.2") is not None)
for s in ("10.1.2.3", "192.0.2.77", "11.99.1.1"):
    expect(f"{s} is never listed", "NXDOMAIN", dns.a(s))
expect("fd00::1 is never listed", "NXDOMAIN", dns.a("fd00::1"))
expect("a whitelisted domain's subdomain is never listed", "NXDOMAIN",
       dns.a("mail.good-sender.xyz", DBL))
dump = c.dump()
check("whitelisted subjects are stored (the whitelist may change)",
      "11.99.1.1 black=2 white=0 votes=2" in dump and "listed=no" in dump, dump)
check("reserved subjects are not stored", "10.1.2.3" not in dump, dump)

# White reports count against a listing: 2 white votes cancel 2 black ones.
check("white reports committed", report("white", "11.22.33.44", "127.0.0.3", "127.0.0.4"))
took = dns.wait_for("11.22.33.44", "NXDOMAIN", timeout=5)
check("two white votes against two black ones delist within 2 s",
      took is not None and took <= 2.0, f"({took})")
expect("and nothing is white-listed at a tie", "NXDOMAIN", dns.a("11.22.33.44", WL))
check("a third white vote committed", report("white", "11.22.33.44", "127.0.0.5"))
took = dns.wait_for("11.22.33.44", "127.0.0.2", zone=WL, timeout=5)
check("three white votes against two make a white listing within 2 s",
      took is not None and took <= 2.0, f"({took})")
check("the white TXT says so",
      dns.txt("11.22.33.44", WL)[0].startswith('"11.22.33.44 vouched for by 3 exigrey'),
      dns.txt("11.22.33.44", WL))

# SIGHUP: a changed file applies; an invalid one is refused and the old one kept.
check("single-reporter subject committed", report("black", "11.22.33.46", "127.0.0.1"))
time.sleep(1.2)
expect("one reporter: not listed under min_reporters 2", "NXDOMAIN", dns.a("11.22.33.46"))
with open(conf, "w") as f:
    f.write("min_reporters = 1\nttl = 1h\ndns_ttl = 10s\n")
c.signal(signal.SIGHUP)
check("reload counted",
      c.wait_metric('exigrey_collect_config_reloads_total{result="ok"}', 1) == 1)
took = dns.wait_for("11.22.33.46", "127.0.0.2", timeout=5)
check("after SIGHUP with min_reporters 1 it is listed within 2 s",
      took is not None and took <= 2.0, f"({took})")
with open(conf, "w") as f:
    f.write("min_reporters = zero\n")
c.signal(signal.SIGHUP)
check("an invalid file is refused and counted",
      c.wait_metric('exigrey_collect_config_reloads_total{result="error"}', 1) == 1)
check("and logged with its line", "collect.conf:1: invalid min_reporters" in c.log(), c.log())
check("a single-reporter report after the failed reload",
      report("black", "11.22.33.47", "127.0.0.2"))
check("the old configuration still applies (min_reporters 1)",
      dns.wait_for("11.22.33.47", "127.0.0.2", timeout=5) is not None)

# Exact counters: nothing rejected, every accepted report counted once.
m = c.metrics()
expect("black reports counted", black, m['exigrey_collect_reports_total{verb="black"}'])
expect("white reports counted", white, m['exigrey_collect_reports_total{verb="white"}'])
expect("stored totals match", black, m['exigrey_collect_stored_reports{verb="black"}'])
expect("no line rejected", 0, sum(v for k, v in m.items()
                                  if k.startswith("exigrey_collect_lines_rejected_total")))
expect("no connection left open", 0, m["exigrey_collect_connections_open"])
expect("every connection ended by its client",
       m["exigrey_collect_connections_accepted_total"],
       m['exigrey_collect_connections_closed_total{reason="eof"}'])
expect("black listings published: 11.22.33.46, .47, .50 (IPv4)", 3,
       m['exigrey_collect_listed{list="black",file="ip4"}'])
expect("one IPv6 black listing", 1, m['exigrey_collect_listed{list="black",file="ip6"}'])
expect("one name black listing", 1, m['exigrey_collect_listed{list="black",file="names"}'])
expect("one white listing", 1, m['exigrey_collect_listed{list="white",file="ip4"}'])

expect("SIGTERM stops cleanly", 0, c.stop())
check("the log says so", "exigrey-collect stopped" in c.log(), c.log())
finish()

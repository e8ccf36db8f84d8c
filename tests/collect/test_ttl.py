#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Listings expire `ttl` after the last report, with no further traffic: the
collector's expiry timer republishes and rbldnsd answers NXDOMAIN. Each
subject expires on its own clock; a new report lists it again, with a new
"since".

Usage: test_ttl.py PATH/TO/exigrey-collect
"""

import os
import sys
import time

from collectlib import Collector, Rbldnsd, check, expect, finish, log, tempdir

TTL = 4
binary = os.path.abspath(sys.argv[1])
root = tempdir()
# --hold 0: this test is about the votes' ttl alone (test_policy.py covers holds).
c = Collector(binary, root, "--min-reporters", "1", "--ttl", f"{TTL}s", "--decay", "0",
              "--hold", "0").start()
dns = Rbldnsd(root, c.rbldnsd_dir)

t0 = time.time()
c.send("black 11.22.33.44\n")
took = dns.wait_for("11.22.33.44", "127.0.0.2", timeout=5)
check("listed within 2 s", took is not None and took <= 2.0, f"({took})")
time.sleep(max(0.0, t0 + 2.0 - time.time()))
t1 = time.time()
c.send("black 11.22.33.45\n")
check("second subject listed", dns.wait_for("11.22.33.45", "127.0.0.2", timeout=5) is not None)
first_txt = dns.txt("11.22.33.44")

gone = dns.wait_for("11.22.33.44", "NXDOMAIN", timeout=TTL + 5, interval=0.05)
after = time.time() - t0
log(f"first subject gone {after:.2f} s after its report (ttl {TTL} s)")
check("the first listing expires after the ttl, not before",
      gone is not None and TTL <= after <= TTL + 3.0, f"(after {after:.2f} s)")
expect("the second, reported 2 s later, is still listed", "127.0.0.2", dns.a("11.22.33.45"))
gone = dns.wait_for("11.22.33.45", "NXDOMAIN", timeout=TTL + 5, interval=0.05)
after = time.time() - t1
check("the second expires on its own clock", gone is not None and TTL <= after <= TTL + 3.0,
      f"(after {after:.2f} s)")

time.sleep(1.1)  # a new second, so "since" differs
c.send("black 11.22.33.44\n")
check("a new report lists it again",
      dns.wait_for("11.22.33.44", "127.0.0.2", timeout=5) is not None)
second_txt = dns.txt("11.22.33.44")
check("with a new 'since'", first_txt != second_txt and len(second_txt) == 1,
      f"{first_txt} {second_txt}")
dump = c.dump()
check("the store keeps its history: 2 reports, one live vote",
      "11.22.33.44 black=2 white=0 votes=1" in dump and "listed=black" in dump, dump)
m = c.metrics()
expect("three reports accepted", 3.0, m['exigrey_collect_reports_total{verb="black"}'])
expect("one listing at the end", 1.0, m['exigrey_collect_listed{list="black",file="ip4"}'])
expect("SIGTERM stops cleanly", 0, c.stop())
finish()

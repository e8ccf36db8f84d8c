#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""rbldnsd_shards: each rbldnsd file split into parts, one dataset each
(rbldnsd_zone.h, run-rbldnsd.sh). Shows that every listing answers through
the parts as it did through one file, that the test points and the SOA come
from the first part only (no doubled answers), that a new listing rewrites
exactly one part and leaves the others untouched, and that changing the
split removes the files of the old one.

Usage: test_shards.py PATH/TO/exigrey-collect
"""

import glob
import os
import sys

from collectlib import (BL, DBL, Collector, Rbldnsd, check, expect, finish, log, qname,
                        tempdir)

SHARDS = 4
binary = os.path.abspath(sys.argv[1])
root = tempdir()
c = Collector(binary, root, "--min-reporters", "1", "--rbldnsd-shards", str(SHARDS)).start()
data = c.rbldnsd_dir

names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(data, "*")))
expected = sorted(f"{f}.{i}" for f in ("black.ip4", "black.ip6", "black.names", "white.ip4",
                                       "white.ip6", "white.names") for i in range(SHARDS))
expect("six files in four parts each, nothing else", expected, names)

addresses = [f"11.22.{i}.{i + 1}" for i in range(40)]
c.send("".join(f"black {a}\n" for a in addresses) + "black bad-sender.xyz\n"
       + "black 2a00:1450:4001::99\n")
c.wait_metric('exigrey_collect_listed{list="black",file="ip4"}', 40)
c.wait_metric('exigrey_collect_listed{list="black",file="names"}', 1)
c.wait_metric('exigrey_collect_listed{list="black",file="ip6"}', 1)
parts = [open(os.path.join(data, f"black.ip4.{i}")).read() for i in range(SHARDS)]
counts = [sum(1 for line in p.splitlines() if line.startswith("11.22.")) for p in parts]
log(f"listings per part: {counts}")
check("the listings are spread over the parts", sum(counts) == 40 and min(counts) > 0, counts)
check("only the first part has $SOA, $NS and the test point",
      "$SOA" in parts[0] and "127.0.0.2 :" in parts[0]
      and all("$SOA" not in p and "127.0.0.2 :" not in p for p in parts[1:]))

dns = Rbldnsd(root, data)
missing = [a for a in addresses if dns.a(a) != "127.0.0.2"]
expect("every address answers through its part", [], missing)
expect("the name answers", "127.0.0.2", dns.a("bad-sender.xyz", DBL))
expect("the IPv6 /64 answers", "127.0.0.2", dns.a("2a00:1450:4001::77"))
status, answers = dns.query(f"2.0.0.127.{BL}")
expect("the test point answers once", ["127.0.0.2"], answers)
expect("127.0.0.1 is never listed", "NXDOMAIN", dns.a("127.0.0.1"))
status, soa = dns.query(BL, "SOA")
check("the zone has one SOA", status == "NOERROR" and len(soa) == 1, soa)

before = {i: os.stat(os.path.join(data, f"black.ip4.{i}")).st_ino for i in range(SHARDS)}
c.send("black 11.22.99.1\n")
took = dns.wait_for("11.22.99.1", "127.0.0.2", timeout=5)
check("a new listing answers", took is not None, took)
after = {i: os.stat(os.path.join(data, f"black.ip4.{i}")).st_ino for i in range(SHARDS)}
replaced = [i for i in range(SHARDS) if before[i] != after[i]]
expect("exactly one part was rewritten", 1, len(replaced))
check("and it holds the new listing",
      "11.22.99.1 :" in open(os.path.join(data, f"black.ip4.{replaced[0]}")).read())
expect("the others still answer", [], [a for a in addresses if dns.a(a) != "127.0.0.2"])
expect("SIGTERM stops cleanly", 0, c.stop())

# Back to one file: the parts go, so that rbldnsd (run-rbldnsd.sh) is not
# given stale ones.
c2 = Collector(binary, root, "--min-reporters", "1", state=c.state, rbldnsd_dir=data).start()
names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(data, "*")))
expect("unsplit again: the six files only", sorted(
    ["black.ip4", "black.ip6", "black.names", "white.ip4", "white.ip6", "white.names"]), names)
check("with every listing", open(os.path.join(data, "black.ip4")).read().count("\n11.22.") == 41)
expect("SIGTERM stops cleanly", 0, c2.stop())
finish()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""dns_split: the black list delegated to 256 child zones, one per first
octet (docs/dns.md, "Lists of millions: split zones"), with the real Knot
DNS from Debian as primary and secondary, configured from examples/knot.

Shows, on a list that starts whole and is split while it runs, the way an
operator would do it (the children's files and configuration, the parent's
256 delegations added by knotc, the collector restarted with dns_split):
every listing moves from the parent to its child exactly once and the
parent keeps only its delegations; the secondary answers every listing,
old and new, IPv4 and IPv6, and the RFC 5782 test points, from the
children; a change touches only its child (the other children's serials
stay); a delisting leaves the secondary; the collector SIGKILLed in the
middle of a load over 30 children leaves, after a restart, every listing
in its child exactly once; a bad dns_split is refused.

usage: test_dns_split.py EXIGREY_COLLECT
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectlib import (Collector, check, expect, finish, free_port, log, qname,  # noqa: E402
                        tempdir)
from dnslib import (ZONES, axfr, dig, key_arg, knot_pair, need, serials,  # noqa: E402
                    wait_for)

COLLECT = sys.argv[1]
need("knotd", "knotc", "kdig", "keymgr")

root = tempdir()
collect_key, transfer_key, primary, secondary = knot_pair(root)
p_port, s_port = primary.port, secondary.port
KEY = key_arg(collect_key)
BLZ = ZONES["black"]
zones_arg = " ".join(f"{k}={v}" for k, v in ZONES.items())
dns_args = ["--min-reporters", "1", "--dns-primary", f"127.0.0.1:{p_port}", "--dns-key",
            collect_key, "--dns-zones", zones_arg, "--dns-notify", f"127.0.0.1:{s_port}",
            "--source-rate", "0"]


def at_secondary(subject, qtype="A"):
    return dig(s_port, qname(subject, BLZ), qtype)


def has(subject, want="127.0.0.2"):
    return lambda: at_secondary(subject)[1] == [want]


def ours(records):
    """The records the collector manages (A, TXT, CNAME)."""
    return sorted(r for r in records if r[1] in ("A", "TXT", "CNAME"))


# --- a refused setting: one line, exit 2 ------------------------------------
r = subprocess.run([COLLECT, "--plain", f"127.0.0.1:{free_port()}", "--state",
                    os.path.join(root, "bad"), "--dns-primary", f"127.0.0.1:{p_port}",
                    "--dns-key", collect_key, "--dns-zones", "black_names=dbl.x.org",
                    "--dns-split", "black"], capture_output=True, text=True, timeout=30)
expect("dns_split without its zone: exit 2, one line naming it",
       (2, 1, True), (r.returncode, len(r.stderr.strip().splitlines()),
                      "dns_split = black needs its zone" in r.stderr))

# --- a whole list with three listings ---------------------------------------
collector = Collector(COLLECT, root, *dns_args, rbldnsd_dir=False).start()
collector.send("black 11.22.33.44 virus\nblack 200.1.2.3 trap\nblack 2a01:4f8:10:20::7 virus\n")
# All three, whatever publishes they came in.
ok = all(wait_for(has(x), timeout=15)[0] for x in ("11.22.33.44", "200.1.2.3",
                                                    "2a01:4f8:10:20::99"))
check("before the split: listed at the secondary", ok)
before = ours(axfr(p_port, BLZ, KEY))
expect("before the split: the parent holds them (and the two test points)", 10, len(before))
expect("the collector stops cleanly", 0, collector.stop())

# --- the split, as docs/dns.md says -----------------------------------------
primary.split_now(["black"])
secondary.split_now(["black"])
collector = Collector(COLLECT, root, *dns_args, "--dns-split", "black", rbldnsd_dir=False,
                      state=collector.state).start()
collector.wait_metric("exigrey_collect_dns_transfers_total", 1 + 256 + 4, timeout=30)
ok, _ = wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0, timeout=30)
check("the collector caught up with the split zones", ok)
parent = axfr(p_port, BLZ, KEY)
expect("the parent keeps no listing", [], ours(parent))
expect("the parent keeps its 256 delegations", 256,
       len([r for r in parent if r[1] == "NS"]))
children = {}
for i in (0, 2, 11, 127, 200):
    children[i] = ours(axfr(p_port, f"{i}.{BLZ}", KEY))
expect("11.22.33.44 is in 11.bl, A and TXT, once", ["A", "TXT"],
       [t for o, t, _ in children[11] if o == f"44.33.22.11.{BLZ}"])
expect("200.1.2.3 is in 200.bl", 2, len(children[200]))
expect("the IPv6 /64 is in 2.bl (2000::/4)", 2, len(children[2]))
expect("the test point 127.0.0.2 is in 127.bl", [f"2.0.0.127.{BLZ}"] * 2,
       [o for o, _, _ in children[127]])
expect("::ffff:7f00:2 is in 0.bl", 2, len(children[0]))
moved = sorted(children[0] + children[2] + children[11] + children[127] + children[200])
expect("every record moved exactly once, unchanged",
       sorted((o, t, d) for o, t, d in before), moved)

# --- the secondary answers from the children --------------------------------
for subject in ("11.22.33.44", "200.1.2.3", "2a01:4f8:10:20::99", "127.0.0.2", "::ffff:7f00:2"):
    ok, _ = wait_for(has(subject), timeout=10)
    check(f"the secondary answers {subject}", ok, repr(at_secondary(subject)))
expect("127.0.0.1 is not listed", "NXDOMAIN", at_secondary("127.0.0.1")[0])
expect("the TXT comes with it", 1, len(at_secondary("11.22.33.44", "TXT")[1]))

# --- a new listing touches only its child -----------------------------------
watched = [BLZ, f"11.{BLZ}", f"99.{BLZ}", f"185.{BLZ}"]
serials0 = serials(p_port, watched)
collector.send("black 185.10.20.30 virus\n")
ok, took = wait_for(has("185.10.20.30"), timeout=10)
check("a new report reaches the secondary through 185.bl", ok)
log(f"report to secondary answer: {took:.2f} s")
serials1 = serials(p_port, watched)
check("185.bl's serial grew", serials1[f"185.{BLZ}"] > serials0[f"185.{BLZ}"],
      f"{serials0} -> {serials1}")
expect("the other zones' serials did not move", [serials0[z] for z in watched[:3]],
       [serials1[z] for z in watched[:3]])

# --- a delisting leaves the secondary ---------------------------------------
r = subprocess.run([COLLECT, "--state", collector.state, "delist", "11.22.33.44", "--reason",
                    "cleaned"], capture_output=True, text=True, timeout=30)
expect("delist exits 0", 0, r.returncode)
ok, _ = wait_for(lambda: at_secondary("11.22.33.44")[0] == "NXDOMAIN", timeout=10)
check("the delisting leaves the secondary", ok)
expect("11.bl holds nothing of ours then", [], ours(axfr(p_port, f"11.{BLZ}", KEY)))
check("no DNS error on the way", collector.metric("exigrey_collect_dns_errors_total") == 0,
      collector.log()[-2000:])

# --- the collector SIGKILLed in the middle of a load over 30 children -------
N, OCTETS = 3000, range(20, 50)
lines = "".join(f"black {o}.7.{i // 250}.{i % 250 + 1} virus\n"
                for i in range(N // len(OCTETS)) for o in OCTETS)
changes0 = collector.metric("exigrey_collect_dns_changes_total")
collector.send(lines)
wait_for(lambda: collector.metric("exigrey_collect_dns_changes_total") > changes0, timeout=20,
         step=0.005)
collector.kill()
partial = sum(len([r for r in axfr(p_port, f"{o}.{BLZ}", KEY) if r[1] == "A"]) for o in OCTETS)
log(f"killed with {partial} of {N} new names on the primary")
collector.start()
ok, _ = wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0
                 and collector.metric("exigrey_collect_dns_transfers_total") >= 257, timeout=60)
check("the restarted collector catches up", ok)
owners = {}
for o in OCTETS:
    for owner, rtype, _ in axfr(p_port, f"{o}.{BLZ}", KEY):
        if rtype in ("A", "TXT"):
            owners.setdefault(owner, []).append(rtype)
expect("after the kill, each of the 30 children holds its 100 names", [N // len(OCTETS)] * 30,
       [len([x for x in owners if x.endswith(f".{o}.{BLZ}")]) for o in OCTETS])
expect("each with exactly one A and one TXT", {},
       {x: t for x, t in owners.items() if sorted(t) != ["A", "TXT"]})
expect("and none of them in the parent", [], ours(axfr(p_port, BLZ, KEY)))

expect("the collector stops cleanly", 0, collector.stop())
secondary.stop()
primary.stop()
finish()

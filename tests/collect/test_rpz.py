#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The domain black list as a response policy zone, consumed by a real
resolver: exigrey-collect publishing by DNS UPDATE only (no rbldnsd files)
to Knot DNS, and Unbound from Debian loading the RPZ zone from Knot by zone
transfer (configured from the shipped examples/knot/unbound.conf).

Shows: a listed domain answers NXDOMAIN at the resolver while other names
still resolve; the listing reaches the resolver after NOTIFY in about a
second; a delisting lifts the block; IP listings are not in the RPZ zone.

usage: test_rpz.py EXIGREY_COLLECT
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectlib import Collector, check, expect, finish, free_port, log, tempdir  # noqa: E402
from dnslib import ZONES, Knot, Unbound, axfr, dig, key_arg, make_key, need, wait_for  # noqa: E402

COLLECT = sys.argv[1]
need("knotd", "knotc", "kdig", "keymgr", "unbound", "unbound-checkconf")

root = tempdir()
collect_key = make_key(os.path.join(root, "collect.key"), "exigrey-collect")
transfer_key = make_key(os.path.join(root, "transfer.key"), "exigrey-transfer")
# The collector's copy in the one-line form kdig -y takes (the other form,
# keymgr's output as it is, is what test_dns_update.py gives it).
line_key = os.path.join(root, "collect-line.key")
with open(line_key, "w") as f:
    f.write(key_arg(collect_key) + "\n")
os.chmod(line_key, 0o600)
p_port, r_port = free_port(), free_port()
primary = Knot(root, "primary", p_port, collect_key, transfer_key, secondary_port=free_port(),
               resolver_port=r_port).start()
collector = Collector(COLLECT, root, "--min-reporters", "1", "--dns-primary",
                      f"127.0.0.1:{p_port}", "--dns-key", line_key, "--dns-zones",
                      f"rpz={ZONES['rpz']} black_names={ZONES['black_names']}",
                      rbldnsd_dir=False).start()
# Names the resolver answers itself (the test has no Internet).
SPAM, CLEAN = "mail.spam-sender.biz", "mail.good-sender.biz"
resolver = Unbound(root, r_port, p_port,
                   local_data=[(SPAM, "203.0.113.80"), (CLEAN, "203.0.113.81")]).start()


def resolve(name):
    return dig(r_port, name)


# Before any listing, both names resolve.
ok, _ = wait_for(lambda: resolve(SPAM)[1] == ["203.0.113.80"], timeout=15)
check("the resolver answers before any listing", ok, repr(resolve(SPAM)))

collector.send(f"black {SPAM} spam run\nblack 11.22.33.44 virus\n")
ok, took = wait_for(lambda: resolve(SPAM)[0] == "NXDOMAIN", timeout=15)
check("a listed domain answers NXDOMAIN at the resolver", ok, repr(resolve(SPAM)))
log(f"report to resolver block: {took:.2f} s")
expect("other names still resolve", ("NOERROR", ["203.0.113.81"]), resolve(CLEAN))
rpz = axfr(p_port, ZONES["rpz"], key_arg(collect_key))
expect("the RPZ zone holds the listed domain as CNAME . and nothing else",
       [(f"{SPAM}.{ZONES['rpz']}", "CNAME", ".")], rpz)

r = subprocess.run([COLLECT, "--state", collector.state, "delist", SPAM, "--reason", "cleaned"],
                   capture_output=True, text=True, timeout=30)
expect("delist exits 0", 0, r.returncode)
ok, took = wait_for(lambda: resolve(SPAM)[1] == ["203.0.113.80"], timeout=15)
check("a delisting lifts the block at the resolver", ok, repr(resolve(SPAM)))
log(f"delisting to resolver: {took:.2f} s")
collector.stop()
resolver.stop()
finish()

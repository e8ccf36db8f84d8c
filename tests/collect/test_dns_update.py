#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""exigrey-collect publishing by DNS UPDATE (docs/dns.md), with the real
Knot DNS from Debian as primary and as secondary, configured from the
shipped examples/knot files, and rbldnsd on the collector's files beside
them to compare the answers.

Shows: the RFC 5782 test points; A and TXT answers at the secondary equal
to rbldnsd's (a network's TXT names the network: a static zone cannot name
the queried address); SOA serials that grow; the secondary following by
IXFR after NOTIFY; a delisting leaving the secondary; and the faults: the
primary refusing updates (logged, counted, retried), the primary killed
and restarted, the secondary down and back (catches up by IXFR), the
collector SIGKILLed in the middle of a large update (after a restart the
zone holds every listing exactly once); more pending changes than
dns_backlog (dropped, the zones compared whole, nothing missing).

usage: test_dns_update.py EXIGREY_COLLECT
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectlib import (BL, DBL, WL, Collector, Rbldnsd, check, expect, finish,  # noqa: E402
                        free_port, log, qname, tempdir)
from dnslib import (ZONES, axfr, dig, key_arg, knot_pair, need, serial,  # noqa: E402
                    wait_for)

COLLECT = sys.argv[1]
need("knotd", "knotc", "kdig", "keymgr")

root = tempdir()
collect_key, transfer_key, primary, secondary = knot_pair(root)
p_port, s_port = primary.port, secondary.port

zones_arg = " ".join(f"{k}={v}" for k, v in ZONES.items())


def refused_start(key_file, want):
    """The collector refuses to start with this key file: one line naming it."""
    r = subprocess.run([COLLECT, "--plain", f"127.0.0.1:{free_port()}", "--state",
                        os.path.join(root, "bad-state"), "--dns-primary", f"127.0.0.1:{p_port}",
                        "--dns-key", key_file, "--dns-zones", zones_arg],
                       capture_output=True, text=True, timeout=30)
    lines = r.stderr.strip().splitlines()
    check(f"a bad key file stops the start: {want}",
          r.returncode != 0 and len(lines) == 1 and key_file in lines[0] and want in lines[0]
          and "SECRET" not in lines[0], f"{r.returncode} {r.stderr!r}")


bad_key = os.path.join(root, "bad.key")
with open(bad_key, "w") as f:
    f.write("hmac-sha256:exigrey-collect:SECRET-not-base64!\n")
os.chmod(bad_key, 0o600)
refused_start(bad_key, "TSIG key")
os.chmod(bad_key, 0o644)
refused_start(bad_key, "others")
refused_start(os.path.join(root, "missing.key"), "No such file")
collector = Collector(COLLECT, root, "--min-reporters", "1", "--dns-primary",
                      f"127.0.0.1:{p_port}", "--dns-key", collect_key, "--dns-zones", zones_arg,
                      "--dns-notify", f"127.0.0.1:{s_port}", "--source-rate", "0",
                      "--log-level", "debug").start()
rbldnsd = Rbldnsd(root, collector.rbldnsd_dir)
KEY = key_arg(collect_key)
BLZ, DBLZ, WLZ = ZONES["black"], ZONES["black_names"], ZONES["white"]


def at_secondary(subject, zone, qtype="A"):
    return dig(s_port, qname(subject, zone), qtype)


def secondary_has(subject, zone, want="127.0.0.2"):
    return lambda: at_secondary(subject, zone)[1] == [want]


def secondary_lacks(subject, zone):
    return lambda: at_secondary(subject, zone)[0] == "NXDOMAIN"


# --- The test points, from the collector's first round -------------------
ok, took = wait_for(secondary_has("127.0.0.2", BLZ), timeout=15)
check("RFC 5782 test point 127.0.0.2 at the secondary", ok, f"after {took:.1f} s")
expect("its TXT", ['"RFC 5782 test point"'], at_secondary("127.0.0.2", BLZ, "TXT")[1])
expect("127.0.0.1 is not listed", "NXDOMAIN", at_secondary("127.0.0.1", BLZ)[0])
expect("::ffff:7f00:2 is listed", ["127.0.0.2"], at_secondary("::ffff:7f00:2", BLZ)[1])
expect("::ffff:7f00:1 is not listed", "NXDOMAIN", at_secondary("::ffff:7f00:1", BLZ)[0])
expect("test is listed in the name zone", ["127.0.0.2"], at_secondary("test", DBLZ)[1])
expect("invalid is not", "NXDOMAIN", at_secondary("invalid", DBLZ)[0])
expect("the white list has its test point", ["127.0.0.2"], at_secondary("127.0.0.2", WLZ)[1])
serial0 = serial(s_port, BLZ)

# --- Listings: the same answers as rbldnsd --------------------------------
collector.send("black 11.22.33.44 virus caught by clamav\n"
               "black spam-sender.biz trap hit\n"
               "black 2a01:4f8:10:20::7 virus\n"
               "white 33.44.55.66 our partner\n")
ok, took = wait_for(secondary_has("11.22.33.44", BLZ), timeout=10)
check("a report reaches the secondary", ok)
log(f"report to secondary answer: {took:.2f} s")
wait_for(secondary_has("33.44.55.66", WLZ), timeout=10)
wait_for(secondary_has("spam-sender.biz", DBLZ), timeout=10)
rbldnsd.wait_for("11.22.33.44", "127.0.0.2")
for subject, rz, kz in [("11.22.33.44", BL, BLZ), ("spam-sender.biz", DBL, DBLZ),
                        ("33.44.55.66", WL, WLZ), ("127.0.0.2", BL, BLZ), ("test", DBL, DBLZ)]:
    expect(f"A of {subject} as rbldnsd", rbldnsd.query(qname(subject, rz))[1],
           at_secondary(subject, kz)[1])
    expect(f"TXT of {subject} as rbldnsd", rbldnsd.txt(subject, rz),
           at_secondary(subject, kz, "TXT")[1])
# IPv6 counts per /64 (ipv6_prefix): rbldnsd names the queried address, the
# zone's wildcard names the network.
v6 = "2a01:4f8:10:20::7"
expect("an IPv6 /64 listing answers for any address in it", ["127.0.0.2"],
       at_secondary("2a01:4f8:10:20::99", BLZ)[1])
txt6 = at_secondary("2a01:4f8:10:20::99", BLZ, "TXT")[1]
check("its TXT names the network", len(txt6) == 1 and txt6[0].startswith('"2a01:4f8:10:20::/64 '),
      repr(txt6))
expect("rbldnsd's names the queried address",
       [txt6[0].replace("2a01:4f8:10:20::/64", "2a01:4f8:10:20::99")],
       rbldnsd.txt("2a01:4f8:10:20::99", BL))
expect("the next /64 is not listed", "NXDOMAIN", at_secondary("2a01:4f8:10:21::7", BLZ)[0])
serial1 = serial(s_port, BLZ)
check("the SOA serial grew", serial1 > serial0, f"{serial0} -> {serial1}")
slog = secondary.log_since_start()
check("the secondary followed by IXFR after NOTIFY",
      "notify, incoming" in slog and "IXFR, incoming" in slog, slog[-2000:])
check("the collector sent its own NOTIFYs (dns_notify)",
      collector.metric("exigrey_collect_dns_notifies_total") > 0)
check("and the secondary accepted them (none denied)",
      "denied" not in slog and "refused" not in slog.lower(), slog[-2000:])

# --- A delisting leaves the secondary --------------------------------------
r = subprocess.run([COLLECT, "--state", collector.state, "delist", "11.22.33.44",
                    "--reason", "fixed"], capture_output=True, text=True, timeout=30)
expect("delist exits 0", 0, r.returncode)
ok, took = wait_for(secondary_lacks("11.22.33.44", BLZ), timeout=10)
check("the delisting leaves the secondary", ok)
log(f"delisting to secondary: {took:.2f} s")

# --- Fault: the primary refuses updates ------------------------------------
errors0 = collector.metric("exigrey_collect_dns_errors_total")
primary.reconfigure("action: [update, transfer]", "action: [transfer]")
collector.send("black 11.22.33.50 virus\n")
check("a refusal is counted",
      collector.wait_metric("exigrey_collect_dns_errors_total", errors0 + 1, timeout=10)
      >= errors0 + 1)
check("and logged with the server's answer",
      f"UPDATE {BLZ}: NOTAUTH" in collector.log(), collector.log()[-1500:])
expect("the secondary does not have it yet", "NXDOMAIN", at_secondary("11.22.33.50", BLZ)[0])
primary.reconfigure("action: [transfer]", "action: [update, transfer]")
ok, took = wait_for(secondary_has("11.22.33.50", BLZ), timeout=15)
check("once allowed again the retry lands", ok, f"{took:.1f} s")
expect("the collector is in step again", 0.0,
       wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0, timeout=10)[0]
       and collector.metric("exigrey_collect_dns_behind"))

# --- Fault: the primary killed; listings made meanwhile arrive after -------
primary.stop(signal.SIGKILL)
collector.send("black 11.22.33.51 virus\n")
time.sleep(1)
primary.start()
ok, took = wait_for(secondary_has("11.22.33.51", BLZ), timeout=20)
check("a listing made while the primary was down arrives after its restart", ok)
expect("and the earlier ones survived the kill (Knot's journal)", ["127.0.0.2"],
       at_secondary("11.22.33.50", BLZ)[1])

# --- Fault: the secondary down and back catches up by IXFR -----------------
secondary.stop()
collector.send("black 11.22.33.52 virus\n")
wait_for(lambda: dig(p_port, qname("11.22.33.52", BLZ))[1] == ["127.0.0.2"], timeout=10)
secondary.start()
ok, took = wait_for(secondary_has("11.22.33.52", BLZ), timeout=20)
check("the secondary catches up after a restart", ok)
slog = secondary.log_since_start()
check("by IXFR", "IXFR, incoming" in slog and "AXFR, incoming" not in slog, slog[-2000:])

# --- Fault: the collector SIGKILLed in the middle of a large update --------
N = 3000
lines = "".join(f"black 12.{i // 250}.{i % 250}.9 virus\n" for i in range(N))
changes0 = collector.metric("exigrey_collect_dns_changes_total")
collector.send(lines)
# Kill it once the name server has some of the new records, not all.
wait_for(lambda: collector.metric("exigrey_collect_dns_changes_total") > changes0, timeout=20,
         step=0.005)
collector.kill()
partial = len([r for r in axfr(p_port, BLZ, KEY) if r[0].endswith(".12." + BLZ) and r[1] == "A"])
log(f"killed with {partial} of {N} new names on the primary")
collector.start()
# In step: it compared every zone with the primary's (a transfer) and sent
# what was missing.
ok, _ = wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0
                 and collector.metric("exigrey_collect_dns_transfers_total") > 0, timeout=60)
check("the restarted collector catches up", ok)
records = axfr(p_port, BLZ, KEY)
owners = {}
for owner, rtype, data in records:
    owners.setdefault(owner, []).append(rtype)
doubled = {o: t for o, t in owners.items() if sorted(t) != ["A", "TXT"]}
expect("every name in the zone has exactly one A and one TXT", {}, doubled)
listed = [o for o in owners if o.endswith(".12." + BLZ)]
expect(f"all {N} listings are in the zone after the kill", N, len(listed))
files = [line.split()[0] for line in collector.file("black.ip4").splitlines()
         if line[:1].isdigit() and not line.startswith("127.0.0.2")]
expect("the zone lists what the rbldnsd file lists",
       sorted(qname(s, BLZ) for s in files),
       sorted(o for o in owners if not o.startswith("2.0.0.127.") and ":" not in o
              and len(o.split(".")) == 4 + len(BLZ.split("."))))

# --- A backlog past dns_backlog: dropped, the zones compared whole ---------
collector.stop()
collector.extra += ["--dns-backlog", "100"]
collector.start()
wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0, timeout=30)
M = 400  # 800 record changes, past the 100 allowed
transfers0 = collector.metric("exigrey_collect_dns_transfers_total")
# The primary does not answer meanwhile (stopped, not killed), so the
# changes pile up whether they come in one publish or several: in one, the
# UPDATE times out and the requeued changes overflow.
primary.proc.send_signal(signal.SIGSTOP)
collector.send("".join(f"black 13.{i // 200}.{i % 200}.9 virus\n" for i in range(M)))
ok, _ = wait_for(lambda: collector.metric("exigrey_collect_dns_backlog_overflows_total") >= 1,
                 timeout=30)
primary.proc.send_signal(signal.SIGCONT)
check("the overflow is counted", ok)
ok, _ = wait_for(lambda: collector.metric("exigrey_collect_dns_behind") == 0
                 and collector.metric("exigrey_collect_dns_transfers_total") > transfers0,
                 timeout=60)
check("the zones were compared whole (a transfer) and the collector is in step", ok)
# Once per round that overflowed: the publish may have come in one push or
# in several, so the log and the counter agree rather than equal 1.
overflows = collector.metric("exigrey_collect_dns_backlog_overflows_total")
check("and logged once per overflow, naming dns_backlog",
      collector.log().count("more than dns_backlog 100") == overflows,
      f"{overflows} counted; log: {collector.log()[-1500:]}")
owners = {}
for owner, rtype, data in axfr(p_port, BLZ, KEY):
    owners.setdefault(owner, []).append(rtype)
expect(f"all {M} listings of the overflowed publish are in the zone", M,
       len([o for o in owners if o.endswith(".13." + BLZ)]))
expect("each with exactly one A and one TXT", {},
       {o: t for o, t in owners.items() if o.endswith(".13." + BLZ) and sorted(t) != ["A", "TXT"]})
ok, _ = wait_for(secondary_has("13.1.199.9", BLZ), timeout=20)
check("and the secondary follows", ok)
collector.stop()
finish()

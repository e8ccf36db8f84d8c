#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Report-to-answer latency by both publishing paths at growing list sizes
(docs/benchmarks.md, docs/dns.md).

For each SIZE: a fresh collector (--min-reporters 1, --source-rate 0) that
writes the rbldnsd files AND sends DNS UPDATEs to a Knot primary with a
Knot secondary (both from examples/knot, as the tests run them; the
collector also NOTIFYs the secondary itself, dns_notify, unless --no-notify);
rbldnsd (examples/rbldnsd/run-rbldnsd.sh, -c 1) serves the files. SIZE addresses
are loaded over the plain protocol and waited for at both servers. Then
SAMPLES fresh addresses are reported, 0 to 0.5 s apart at random, each over
a new connection (as Exim's ${readsocket} does); after each, rbldnsd and the
Knot secondary are both asked every 5 ms until each answers 127.0.0.2.
Prints p50 and p99 (nearest rank) of both paths, the load time, and the
resident memory and CPU seconds of the collector, both knotd and rbldnsd.

Everything runs on 127.0.0.1; nothing is sent to the reported addresses.

The addresses are spread over the first octets of public IPv4 space, as a
real list's are. With --split, the list is in 256 child zones, one per
first octet (dns_split), on both Knot servers. With --no-knot, the rbldnsd
path alone (for sizes whose Knot servers would not fit in this machine's
memory); --shards N sets rbldnsd_shards.

Usage: dns_latency.py PATH/TO/exigrey-collect [--sizes 0,100000] [--samples 40]
                      [--shards N] [--split] [--no-knot] [--map-size 4G]
"""

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "collect"))
import collectlib  # noqa: E402
from collectlib import Collector, Rbldnsd, percentile  # noqa: E402
from dnslib import ZONES, knot_pair, need, serials  # noqa: E402

sys.path.insert(0, HERE)
from collect_plain import dns_a  # noqa: E402

BL = ZONES["black"]
TICKS = os.sysconf("SC_CLK_TCK")


def usage(pid):
    """(resident MiB, CPU seconds) of a process."""
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return rss, cpu


# First octets of public IPv4 space (the collector refuses reserved
# addresses): the listings are spread over them, as a real list's are, so
# that a split list (--split) fills all its child zones.
OCTETS = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)]


def address(i, sample=False):
    """The i-th loaded address, or the i-th sampled one (never loaded)."""
    o = OCTETS[i % len(OCTETS)]
    j = i // len(OCTETS)
    second = 250 + j // 62500 % 5 if sample else j // 62500 % 250
    return f"{o}.{second}.{j // 250 % 250}.{j % 250 + 1}"


def rev(addr, zone):
    return ".".join(reversed(addr.split("."))) + "." + zone


def metric(collector, key):
    """A metric, waiting out a collector busy publishing a large list (its
    event loop serves /metrics between publishes)."""
    for _ in range(60):
        try:
            return collector.metric(key)
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"/metrics did not answer for a minute ({key})")


def load(collector, n, root):
    """Reports n addresses (one connection, like a busy reporter)."""
    if n == 0:
        return 0.0
    path = os.path.join(root, "load.txt")
    with open(path, "w") as f:
        f.writelines(f"black {address(i)}\n" for i in range(n))
    t0 = time.monotonic()
    subprocess.run(["socat", "-u", f"OPEN:{path}", f"TCP:127.0.0.1:{collector.port}"],
                   check=True)
    key = 'exigrey_collect_listed{list="black",file="ip4"}'
    while metric(collector, key) < n:
        time.sleep(0.2)
    return time.monotonic() - t0


def run_size(a, n):
    root = tempfile.mkdtemp(prefix=f"exigrey-bench-dns-{n}-")
    os.chmod(root, 0o755)
    collectlib._TMP.append(root)
    p_port = s_port = 0
    dns_flags = []
    if a.knot:
        ckey, _, primary, secondary = knot_pair(root, split=["black"] if a.split else [])
        p_port, s_port = primary.port, secondary.port
        dns_flags = ["--dns-primary", f"127.0.0.1:{p_port}", "--dns-key", ckey,
                     "--dns-zones", f"black={BL}",
                     *(["--dns-notify", f"127.0.0.1:{s_port}"] if a.notify else []),
                     *(["--dns-split", "black"] if a.split else [])]
    collector = Collector(a.collect, root, "--min-reporters", "1", "--source-rate", "0",
                          "--rbldnsd-shards", str(a.shards), "--map-size", a.map_size,
                          "--log-level", "warning", *dns_flags).start()
    rbldnsd = Rbldnsd(root, collector.rbldnsd_dir)

    load_s = load(collector, n, root)
    # Both servers hold the whole list before sampling starts.
    t0 = time.monotonic()
    # The collector has recorded every listing (a bulk load's publish goes on
    # after the files), and rbldnsd answers (it answers nothing while it
    # reloads the files of the load).
    while metric(collector, 'exigrey_collect_listing_events_total{event="listed"}') < n:
        time.sleep(0.5)
    last = address(max(n - 1, 0))
    while dns_a(rbldnsd.port, rev(last, collectlib.BL), 1) != (n > 0):
        if time.monotonic() - t0 > a.load_timeout:
            raise RuntimeError(f"size {n}: rbldnsd did not catch up in {a.load_timeout} s")
        time.sleep(0.5)
    zones = [BL] + ([f"{o}.{BL}" for o in range(256)] if a.split else [])
    while a.knot:
        behind = metric(collector, "exigrey_collect_dns_behind")
        if behind == 0 and dns_a(s_port, rev(last, BL), 1) == (n > 0):
            ps = serials(p_port, zones)
            if None not in ps.values() and ps == serials(s_port, zones):
                break
        if time.monotonic() - t0 > a.load_timeout:
            raise RuntimeError(f"size {n}: the secondary did not catch up in {a.load_timeout} s")
        time.sleep(0.5)
    settle_s = time.monotonic() - t0
    procs = {"collector": collector.proc.pid, "rbldnsd": rbldnsd.proc.pid}
    if a.knot:
        procs.update({"knotd primary": primary.proc.pid, "knotd secondary": secondary.proc.pid})
    before = {k: usage(p) for k, p in procs.items()}
    if a.knot:
        plog0, slog0 = len(primary.log_since_start()), len(secondary.log_since_start())

    files, zone = [], []
    for i in range(a.samples):
        time.sleep(random.uniform(0, 0.5))
        addr = address(i, sample=True)
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", collector.port))
        s.sendall(f"black {addr}\n".encode())
        s.shutdown(socket.SHUT_WR)
        s.recv(16)
        s.close()
        t_rbl = None
        t_knot = None if a.knot else 0.0
        while t_rbl is None or t_knot is None:
            now = time.monotonic() - t0
            if now > 300:
                raise RuntimeError(f"size {n}: {addr} not answered within 300 s "
                                   f"(rbldnsd {t_rbl}, knot {t_knot})")
            if t_rbl is None and dns_a(rbldnsd.port, rev(addr, collectlib.BL), i):
                t_rbl = time.monotonic() - t0
            if t_knot is None and dns_a(s_port, rev(addr, BL), i):
                t_knot = time.monotonic() - t0
            time.sleep(0.005)
        files.append(t_rbl)
        zone.append(t_knot)
    after = {k: usage(p) for k, p in procs.items()}
    collector.stop(timeout=600)
    rbldnsd.proc.terminate()
    if not a.knot:
        return {"n": n, "load_s": load_s, "settle_s": settle_s, "rbl": files, "knot": zone,
                "usage": {k: (after[k][0], after[k][1] - before[k][1], after[k][1])
                          for k in procs}}
    # What Knot did meanwhile: update passes and their time, transfers.
    plog = primary.log_since_start()[plog0:]
    slog = secondary.log_since_start()[slog0:]
    passes = [float(x) for x in re.findall(r"DDNS, finished, .*?, ([0-9.]+) seconds", plog)]
    knot_log = {"ddns passes": len(passes),
                "ddns s (mean)": round(sum(passes) / len(passes), 3) if passes else None,
                "ixfr": slog.count("IXFR, incoming"), "axfr": slog.count("AXFR, incoming"),
                "flushes": plog.count("zone file updated") + slog.count("zone file updated")}
    print(f"size {n}: Knot while sampling: {knot_log}", flush=True)
    for k in (primary, secondary):
        k.stop()
    return {"n": n, "load_s": load_s, "settle_s": settle_s, "rbl": files, "knot": zone,
            "usage": {k: (after[k][0], after[k][1] - before[k][1], after[k][1]) for k in procs}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("collect")
    ap.add_argument("--sizes", default="0,100000")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--shards", type=int, default=1,
                    help="rbldnsd_shards: split each rbldnsd file into this many parts")
    ap.add_argument("--load-timeout", type=float, default=3600)
    ap.add_argument("--no-knot", dest="knot", action="store_false",
                    help="the rbldnsd path alone (no name servers): for sizes Knot cannot hold here")
    ap.add_argument("--map-size", default="4G", help="the collector's store map size")
    ap.add_argument("--split", action="store_true",
                    help="dns_split = black: the list in 256 child zones by first octet")
    ap.add_argument("--no-notify", dest="notify", action="store_false",
                    help="leave dns_notify unset (the secondary waits for Knot's NOTIFY)")
    a = ap.parse_args()
    need(*(["knotd", "knotc", "kdig", "keymgr"] if a.knot else []), "rbldnsd", "socat")
    results = []
    for n in (int(x) for x in a.sizes.split(",")):
        r = run_size(a, n)
        results.append(r)
        knot = (f"{percentile(r['knot'], 50):.3f}/{percentile(r['knot'], 99):.3f} s"
                if a.knot else "not run")
        print(f"size {n}: loaded in {r['load_s']:.1f} s, the servers caught up "
              f"{r['settle_s']:.1f} s later; rbldnsd p50/p99 "
              f"{percentile(r['rbl'], 50):.3f}/{percentile(r['rbl'], 99):.3f} s, Knot secondary "
              f"{knot}; {r['usage']}", flush=True)
    ms = lambda v: f"{v * 1000:.0f}"  # noqa: E731
    print("\n| listings | rbldnsd p50 / p99 ms | Knot secondary p50 / p99 ms |")
    print("|---:|---:|---:|")
    for r in results:
        knot = (f"{ms(percentile(r['knot'], 50))} / {ms(percentile(r['knot'], 99))}"
                if a.knot else "not run")
        print(f"| {r['n']:,} | {ms(percentile(r['rbl'], 50))} / {ms(percentile(r['rbl'], 99))} "
              f"| {knot} |")
    print("\n| listings | process | resident MiB | CPU s while sampling | CPU s in all |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        for name, (rss, cpu, total) in r["usage"].items():
            print(f"| {r['n']:,} | {name} | {rss:.0f} | {cpu:.1f} | {total:.1f} |")


if __name__ == "__main__":
    main()

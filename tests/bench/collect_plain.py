#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark of exigrey-collect's plain protocol (docs/benchmarks.md).

1. Throughput: SENDERS concurrent `socat` clients, each from its own source
   address (127.0.0.2, .3, ...: distinct reporters), stream LINES
   `black ADDR` lines over one connection each, all senders reporting the
   same LINES public-looking addresses (so every subject gets SENDERS votes).
   Measured twice in the same run, on the same files:
     - the seed's listener, `socat -u TCP-LISTEN:PORT,fork,reuseaddr
       OPEN:FILE,append`: until FILE holds every byte (median of 3 runs);
     - exigrey-collect (--source-rate 0, --min-reporters 1), as shipped
       (sync meta: one fsync per commit) and with --sync none: until its
       /metrics count every report as committed to the store.
2. Latency from report to DNS answer: a report of a fresh address is sent
   over a new connection (as Exim's ${readsocket} does); black.ip4 is
   watched until a new file lists it (the collector's part), then rbldnsd
   (examples/rbldnsd/run-rbldnsd.sh, -c 1) is queried every 5 ms over UDP
   until it answers 127.0.0.2 (the whole path). SAMPLES reports, 0 to 0.5 s
   apart at random, first against an empty store, then against the store
   filled by (1) (LINES listings in the zone file). p50 and p99 (nearest rank).

Everything runs on 127.0.0.1; nothing is ever sent to the reported
addresses. Prints a Markdown table.

Usage: collect_plain.py PATH/TO/exigrey-collect [--senders 4] [--lines 100000]
                        [--samples 40] [--sync meta]
"""

import argparse
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "collect"))
from collectlib import Rbldnsd, free_port, percentile, wait_port  # noqa: E402

PROCS = []
LISTED = 'exigrey_collect_listed{list="black",file="ip4"}'


def spawn(argv, log):
    p = subprocess.Popen(argv, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    PROCS.append(p)
    return p


def metrics(port):
    out = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
    return out


def dns_a(port, name, qid):
    """One A query over UDP: True if answered with records, False otherwise."""
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    except OSError:
        return False
    finally:
        s.close()
    _, flags, _, ancount = struct.unpack(">HHHH", data[:8])
    return (flags & 0xF) == 0 and ancount > 0


def senders(port, files, bind_base=2):
    procs = []
    for i, f in enumerate(files):
        procs.append(subprocess.Popen(
            ["socat", "-u", f"OPEN:{f}", f"TCP:127.0.0.1:{port},bind=127.0.0.{bind_base + i}"]))
    return procs


def latency(collect_port, dns_port, data_dir, samples, base):
    """[(report to file replaced, report to DNS answer)] in seconds."""
    path = os.path.join(data_dir, "black.ip4")
    out = []
    for i in range(samples):
        time.sleep(random.uniform(0, 0.5))
        addr = f"12.{base}.{i // 250}.{i % 250 + 1}"
        qname = ".".join(reversed(addr.split("."))) + ".bl.exigrey.test"
        needle = f"\n{addr} ".encode()
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", collect_port))
        s.sendall(f"black {addr}\n".encode())
        s.shutdown(socket.SHUT_WR)
        s.recv(16)  # EOF: the collector closes after the line
        s.close()
        seen_ino, t_file = None, None
        while t_file is None:  # a new file (rename: new inode) that lists it
            ino = os.stat(path).st_ino
            if ino != seen_ino:
                seen_ino = ino
                with open(path, "rb") as f:
                    if needle in f.read():
                        t_file = time.monotonic() - t0
            if time.monotonic() - t0 > 10:
                raise RuntimeError(f"{addr} not published within 10 s")
            time.sleep(0.001)
        while not dns_a(dns_port, qname, i):
            if time.monotonic() - t0 > 10:
                raise RuntimeError(f"{addr} not answered within 10 s")
            time.sleep(0.005)
        out.append((t_file, time.monotonic() - t0))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("collect")
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--lines", type=int, default=100000)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--sync", default="meta")
    a = ap.parse_args()
    for tool in ("socat", "rbldnsd"):
        if not shutil.which(tool):
            sys.exit(f"collect_plain: {tool} is not installed")
    root = tempfile.mkdtemp(prefix="exigrey-bench-collect-")
    os.chmod(root, 0o755)
    try:
        # The same LINES subjects for every sender, each in its own order.
        subjects = [f"11.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}"
                    for i in range(a.lines)]
        files = []
        for s in range(a.senders):
            order = subjects[:]
            random.Random(s).shuffle(order)
            path = os.path.join(root, f"sender{s}.txt")
            with open(path, "w") as f:
                f.writelines(f"black {x}\n" for x in order)
            files.append(path)
        total = a.senders * a.lines
        total_bytes = sum(os.path.getsize(f) for f in files)

        # 1a. The seed's socat listener, three times (it is fast: take the median).
        socat_runs = []
        for run in range(3):
            out = os.path.join(root, f"socat-out{run}.txt")
            port = free_port()
            listener = spawn(["socat", "-u", f"TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1",
                              f"OPEN:{out},creat,append"], os.path.join(root, "socat.log"))
            wait_port(port)
            os.path.exists(out) and os.unlink(out)  # wait_port's probe connection made it
            t0 = time.monotonic()
            procs = senders(port, files)
            while not os.path.exists(out) or os.path.getsize(out) < total_bytes:
                time.sleep(0.001)
            socat_runs.append(time.monotonic() - t0)
            for p in procs:
                p.wait()
            listener.kill()
            os.unlink(out)
        socat_s = statistics.median(socat_runs)

        def start_collector(name, sync):
            data = os.path.join(root, f"rbldnsd-{name}")
            cport, mport = free_port(), free_port()
            proc = spawn([a.collect, "--plain", f"127.0.0.1:{cport}", "--metrics",
                          f"127.0.0.1:{mport}", "--state", os.path.join(root, f"state-{name}"),
                          "--rbldnsd-dir", data, "--min-reporters", "1", "--source-rate", "0",
                          "--sync", sync, "--log-level", "warning"],
                         os.path.join(root, f"collect-{name}.log"))
            # Ready when /metrics is *served*: the collector binds its ports
            # before it publishes the files (it binds as root, publishes as its
            # user) and serves only after; a bare TCP connect (wait_port) can
            # come before the files, and rbldnsd aborts on a missing one.
            wait_port(mport)
            deadline = time.time() + 10
            while True:
                try:
                    metrics(mport)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            return proc, cport, mport, data

        def throughput(cport, mport):
            key = 'exigrey_collect_reports_total{verb="black"}'
            before = metrics(mport)
            t0 = time.monotonic()
            procs = senders(cport, files)
            while metrics(mport).get(key, 0) < before[key] + total:
                time.sleep(0.005)
            took = time.monotonic() - t0
            for p in procs:
                p.wait()
            commits = metrics(mport)["exigrey_collect_store_commits_total"] - \
                before["exigrey_collect_store_commits_total"]
            return took, commits

        # 1b. The collector with sync none (no fsync per commit).
        proc, cport, mport, _ = start_collector("none", "none")
        none_s, none_commits = throughput(cport, mport)
        proc.terminate()
        proc.wait(timeout=30)

        # The collector as shipped (sync meta) and rbldnsd.
        c, cport, mport, data = start_collector("meta", a.sync)
        dns = Rbldnsd(root, data)  # a free UDP port, chosen again if taken
        PROCS.append(dns.proc)
        dport = dns.port

        # 2a. Latency against an empty store.
        lat_empty = latency(cport, dport, data, a.samples, 1)

        # 1c. Throughput into it.
        collect_s, commits = throughput(cport, mport)
        time.sleep(1.5)  # let the last publish and rbldnsd's reload settle

        # 2b. Latency with LINES listings in the zone.
        lat_full = latency(cport, dport, data, a.samples, 2)
        final = metrics(mport)
        c.terminate()
        c.wait(timeout=30)

        print(f"senders {a.senders}, lines per sender {a.lines}, reports {total}, "
              f"bytes {total_bytes}")
        print()
        print("| listener | reports/s | MB/s | seconds |")
        print("|---|---:|---:|---:|")
        print(f"| socat (the seed: append to a file; median of 3) | {total / socat_s:,.0f} | "
              f"{total_bytes / socat_s / 1e6:.1f} | {socat_s:.3f} |")
        print(f"| exigrey-collect, sync {a.sync} (as shipped) | {total / collect_s:,.0f} | "
              f"{total_bytes / collect_s / 1e6:.1f} | {collect_s:.2f} |")
        print(f"| exigrey-collect, sync none | {total / none_s:,.0f} | "
              f"{total_bytes / none_s / 1e6:.1f} | {none_s:.2f} |")
        print()
        print(f"collector ({a.sync}): {commits:.0f} commits ({total / max(commits, 1):.0f} "
              f"reports each; sync none: {none_commits:.0f}), "
              f"{final['exigrey_collect_publishes_total']:.0f} publishes, last publish "
              f"{final['exigrey_collect_publish_duration_milliseconds']:.0f} ms, "
              f"{final[LISTED]:.0f} listed, "
              f"RSS {final['exigrey_collect_resident_memory_bytes'] / 2**20:.1f} MiB")
        print()
        print("| latency (ms) | samples | min | p50 | p99 | max |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, lat in (("empty store", lat_empty),
                           (f"{a.lines:,} listings", lat_full)):
            for what, k in (("report to file replaced", 0), ("report to DNS answer", 1)):
                v = [x[k] * 1000 for x in lat]
                print(f"| {what}, {label} | {len(v)} | {min(v):.0f} | "
                      f"{statistics.median(v):.0f} | {percentile(v, 99):.0f} | {max(v):.0f} |")
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
            p.wait()
        if os.environ.get("EXIGREY_TEST_KEEP"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Multi-MX propagation latency (docs/benchmarks.md, "Multi-MX"; docs/multi-mx.md).

HOSTS stores on one machine, each with its own exigrey-forward sharing it
with the others over 127.0.0.1 (a full mesh, the same peers file), as on a
site's MX hosts. peer_probe makes first sightings on mx1's store, as the
plugin does, and times each until mx2's store has it (the decision, the
peer log, mx1's forwarder reading it, the signed batch, mx2's forwarder
merging it, the commit): SAMPLES samples 0 to 100 ms apart.

  1. at rest: nothing else happens;
  2. under load: LOAD first sightings per second on *every* host's store
     (each host's forwarder sends them to all others and merges theirs),
     from LOAD_PROCS processes per host.

Prints p50/p99/max per phase, what the load achieved, the forwarders' CPU
time per shipped-and-merged record, and their peer log sizes at the end.

With --catchup S, first (before any forwarder runs) mx1 makes first
sightings as fast as one process can for S seconds: a backlog, as after a
peer came back from a long outage. Then the forwarders start, and the time
until mx2 holds all of them gives the catch-up rate (records merged per
second through one link).

Usage: peer_latency.py FORWARD PEER_PROBE [--hosts 3] [--samples 200]
                       [--load 2000] [--load-procs 2] [--settle 2] [--catchup 0]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "collect"))
from collectlib import free_port, percentile, wait_port  # noqa: E402

PROCS = []


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(probe, a, b, samples):
    r = subprocess.run([probe, "latency", a, b, str(samples)], capture_output=True, text=True,
                       timeout=samples * 11 + 60)
    if r.returncode != 0:
        raise RuntimeError(f"peer_probe latency: {r.stderr.strip()}")
    return [float(x) for x in r.stdout.split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("forward")
    ap.add_argument("probe")
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--load", type=int, default=2000, help="first sightings/s per host")
    ap.add_argument("--load-procs", type=int, default=2)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--catchup", type=int, default=0, help="seconds of backlog made first")
    ap.add_argument("--peer-rate", type=int, default=0,
                    help="the forwarders' --peer-rate (default: theirs, 20000)")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="exigrey-bench-peers-")
    try:
        names = [f"mx{i + 1}" for i in range(a.hosts)]
        ports = {n: free_port() for n in names}
        peers = os.path.join(root, "peers")
        with open(peers, "w") as f:
            for i, n in enumerate(names):
                f.write(f"{n} 127.0.0.1:{ports[n]} {str(i + 1) * 64}\n")
        os.chmod(peers, 0o600)
        stores, fwd, confs = {}, {}, {}
        for n in names:
            d = os.path.join(root, n)
            os.makedirs(d)
            confs[n] = os.path.join(d, "exigrey.conf")
            with open(confs[n], "w") as f:
                f.write(f"directory = {d}\npeers = {peers}\n")
            stores[n] = os.path.join(d, "seen")
        backlog = 0
        if a.catchup:
            r = subprocess.run([a.probe, "load", stores[names[0]], "100000000", str(a.catchup)],
                               capture_output=True, text=True, check=True)
            backlog = int(r.stdout)
        for n in names:
            d = os.path.join(root, n)
            conf = confs[n]
            rate = ["--peer-rate", str(a.peer_rate)] if a.peer_rate else []
            p = subprocess.Popen([a.forward, "--config", conf, "--name", n, "--log", "stderr"] + rate,
                                 stdout=open(os.path.join(d, "forward.log"), "ab"),
                                 stderr=subprocess.STDOUT)
            PROCS.append(p)
            fwd[n] = p
        for n in names:
            wait_port(ports[n])
        a_store, b_store = stores[names[0]], stores[names[1]]
        catchup = None
        if backlog:
            r = subprocess.run([a.probe, "wait", b_store, str(backlog), "600"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"catch-up: {r.stderr.strip()}")
            catchup = float(r.stdout)
        # Warm up: the stores exist everywhere, every link is connected.
        latency(a.probe, a_store, b_store, 5)
        time.sleep(a.settle)

        cpu0 = {n: cpu_seconds(fwd[n].pid) for n in names}
        rest = latency(a.probe, a_store, b_store, a.samples)
        cpu_rest = {n: cpu_seconds(fwd[n].pid) - cpu0[n] for n in names}

        seconds = int(a.samples * 0.12) + 4  # outlasts the samples (50 ms pause + latency each)
        loaders = []
        per_proc = max(1, a.load // a.load_procs)
        for n in names:
            for _ in range(a.load_procs):
                loaders.append(subprocess.Popen([a.probe, "load", stores[n], str(per_proc),
                                                 str(seconds)], stdout=subprocess.PIPE, text=True))
        time.sleep(1.0)  # the load is running
        cpu1 = {n: cpu_seconds(fwd[n].pid) for n in names}
        t1 = time.monotonic()
        loaded = latency(a.probe, a_store, b_store, a.samples)
        took = time.monotonic() - t1
        cpu_load = {n: cpu_seconds(fwd[n].pid) - cpu1[n] for n in names}
        made = sum(int(p.communicate(timeout=seconds + 60)[0] or 0) for p in loaders)
        time.sleep(a.settle)

        print(f"hosts {a.hosts} (full mesh on 127.0.0.1), samples {a.samples} per phase, "
              f"{os.cpu_count()} CPUs")
        print()
        print("| phase | samples | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for label, v in (("at rest", rest),
                         (f"under load: {a.load:,} first sightings/s on each of {a.hosts} hosts",
                          loaded)):
            print(f"| {label} | {len(v)} | {statistics.median(v):.1f} | {percentile(v, 99):.1f} | "
                  f"{max(v):.1f} |")
        print()
        rate = made / seconds
        print(f"load: {made:,} first sightings in {seconds} s over {a.hosts} hosts "
              f"({rate:,.0f}/s in all; each host ships its own to {a.hosts - 1} peers and merges "
              f"the others')")
        # Every sighting is sent to and merged by hosts-1 peers.
        records = rate * took * (a.hosts - 1)
        cpu = sum(cpu_load.values())
        print(f"forwarders' CPU during the loaded phase ({took:.1f} s): "
              + ", ".join(f"{n} {cpu_load[n]:.2f} s" for n in names)
              + f"; about {cpu / max(records, 1) * 1e6:.1f} us per record shipped and merged "
              f"(at rest: {sum(cpu_rest.values()):.2f} s in all)")
        logs, busy = [], []
        for n in names:
            with open(os.path.join(root, n, "forward.log")) as f:
                text = f.read()
            logs.append(f"{n} {text.count('refused')}")
            busy.append(f"{n} {text.count('answered busy')}")
        if catchup is not None:
            print(f"catch-up: a backlog of {backlog:,} first sightings on mx1 reached mx2 in "
                  f"{catchup:.2f} s from the forwarders' start: {backlog / catchup:,.0f} "
                  f"records/s through one link (with {a.hosts - 1} peers pulling at once)")
        print("refused batches (must be 0): " + ", ".join(logs))
        print("lines about busy peers (rate limit; the catch-up meets it): " + ", ".join(busy))
        if any(not x.endswith(" 0") for x in logs):
            return 1
        return 0
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
        for p in PROCS:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("EXIGREY_TEST_KEEP"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end report throughput and report-to-DNS latency through
exigrey-forward and exigrey-collect (signed protocol), with the real rbldnsd.

  tests/bench/forward_e2e.py BUILD_DIR [--reports N] [--samples S]

Throughput: N reports are queued in an outbox (not timed), then
`exigrey-forward --once --batch-size 1000` drains them to the collector; the
rate is N / wall time of the forwarder, every report committed (the forwarder
returns only when the collector acknowledged the last batch, and it
acknowledges only committed, synced batches).

Latency: with the forwarder running as a daemon, S reports are queued one at
a time (as the plugin's `report` does) and the time until dig gets 127.0.0.2
from rbldnsd is measured; p50 and p99 are printed. rbldnsd checks its files
once a second (-c 1), which dominates this figure.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("build")
parser.add_argument("--reports", type=int, default=200000)
parser.add_argument("--samples", type=int, default=40)
args = parser.parse_args()
b = os.path.abspath(args.build)
sys.argv = [sys.argv[0], f"{b}/tools/exigrey-collect/exigrey-collect",
            f"{b}/tools/exigrey-forward/exigrey-forward", f"{b}/tests/forward/outbox_fill",
            f"{b}/plugin/libexigrey.so", f"{b}/tools/exigrey/exigrey"]
sys.path.insert(0, os.path.join(here, "..", "forward"))
from forwardlib import *  # noqa: E402,F403

root = tempdir()
keys = write_keys(root, {"mx1": SECRET})
grey = os.path.join(root, "grey")
os.makedirs(grey)
c = SignedCollector(root, keys).start()

t0 = time.time()
fill(grey, args.reports, 0)
fill_s = time.time() - t0
t0 = time.time()
r = run_once(forwarder(root, grey, [c], "--batch-size", "1000"), timeout=600)
drain_s = time.time() - t0
if r.returncode != 0:
    print(r.stderr)
    sys.exit(1)
counted = c.stored_black()
print(f"queued {args.reports} reports in the outbox in {fill_s:.2f} s "
      f"({args.reports / fill_s:,.0f}/s, one fsynced transaction each)")
print(f"forwarder --once: {args.reports} reports delivered and committed in {drain_s:.2f} s: "
      f"{args.reports / drain_s:,.0f} reports/s (collector counted {counted:.0f})")

dns = Rbldnsd(root, c.rbldnsd_dir)
fwd = spawn(forwarder(root, grey, [c], "--batch-delay", "20ms"), os.path.join(root, "fwd.log"))
latencies = []
for i in range(args.samples):
    n = 0x100000 + i
    ip = f"23.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    start = time.time()
    fill(grey, 1, n)
    took = dns.wait_for(ip, "127.0.0.2", timeout=5.0, interval=0.01)
    if took is None:
        print(f"{ip}: not listed within 5 s")
        sys.exit(1)
    latencies.append(time.time() - start)
    time.sleep(0.05)
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
print(f"report -> DNS answer over {len(latencies)} samples: p50 {statistics.median(latencies) * 1000:.0f} ms, "
      f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
fwd.terminate()
fwd.wait(timeout=15)
finish()

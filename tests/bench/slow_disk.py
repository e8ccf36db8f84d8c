#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""First sightings per second with 32 concurrent Exim processes, on a disk
that is slow to sync: sync = meta (the old default, one fdatasync per new
record, under LMDB's single writer lock) against precious (the default: no
decision syncs), with Exim's seen beside them. The slowness is injected:
slow_sync.so makes every fsync/fdatasync wait SLOW_SYNC_US first (0, 1 ms as
cloud block storage, 8 ms as a spinning disk).

Run through tests/bench/slow_disk.sh (builds, as root). Writes slow_disk.json,
slow_disk.md, slow_disk.dat/.gp/.png into --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the Lab: a private Exim, its settings and sessions)

VARIANTS = [("exigrey-meta", "exigrey, sync=meta (old default)"),
            ("exigrey-precious", "exigrey, sync=precious (default)"),
            ("seen", "Exim seen")]


def run(lab, variant, procs, rcpts, delay_us, shim, tag):
    """Seconds for `procs` exim -bh sessions of `rcpts` new RCPTs each, started together."""
    mode = compare.EXIM_VARIANTS[variant][2]
    if mode:
        lab.set_sync(mode)
    macro = compare.EXIM_VARIANTS[variant][1]
    files = []
    for i in range(procs):
        name = f"{variant}-{delay_us}-{tag}-{i}"
        files.append((compare.session_file(lab, name, rcpts, 1, name), f"10.{procs}.{i // 250}.{i % 250 + 1}"))
    wrapper = (f"LD_PRELOAD={shim}", f"SLOW_SYNC_US={delay_us}")
    t0 = time.perf_counter()
    ps = []
    for path, ip in files:
        out = open(path + ".out", "w")
        ps.append(subprocess.Popen(lab.exim_cmd(macro, "-bh", ip, wrapper=wrapper), stdin=open(path),
                                   stdout=out, stderr=subprocess.DEVNULL))
    for p in ps:
        p.wait()
    dt = time.perf_counter() - t0
    for path, _ in files:
        compare.check(path, variant, rcpts)
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--procs", type=int, default=32)
    ap.add_argument("--rcpts", type=int, default=100, help="new RCPTs per process")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--delays", default="0,1000,8000", help="microseconds per sync")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    shim = f"{build}/tests/bench/slow_sync.so"
    delays = [int(x) for x in a.delays.split(",")]
    os.makedirs(a.out, exist_ok=True)
    meta = compare.machine()
    meta["command"] = " ".join(sys.argv)
    lab = compare.Lab(build, f"{build}/plugin/libexigrey.so")
    results = {}
    try:
        for r in range(a.rounds):
            for d in delays:
                for v, _ in VARIANTS:
                    dt = run(lab, v, a.procs, a.rcpts, d, shim, f"r{r}")
                    results.setdefault(f"{v}@{d}", []).append(a.procs * a.rcpts / dt)
                compare.log(f"slow disk: round {r + 1}/{a.rounds}, {d} us per sync done")
    finally:
        lab.close(False)
    med = {k: statistics.median(x) for k, x in results.items()}
    with open(f"{a.out}/slow_disk.json", "w") as f:
        json.dump({"machine": meta, "runs": results, "median": med}, f, indent=1)
    lines = [f"{a.procs} concurrent `exim -bh` sessions, {a.rcpts} new RCPTs each (first sightings);",
             f"first sightings per second, median of {a.rounds} rounds; each sync delayed as shown.",
             "", "| variant | " + " | ".join(f"{d / 1000:g} ms per sync" for d in delays) + " |",
             "|---|" + "---:|" * len(delays)]
    for v, label in VARIANTS:
        lines.append(f"| {label} | " + " | ".join(f"{med[f'{v}@{d}']:,.0f}" for d in delays) + " |")
    lines.append("| precious / meta | " + " | ".join(
        f"{med[f'exigrey-precious@{d}'] / med[f'exigrey-meta@{d}']:.1f}x" for d in delays) + " |")
    text = "\n".join(lines)
    with open(f"{a.out}/slow_disk.md", "w") as f:
        f.write(text + "\n")
    print(text)
    with open(f"{a.out}/slow_disk.dat", "w") as f:
        f.write("# ms_per_sync " + " ".join(v for v, _ in VARIANTS) + "\n")
        for d in delays:
            f.write(f"{d / 1000:g} " + " ".join(f"{med[f'{v}@{d}']:.0f}" for v, _ in VARIANTS) + "\n")
    gp = f"""set terminal png size 900,520
set output 'slow_disk.png'
set title 'First sightings per second, {a.procs} concurrent Exim processes, slow syncs injected'
set xlabel 'time per fsync/fdatasync (ms)'
set ylabel 'first sightings per second (log)'
set logscale y
set grid
set key top right
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
plot 'slow_disk.dat' using 2:xtic(1) title '{VARIANTS[0][1]}' lc rgb '#1f77b4', \\
     '' using 3 title '{VARIANTS[1][1]}' lc rgb '#d62728', \\
     '' using 4 title '{VARIANTS[2][1]}' lc rgb '#7f7f7f'
"""
    with open(f"{a.out}/slow_disk.gp", "w") as f:
        f.write(gp)
    subprocess.run(["gnuplot", "slow_disk.gp"], check=True, cwd=a.out)
    print(f"results: {a.out}/slow_disk.md, plot {a.out}/slow_disk.png")


if __name__ == "__main__":
    main()

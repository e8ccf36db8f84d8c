#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Store growth: what 10 million items cost (docs/benchmarks.md, "Store growth").
#
#   tests/bench/store_growth.sh [BUILD_DIR] [ITEMS]      (default build/bench-compare, 10000000)
#
# 1. Decision latency, small store vs big: exigrey_bench_core (decide() and the
#    raw-LMDB loop) on a store of 10,000 background items and on one of ITEMS
#    (plus 10 % as many whitelist entries each), filled through the same API
#    in transactions of 100,000 entries. With sync = none: the read paths
#    (whitelisted, too early) never sync in any mode, and for the write paths
#    (new, pass) this leaves out the disk's fdatasync, whose latency on a
#    shared disk swings by 100x with the neighbours' I/O and says nothing
#    about the store's size.
# 2. Size on disk and purge time: a generated dump of ITEMS items (half last
#    used 31 to 90 days ago, half in the last 10 days) plus ITEMS/20 whitelist
#    entries, loaded by `exigrey load` with sync = none (to save time: the
#    fill is not what is measured), then `exigrey stats`, and `exigrey purge
#    --older-than 30d` with the default sync = meta, as an admin would run it.
#
# Takes about 10 minutes and 6 GB in $TMPDIR (default /tmp) for 10M items;
# prints a Markdown table. Needs the build of compare.sh (exigrey_bench_core,
# exigrey CLI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/bench-compare}
items=${2:-10000000}
small=10000

if [ ! -x "$build/tests/bench/exigrey_bench_core" ] || [ ! -x "$build/tools/exigrey/exigrey" ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target exigrey_bench_core exigrey_cli >/dev/null
fi
bench=$build/tests/bench/exigrey_bench_core
exigrey=$(realpath "$build/tools/exigrey/exigrey")
work=$(mktemp -d "${TMPDIR:-/tmp}/exigrey-growth-XXXXXX")
trap 'rm -rf "$work"' EXIT
export TZ=UTC

echo "store_growth: $(date -u '+%F %T') load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus," \
  "$(df -T "$work" | awk 'NR==2 {print $2 " on " $1}')" >&2

# ---- 1. decision latency, small vs big ----
latency() {  # ITEMS -> "name median_ns" lines
  "$bench" --exigrey_dir="$work" --exigrey_modes=none --exigrey_items="$1" \
    --benchmark_filter='^decide/[a-z_]+/none/(exigrey|raw)/real_time$' \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_format=json 2>/dev/null |
    python3 -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("aggregate_name") == "median":
        print(b["run_name"].removesuffix("/real_time"), round(b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]))'
}
t0=$(date +%s)
latency "$small" >"$work/small.txt"
echo "store_growth: small-store latencies done" >&2
latency "$items" >"$work/big.txt"
t1=$(date +%s)
echo "store_growth: big-store latencies done ($((t1 - t0)) s with the fill)" >&2

# ---- 2. size on disk, stats, purge ----
db=$work/seen
echo "sync = none" >"$work/fill.conf"
: >"$work/meta.conf"
# make_dump N: the generated dump of N items and N/20 whitelist entries.
make_dump() {
python3 - "$1" <<'EOF'
import random, sys, time
n = int(sys.argv[1]); now = int(time.time()); day = 86400; rnd = random.Random(1)
out = []
w = out.append
print("exigrey-dump 1")
for i in range(n):
    old = i % 2 == 0
    used = now - rnd.randint(31 * day, 90 * day) if old else now - rnd.randint(0, 10 * day)
    created = used - rnd.randint(0, 5 * day)
    key = f"<sender{i}@example{i % 977}.org>:<rcpt{i % 1013}@example.net>"
    if i % 4 < 2:
        w(f"item {key} {created} {used} 1 -\n")
    else:
        w(f"item {key} {created} {created} 0 198.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    if len(out) >= 10000:
        sys.stdout.write("".join(out)); out.clear()
wl = n // 20
for j in range(wl):
    used = now - (rnd.randint(31 * day, 90 * day) if j % 2 == 0 else rnd.randint(0, 10 * day))
    w(f"white 10.{(j >> 16) & 255}.{(j >> 8) & 255}.{j & 255} {used - day} {used}\n")
    if len(out) >= 10000:
        sys.stdout.write("".join(out)); out.clear()
sys.stdout.write("".join(out))
print(f"end {n} {wl}")
EOF
}
# tree DB: "depth D, B branch + L leaf pages" from mdb_stat (lmdb-utils), if there.
tree() {
  command -v mdb_stat >/dev/null || { echo "(mdb_stat not installed)"; return; }
  mdb_stat -n "$1" | awk '/Tree depth/ {d=$3} /Branch pages/ {b=$3} /Leaf pages/ {l=$3}
    END {printf "depth %s, %s branch + %s leaf pages\n", d, b, l}'
}
make_dump "$small" | EXIGREY_CONFIG=$work/fill.conf "$exigrey" --db "$work/small" load - >/dev/null
tree_small=$(tree "$work/small")
t0=$EPOCHREALTIME
make_dump "$items" | EXIGREY_CONFIG=$work/fill.conf "$exigrey" --db "$db" load - >/dev/null
t1=$EPOCHREALTIME
sync
load_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
size_before=$(du -m "$db" | cut -f1)
apparent_before=$(du -m --apparent-size "$db" | cut -f1)
t0=$EPOCHREALTIME
EXIGREY_CONFIG=$work/meta.conf "$exigrey" --db "$db" stats >"$work/stats.txt"
t1=$EPOCHREALTIME
stats_s=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
t0=$EPOCHREALTIME
EXIGREY_CONFIG=$work/meta.conf "$exigrey" --db "$db" purge --older-than 30d >"$work/purge.txt" 2>"$work/purge.err"
t1=$EPOCHREALTIME
purge_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
removed=$(grep -vc '^purge' "$work/purge.txt" || true)
size_after=$(du -m "$db" | cut -f1)
echo "store_growth: $(tail -n 1 "$work/purge.txt")" >&2

python3 - "$work/small.txt" "$work/big.txt" "$small" "$items" <<'EOF'
import sys
small = dict(l.split() for l in open(sys.argv[1]))
big = dict(l.split() for l in open(sys.argv[2]))
print(f"| decision (sync=none) | {int(sys.argv[3]):,} items, ns | {int(sys.argv[4]):,} items, ns | big / small |")
print("|---|---:|---:|---:|")
for name in small:
    s, b = int(small[name]), int(big[name])
    print(f"| {name.removeprefix('decide/').replace('/none/', ' ')} | {s:,} | {b:,} | {b / s:.2f} |")
EOF
echo
echo "| store of $items items + $((items / 20)) whitelist entries | |"
echo "|---|---:|"
echo "| load (exigrey load, sync = none) | $load_s s |"
echo "| file size on disk | $size_before MiB (apparent $apparent_before MiB), $((size_before * 1048576 / (items + items / 20))) bytes per entry |"
echo "| B-tree ($small items) | $tree_small |"
echo "| B-tree ($items items) | $(tree "$db") |"
echo "| exigrey stats | $stats_s s |"
echo "| exigrey purge --older-than 30d (sync = meta) | $purge_s s, $removed entries removed |"
echo "| file size after purge (LMDB keeps its pages for reuse) | $size_after MiB |"

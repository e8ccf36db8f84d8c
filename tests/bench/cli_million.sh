#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Times `exigrey stats`, `dump`, `report` and `purge` on a store of 1,000,000 items (and,
# for comparison, 100,000), with peak memory from /usr/bin/time -v, and
# prints the Markdown table kept in docs/benchmarks.md ("exigrey CLI on a
# 1,000,000-item store").
#
#   tests/bench/cli_million.sh [BUILD_DIR] [SIZES...]
#   tests/bench/cli_million.sh build-cli 100000 1000000      (the default)
#
# The store is made by `exigrey load` from a generated dump: half the items
# were last used 31 to 90 days ago, half in the last 10 days; half passed,
# half wait with a first suffix; plus 50,000 whitelist entries, half old.
# `purge --older-than 30d` therefore removes about half of everything.
#
# Peak memory: /usr/bin/time's "Maximum resident set size" counts the pages
# of the memory-mapped store a command touched (shared page cache, at most
# the file size), so the script also samples RssAnon (heap and stack) from
# /proc every 5 ms. RssAnon staying flat from 100k to 1M items is what shows
# that the commands stream instead of loading the store.
#
# With grey_writer built (tests/cli), one more process keeps deciding during
# the purge, and the decision latencies with and without the purge running
# are reported: they show how long Exim waits for the writer lock.
set -euo pipefail

build=${1:-build-cli}
shift || true
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 1000000)
exigrey=$(realpath "$build/tools/exigrey/exigrey")
writer=$build/tests/cli/grey_writer
[ -x "$exigrey" ] || { echo "cli_million: build exigrey first ($exigrey)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "cli_million: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/exigrey-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export EXIGREY_CONFIG=/nonexistent TZ=UTC

# run LABEL CMD...: runs CMD under /usr/bin/time -v with stdout to $work/out,
# sampling RssAnon; prints "LABEL|seconds|max RSS MiB|peak RssAnon MiB".
run() {
  local label=$1
  shift
  /usr/bin/python3 - "$work/time" "$work/out" "$@" <<'EOF' | sed "s/^/$label|/"
import os, re, subprocess, sys, time
time_file, out_file, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out_file, "wb") as out:
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", time_file, *cmd], stdout=out)
    peak_anon = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            for k in kids:
                with open(f"/proc/{k}/status") as f:
                    m = re.search(r"RssAnon:\s+(\d+) kB", f.read())
                    if m:
                        peak_anon = max(peak_anon, int(m.group(1)))
        except OSError:
            pass
        time.sleep(0.005)
if p.returncode != 0:
    sys.exit(f"cli_million: {' '.join(cmd)} failed")
text = open(time_file).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
secs = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(f"{secs:.2f}|{rss / 1024:.1f}|{peak_anon / 1024:.1f}")
EOF
}

# latency LOG: "p50 / p99 / max" of grey_writer's per-decision microseconds.
latency() {
  /usr/bin/python3 - "$1" <<'EOF'
import sys
us = sorted(int(l.split()[2]) for l in open(sys.argv[1]))
q = lambda f: us[min(len(us) - 1, int(len(us) * f))] / 1000
print(f"{len(us)} decisions: p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {us[-1] / 1000:.2f} ms")
EOF
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(df -T "$work" | awk 'NR==2 {print $2}') on $(df "$work" | awk 'NR==2 {print $1}')" >&2
results=()
for n in "${sizes[@]}"; do
  db=$work/seen-$n
  /usr/bin/python3 - "$n" > "$work/in-$n.dump" <<'EOF'
import random, sys, time
n = int(sys.argv[1]); now = int(time.time()); day = 86400; rnd = random.Random(1)
w = sys.stdout.write
w("exigrey-dump 1\n")
for i in range(n):
    old = i % 2 == 0
    used = now - rnd.randint(31 * day, 90 * day) if old else now - rnd.randint(0, 10 * day)
    created = used - rnd.randint(0, 5 * day)
    ip = f"198.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    key = f"<sender{i}@example{i % 977}.org>:<rcpt{i % 1013}@example.net>"
    if i % 4 < 2:
        w(f"item {key} {created} {used} 1 -\n")
    else:
        w(f"item {key} {created} {created} 0 {ip}\n")
wl = 50000
for j in range(wl):
    used = now - (rnd.randint(31 * day, 90 * day) if j % 2 == 0 else rnd.randint(0, 10 * day))
    w(f"white 10.{(j >> 16) & 255}.{(j >> 8) & 255}.{j & 255} {used - day} {used}\n")
w(f"end {n} {wl}\n")
EOF
  results+=("$(run "load ($n)" "$exigrey" --db "$db" load "$work/in-$n.dump")")
  sync  # the load's dirty pages would otherwise slow every later commit
  if [ -x "$writer" ]; then
    "$writer" hammer "$db" 2000 1 0 "$work/quiet-$n.log"
  fi
  results+=("$(run "stats ($n)" "$exigrey" --db "$db" stats)")
  results+=("$(run "dump ($n)" "$exigrey" --db "$db" dump)")
  dump_bytes=$(stat -c %s "$work/out")
  results+=("$(run "report --since 0 ($n)" "$exigrey" --db "$db" report --since 0)")
  results+=("$(run "purge --dry-run ($n)" "$exigrey" --db "$db" purge --older-than 30d --dry-run)")
  lines_dry=$(wc -l < "$work/out")
  sync
  [ -x "$writer" ] && { "$writer" hammer "$db" 600000 2 0 "$work/busy-$n.log" & hammer=$!; }
  results+=("$(run "purge ($n)" "$exigrey" --db "$db" purge --older-than 30d)")
  tail -1 "$work/out" >&2
  if [ -x "$writer" ]; then
    kill "$hammer"; wait "$hammer" 2>/dev/null || true
    echo "decisions without purge ($n): $(latency "$work/quiet-$n.log")" >&2
    echo "decisions during purge ($n):  $(latency "$work/busy-$n.log")" >&2
  fi
  results+=("$(run "stats after purge ($n)" "$exigrey" --db "$db" stats)")
  echo "store $n: file $(du -h "$db" | cut -f1), dump ${dump_bytes} bytes, dry-run ${lines_dry} lines" >&2
done

echo "| command (items) | wall s | max RSS MiB (incl. mapped store pages) | peak RssAnon MiB (heap+stack) |"
echo "|---|---:|---:|---:|"
for r in "${results[@]}"; do
  IFS='|' read -r label secs rss anon <<<"$r"
  echo "| $label | $secs | $rss | $anon |"
done

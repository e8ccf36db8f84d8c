#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# First sightings per second with 32 concurrent Exim processes when every
# sync takes 0, 1 or 8 ms (injected by slow_sync.so): sync = meta against the
# default precious, and Exim's seen (docs/benchmarks.md, "A disk slow to sync").
#
#   tests/bench/slow_disk.sh [--quick] [--build DIR] [--out DIR]
#
# Needs root (exim -C); installs exim4-daemon-heavy and gnuplot-nox if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build/bench-compare
out=$root/docs/bench
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) extra=(--rounds 1 --rcpts 20); out=$(mktemp -d) ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "slow_disk.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "slow_disk.sh: run as root (exim -C needs it)" >&2; exit 2; }
missing=()
for p in exim4-daemon-heavy gnuplot-nox swaks; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target exigrey_plugin exigrey_slow_sync >/dev/null
python3 "$here/slow_disk.py" --build "$build" --out "$out" "${extra[@]}"

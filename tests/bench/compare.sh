#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# exigrey side by side with raw LMDB, Exim's `seen`, greylistd and postgrey,
# in one run on one machine; prints one set of tables and draws
# docs/bench/concurrency.png (docs/benchmarks.md, "Side by side with the peers").
#
#   tests/bench/compare.sh [--quick] [--build DIR] [--out DIR] [--no-install]
#
#   --quick       a smoke run (< 1 minute): small sessions, 1 round; results
#                 go to a temporary directory unless --out is given
#   --build DIR   use (and if needed build) this build directory
#                 (default build/bench-compare, Release)
#   --out DIR     where results.json, results.md, concurrency.{dat,gp,png} go
#                 (default docs/bench for a full run)
#   --no-install  do not apt-get anything
#
# The targets it needs are rebuilt if out of date (set COMPARE_NO_REBUILD=1 to
# use the build directory as it is, when everything is there).
#
# Needs root (exim -C, starting greylistd and postgrey as their users). It
# installs what is missing (apt-get, as root or through sudo): exim4-daemon-heavy,
# exim4-dev, greylistd, postgrey, gnuplot-nox, swaks, valgrind, and the build
# dependencies of the benchmarks. Nothing is started as a system service:
# greylistd and postgrey run on private sockets and state directories under
# a temporary directory, and are stopped at the end. The 10-million-item store
# run is separate: tests/bench/store_growth.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=""
build=$root/build/bench-compare
out=""
install=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=--quick ;;
    --build) build=$2; shift ;;
    --out) out=$2; shift ;;
    --no-install) install="" ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$out" ] && [ -z "$quick" ] && out=$root/docs/bench

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -n "$install" ]; then
  pkgs=(exim4-daemon-heavy exim4-dev greylistd postgrey gnuplot-nox swaks
    cmake g++ pkg-config liblmdb-dev libfmt-dev libssl-dev libbenchmark-dev
    catch2 libcli11-dev libasio-dev python3 time valgrind lmdb-utils)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "compare.sh: installing ${missing[*]}" >&2
    as_root apt-get update -qq
    # Debian starts the services on install; we never use them.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
[ "$(id -u)" -eq 0 ] || { echo "compare.sh: run as root (exim -C needs it)" >&2; exit 2; }

targets=(exigrey_plugin exigrey_bench_core exigrey_bench_procs exigrey_first_call)
need_build=""
for f in plugin/libexigrey.so tests/bench/exigrey_bench_core tests/bench/exigrey_bench_procs \
  tests/bench/exigrey_first_call; do
  [ -e "$build/$f" ] || need_build=1
done
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  need_build=1
fi
if [ -n "$need_build" ] || [ -z "${COMPARE_NO_REBUILD:-}" ]; then
  # Up to date is cheap to check; a stale binary would measure old code.
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi

exec python3 "$here/compare.py" --build "$build" $quick ${out:+--out "$out"}

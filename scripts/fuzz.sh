#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets with clang (ASan + UBSan), replays each seed
# corpus, then fuzzes every target for FUZZ_SECONDS (default 20) seconds.
# A crash fails the run; its input is left in build/fuzz/crashes/ to be
# copied into tests/fuzz/corpus/<target>/ as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
dir=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$dir" -DEXIGREY_FUZZ=ON -DEXIGREY_SANITIZE=ON \
  -DEXIGREY_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(sed -n 's/^set(fuzz_targets \(.*\))$/\1/p' tests/fuzz/CMakeLists.txt)
cmake --build "$dir" -j"$(nproc)" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)
mkdir -p "$dir/crashes"
failed=0
for t in $targets; do
  work="$dir/corpus/$t"
  mkdir -p "$work"
  echo "== fuzz $t (${seconds}s)"
  if ! ASAN_OPTIONS=detect_leaks=1 "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
      -max_len=4096 -artifact_prefix="$dir/crashes/$t-" -print_final_stats=0 \
      "$work" "tests/fuzz/corpus/$t" >"$dir/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t FAILED; see $dir/fuzz_$t.log and $dir/crashes/" >&2
    tail -30 "$dir/fuzz_$t.log" >&2
    failed=1
  else
    grep -E '^#[0-9]+.*(DONE|pulse)' "$dir/fuzz_$t.log" | tail -1 || true
  fi
done
exit $failed

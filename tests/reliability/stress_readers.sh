#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the reader-safety stress harness (stress_readers.cpp) for ROUNDS
# rounds of SECONDS each, every round on a new store, and prints one line per
# round and a total: opens, reads, commits and wrong answers. Exit 1 if any
# round saw a wrong answer.
#
#   tests/reliability/stress_readers.sh BINARY [SECONDS] [ROUNDS] [-- HARNESS OPTIONS]
#
# BINARY is a build's tests/reliability/stress_readers (release or
# sanitizer). The figures in docs/reliability.md come from
#   tests/reliability/stress_readers.sh build/sanitize/tests/reliability/stress_readers 60 20
set -euo pipefail
bin=${1:?usage: stress_readers.sh BINARY [SECONDS] [ROUNDS] [-- OPTIONS]}
seconds=${2:-60}
rounds=${3:-5}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
[ -x "$bin" ] || { echo "stress_readers.sh: $bin is not an executable" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
opens=0 reads=0 commits=0 failed=0
for ((r = 1; r <= rounds; r++)); do
  rm -rf "$work/store" && mkdir "$work/store"
  set +e
  line=$("$bin" "$work/store/seen" --seconds "$seconds" "$@")
  rc=$?
  set -e
  echo "round $r: $line"
  [ "$rc" -le 1 ] || { echo "stress_readers.sh: harness failed to run (exit $rc)" >&2; exit 2; }
  opens=$((opens + $(sed -n 's/.*opens=\([0-9]*\).*/\1/p' <<<"$line")))
  reads=$((reads + $(sed -n 's/.*reads=\([0-9]*\).*/\1/p' <<<"$line")))
  commits=$((commits + $(sed -n 's/.*commits=\([0-9]*\).*/\1/p' <<<"$line")))
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
done
echo "total: rounds=$rounds seconds_each=$seconds opens=$opens reads=$reads commits=$commits wrong_rounds=$failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The long run of the crash-state explorer (docs/reliability.md): a larger
# workload, every crash point, many random images per point, both sync modes,
# and the two broken variants, which it must catch.
#
#   tests/crash/explore_long.sh BUILD_DIR [ROUNDS] [SAMPLES]
set -euo pipefail
build=${1:?usage: explore_long.sh BUILD_DIR [ROUNDS] [SAMPLES]}
rounds=${2:-20}
samples=${3:-30}
here=$(cd "$(dirname "$0")" && pwd)
run() {
  python3 "$here/explore.py" --tool "$build/tests/crash/crash_tool" \
    --shim "$build/tests/crash/record_io.so" --rounds "$rounds" --points all "$@"
}
rc=0
run --sync precious --samples "$samples" || rc=1
run --sync none --samples "$samples" || rc=1
run --variant no-recovery --expect caught --samples 4 || rc=1
run --variant keep-unsynced --expect caught --samples 4 || rc=1
exit $rc

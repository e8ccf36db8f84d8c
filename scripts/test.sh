#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every test: installs what is missing, checks the C/C++ formatting
# (scripts/check-format.sh), then configures, builds and runs the whole suite
# twice, once as shipped (warnings are errors) and once with
# AddressSanitizer + UndefinedBehaviorSanitizer, then fuzzes every parser for
# a bounded time (FUZZ_SECONDS each, default 20). Between the two, the Debian
# source package is built (dpkg-buildpackage), linted, installed, tested with
# autopkgtest on Debian's Exim, upgraded from the 0.1.0 package and purged.
# Fails if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== format"
scripts/check-format.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S . -B "$dir" -DEXIGREY_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== package"
bash tests/package/test_package.sh
run_suite build/sanitize -DCMAKE_BUILD_TYPE=Debug -DEXIGREY_SANITIZE=ON -DEXIGREY_BUILD_BENCH=OFF
echo "== fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh

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

# Debug information as line tables only (-g1): backtraces, gdb's "where"
# and the sanitizers' reports keep file:line, and the two builds compile
# about a quarter faster than with full -g (CI's time goes mostly to
# compiling).
g1=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo "${g1[@]}"
echo "== package"
bash tests/package/test_package.sh
run_suite build/sanitize -DCMAKE_BUILD_TYPE=Debug -DEXIGREY_SANITIZE=ON -DEXIGREY_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS_DEBUG=-g1 -DCMAKE_CXX_FLAGS_DEBUG=-g1
echo "== fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh

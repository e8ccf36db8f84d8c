#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# How exigrey's CMake behaves where it is not the CI's own top-level build:
#  1. without Google Benchmark (CMAKE_DISABLE_FIND_PACKAGE_benchmark hides
#     an installed one): configure succeeds, says the micro-benchmarks are
#     left out, and generates no exigrey_bench_core target;
#  2. as a subproject (add_subdirectory from another project): the library,
#     plugin and programs are there, the test suite and benchmarks are not.
# Configure only, no build. Usage: test_configure.sh SOURCE_DIR
set -u
src=$(cd "${1:?usage: test_configure.sh SOURCE_DIR}" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failures=0
check() {
  local name=$1
  shift
  if "$@"; then echo "ok   - $name"; else
    echo "FAIL - $name"
    failures=$((failures + 1))
  fi
}
# has_target BUILD_DIR NAME: the generated build system has that target.
has_target() {
  cmake --build "$1" --target help 2>/dev/null | sed 's/^\.\.\. //; s/ .*//' | grep -qx "$2"
}
lacks_target() { ! has_target "$@"; }

cmake -S "$src" -B "$t/nobench" -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON >"$t/nobench.log" 2>&1
rc=$?
check "configure without Google Benchmark succeeds (rc $rc)" [ "$rc" -eq 0 ]
check "it says the micro-benchmarks are not built" \
  grep -q "Google Benchmark not found.*not built" "$t/nobench.log"
check "no exigrey_bench_core target" lacks_target "$t/nobench" exigrey_bench_core
check "the test suite is still there" has_target "$t/nobench" exigrey_unit_tests

mkdir -p "$t/parent"
cat >"$t/parent/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(parent LANGUAGES C CXX)
add_subdirectory("$src" exigrey)
CMAKE
cmake -S "$t/parent" -B "$t/sub" >"$t/sub.log" 2>&1
rc=$?
check "configure as a subproject succeeds (rc $rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -n 20 "$t/sub.log"
for target in exigrey_core exigrey_plugin exigrey exigrey-forward exigrey-collect; do
  check "subproject: $target is built" has_target "$t/sub" "$target"
done
for target in exigrey_unit_tests exigrey_bench_core; do
  check "subproject: no $target" lacks_target "$t/sub" "$target"
done

[ $failures -eq 0 ] && echo "all checks passed" || { echo "$failures check(s) failed"; exit 1; }

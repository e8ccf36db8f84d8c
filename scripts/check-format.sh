#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Checks that every C and C++ file git tracks is formatted as .clang-format
# says (clang-format 14, Debian 12's); --fix formats them in place instead.
# Then that every source file (C/C++, shell, Python, CMake) names its licence
# in an SPDX-License-Identifier line near its top (LICENSE, debian/copyright).
# Exits 1 with the list of files that differ.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed (apt-get install clang-format)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -ne 0 ]; then
  echo "not formatted as .clang-format says (run scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"

mapfile -t sources < <(git ls-files '*.c' '*.cpp' '*.h' '*.sh' '*.py' '*.cmake' '*CMakeLists.txt' |
  grep -v '^tests/fuzz/corpus/')
unlicensed=()
for f in "${sources[@]}"; do
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' || unlicensed+=("$f")
done
if [ ${#unlicensed[@]} -ne 0 ]; then
  echo "no 'SPDX-License-Identifier: GPL-2.0-or-later' line in the first 3 lines:" >&2
  printf '  %s\n' "${unlicensed[@]}" >&2
  exit 1
fi
echo "licence: ${#sources[@]} source files carry their SPDX line"

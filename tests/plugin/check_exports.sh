#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libexigrey.so must export exactly its ${dlfunc} entry points: nothing of
# core, fmt or the C++ runtime may leak into Exim's symbol namespace. And of
# the symbols it imports, exactly the documented Exim API may come from the
# exim binary: any other name Exim also defines would be interposed by
# Exim's own (the binary comes first in the lookup order).
#
# Usage: check_exports.sh PATH/TO/libexigrey.so [PATH/TO/exim]
set -euo pipefail
so=$1
exim=${2:-/usr/sbin/exim4}

expected=$'decide\nreport\nseen\nunseen\nwhitelist\nwhitelisted'
actual=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
if [ "$actual" != "$expected" ]; then
  echo "check_exports: $so exports:" >&2
  echo "$actual" >&2
  echo "expected exactly:" >&2
  echo "$expected" >&2
  exit 1
fi
echo "check_exports: $so exports only: $(paste -sd" " - <<<"$actual")"

if [ -x "$exim" ]; then
  # Versioned imports (stderr@GLIBC_2.2.5, which the module's static C++
  # runtime uses) bind to their library's version, never to an unversioned
  # Exim symbol of that name: only unversioned names can be interposed.
  from_exim=$(comm -12 \
    <(nm -D --undefined-only "$so" | awk '{print $2}' | grep -v '@' | sort -u) \
    <(nm -D --defined-only "$exim" | awk '{print $3}' | sed 's/@.*//' | sort -u))
  allowed=$'debug_printf\ndebug_selector\nexpand_string\nexpand_string_message\nlog_write\nstring_copy_function'
  if [ "$from_exim" != "$allowed" ]; then
    echo "check_exports: symbols $so takes from $exim:" >&2
    echo "$from_exim" >&2
    echo "expected exactly the Exim API it uses:" >&2
    echo "$allowed" >&2
    exit 1
  fi
  echo "check_exports: from $exim it uses only: $(paste -sd" " - <<<"$from_exim")"
fi

# Every strong unversioned import must be Exim's API or LMDB's: one from fmt
# or the C++ runtime (which the release module carries inside) would only
# fail when Exim loads the module. The sanitizer build links those shared.
# (nm's output is kept in a variable: "nm | grep -q" under pipefail fails
# whenever grep exits before nm has written everything.)
undefined=$(nm -D --undefined-only "$so")
if ! grep -q ' U __asan_' <<<"$undefined"; then
  strays=$(awk '$1 == "U" {print $2}' <<<"$undefined" | grep -v '@' |
    grep -Ev '^(mdb_[a-z0-9_]+|debug_printf|debug_selector|expand_string|expand_string_message|log_write|string_copy_function)$' || true)
  if [ -n "$strays" ]; then
    echo "check_exports: $so needs symbols nothing will provide at load time:" >&2
    echo "$strays" >&2
    exit 1
  fi
  echo "check_exports: every unversioned import is Exim's or LMDB's"
fi

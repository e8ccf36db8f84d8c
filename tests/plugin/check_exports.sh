#!/usr/bin/env bash
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

expected=$'report\nseen\nunseen'
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
  from_exim=$(comm -12 \
    <(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//' | sort -u) \
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

#!/usr/bin/env bash
# The three programs end the same way (exigrey/exit_status.h, the man pages'
# EXIT STATUS): 2 for a bad option or setting, with one line on stderr
# naming it; 1 for something asked for that does not exist; 0 for --help.
# Usage: test_exit_status.sh EXIGREY EXIGREY-FORWARD EXIGREY-COLLECT
set -u
exigrey=$1 forward=$2 collect=$3
failures=0
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# expect NAME STATUS LINES-ON-STDERR COMMAND...
expect() {
  local name=$1 status=$2 lines=$3
  shift 3
  "$@" >"$t/out" 2>"$t/err" </dev/null
  local got=$? n
  n=$(wc -l <"$t/err")
  if [ "$got" -eq "$status" ] && { [ "$lines" = any ] || [ "$n" -eq "$lines" ]; }; then
    echo "ok   - $name"
  else
    echo "FAIL - $name: exit $got (want $status), $n stderr lines (want $lines):"
    sed 's/^/       | /' "$t/err" | head -n 5
    failures=$((failures + 1))
  fi
}

for p in "$exigrey" "$forward" "$collect"; do
  name=$(basename "$p")
  expect "$name --help: 0" 0 0 "$p" --help
  expect "$name --no-such-option: 2, one line" 2 any "$p" --no-such-option
done
expect "exigrey: an unknown command is 2, one line" 2 1 "$exigrey" frobnicate
expect "exigrey: a missing store is 1, one line" 1 1 "$exigrey" --db "$t/none" stats
expect "exigrey-forward: nothing to do is 2, one line" 2 1 env EXIGREY_CONFIG=/nonexistent \
  "$forward" --log stderr
expect "exigrey-forward: a secret file that does not exist is 2, one line" 2 1 \
  env EXIGREY_CONFIG=/nonexistent "$forward" --log stderr --collector 127.0.0.1:1 \
  --reporter r1 --secret-file "$t/none"
expect "exigrey-collect: no listener is 2, one line" 2 1 "$collect" --state "$t/state"
printf 'no_such_setting = 1\n' >"$t/collect.conf"
expect "exigrey-collect: an unknown setting is 2, one line" 2 1 "$collect" --config "$t/collect.conf"
mkdir "$t/state"
expect "exigrey-collect: unban of what is not banned is 1, one line" 1 1 \
  "$collect" --state "$t/state" unban 192.0.2.77 --reason test

[ $failures -eq 0 ] && echo "all checks passed" || { echo "$failures check(s) failed"; exit 1; }

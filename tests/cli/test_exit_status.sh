#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The three programs end the same way (exigrey/exit_status.h, the man pages'
# EXIT STATUS): 2 for a bad option or setting, with one line on stderr
# naming it; 1 for something asked for that does not exist; 0 for --help.
# With UNITS_DIR, also that the daemons' systemd units stop restarting on
# exactly that configuration status (RestartPreventExitStatus) and restart on
# the others (Restart=on-failure).
# Usage: test_exit_status.sh EXIGREY EXIGREY-FORWARD EXIGREY-COLLECT [UNITS_DIR]
set -u
exigrey=$1 forward=$2 collect=$3 units=${4:-}
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

# One error prefix: "PROGRAM: message", nothing between (no "error:").
prefix() {
  local program=$1
  shift
  local line
  line=$("$@" 2>&1 >/dev/null </dev/null | head -n 1)
  if [[ "$line" == "$program: "* ]] && [[ "$line" != "$program: error: "* ]]; then
    echo "ok   - $program: errors read \"$program: message\""
  else
    echo "FAIL - $program: error line ${line@Q} does not start with \"$program: \""
    failures=$((failures + 1))
  fi
}
prefix exigrey "$exigrey" --db "$t/none" stats
prefix exigrey-forward env EXIGREY_CONFIG=/nonexistent "$forward" --log stderr --collector x
prefix exigrey-collect "$collect" --config "$t/collect.conf"

# A configuration error, as the daemons end on one (checked above), is
# exactly the status the units do not restart on; run-time failures (3)
# and crashes are restarted.
usage_status=2
if [ -n "$units" ]; then
  for d in forward collect; do
    unit=$units/exigrey-$d.service
    prevent=$(sed -n 's/^RestartPreventExitStatus=//p' "$unit")
    restart=$(sed -n 's/^Restart=//p' "$unit")
    if [ "$prevent" = "$usage_status" ] && [ "$restart" = on-failure ]; then
      echo "ok   - exigrey-$d.service: Restart=on-failure, RestartPreventExitStatus=$prevent"
    else
      echo "FAIL - exigrey-$d.service: Restart=$restart RestartPreventExitStatus=$prevent" \
        "(want on-failure and $usage_status)"
      failures=$((failures + 1))
    fi
  done
fi

[ $failures -eq 0 ] && echo "all checks passed" || { echo "$failures check(s) failed"; exit 1; }

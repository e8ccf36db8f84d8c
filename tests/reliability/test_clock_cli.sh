#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The exigrey CLI on a store whose timestamps are 20 years behind and ahead
# of the clock (written while the clock was wrong; docs/reliability.md,
# "Clock steps"): list, show, stats, check, purge and dump all work, purge
# removes only what was last used before the cutoff (never records "from the
# future"), and check gives the verdict the rule says (a record far in the
# future is re-anchored: too early, a retry passes after the delay).
#
# Usage: test_clock_cli.sh PATH/TO/exigrey PATH/TO/grey_writer
set -euo pipefail
EXIGREY=$1
WRITER=$2
T=$(mktemp -d /tmp/exigrey-clock-XXXXXX)
trap 'rm -rf "$T"' EXIT
export EXIGREY_CONFIG=/nonexistent/exigrey.conf TZ=UTC
FAILURES=0
expect_match() {  # NAME ERE TEXT
  if grep -Eq -- "$2" <<<"$3"; then
    echo "ok   - $1"
  else
    echo "FAIL - $1: wanted /$2/ in:"
    sed 's/^/       | /' <<<"$3" | head -n 12
    FAILURES=$((FAILURES + 1))
  fi
}
run() { "$EXIGREY" --db "$T/seen" "$@" 2>&1 || echo "exit status $?"; }

now=$(date +%s)
y20=$((20 * 365 * 86400))
{
  echo "$((now - y20)) 600 old/n1"
  echo "$now 600 cur/n2"
  echo "$((now + y20)) 600 ahead/n3"
  echo "$((now + y20)) 0 fut/n4"
  echo "$((now + y20 + 1)) 0 fut/n4"  # passes: n4 whitelisted, last used 20 years ahead
} | "$WRITER" script "$T/seen" >/dev/null

out=$(run list)
expect_match "list shows all four, and exits 0" '^4$' "$(grep -cE '^(ahead|cur|fut|old) ' <<<"$out")"
expect_match "list exits 0" '^old ' "$(tail -n 1 <<<"$out")"
expect_match "show says the record is ahead" 'created +[0-9-]+ [0-9:]+ \(in [0-9]+w' \
  "$(run show ahead)"
out=$(run stats)
expect_match "stats spans 40 years" "items created +$(date -u -d "@$((now - y20))" +%Y)-.* \\.\\. $(date -u -d "@$((now + y20))" +%Y)-" "$out"
expect_match "check: a record 20 years ahead is too early, a retry passes after the delay" \
  '^yes \(too-early: seen before; a retry passes in 10m\)$' "$(run check ahead/n3)"
expect_match "check: a whitelist entry 20 years ahead still whitelists" '^no \(whitelisted' \
  "$(run check other/n4)"
out=$(run purge --older-than 30d)
expect_match "purge --older-than 30d removes the old record only" \
  '^purge: removed 1 item and 0 whitelist entries' "$(tail -n 1 <<<"$out")"
out=$(run dump)
expect_match "dump keeps the records from the future" "^item ahead $((now + y20)) " "$out"
expect_match "dump keeps the whitelist entry from the future" "^white n4 $((now + y20 + 1)) " "$out"
expect_match "and the old record is gone" '^end 3 1$' "$(tail -n 1 <<<"$out")"

if [ $FAILURES -ne 0 ]; then
  echo "$FAILURES check(s) failed"
  exit 1
fi
echo "all checks passed"

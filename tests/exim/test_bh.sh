#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SMTP sessions through a real RCPT ACL with exim -bh (Exim's host-checking
# mode): the first attempt is deferred with the ACL's message, the retry after
# the (2-second) delay is accepted, a whitelisted client passes at once, and a
# new client is still greylisted.
#
# Usage: test_bh.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  defer message   = greylisted: please retry in a few seconds
        condition = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\$sender_host_address}{2s}}
  accept
EOF
} | install_config

# session IP SENDER RCPT...: one SMTP session from IP; prints the replies to
# the RCPT commands, separated by " | ". Exim's log lines go to $T/bh.err.
session() {
  local ip=$1 from=$2 rcpt
  shift 2
  {
    printf 'HELO client.test\r\nMAIL FROM:<%s>\r\n' "$from"
    for rcpt in "$@"; do printf 'RCPT TO:<%s>\r\n' "$rcpt"; done
    printf 'QUIT\r\n'
  } | run_exim -bh "$ip" 2>>"$T/bh.err" | tr -d '\r' | grep -E '^[0-9]{3} ' |
    sed '1,3d;$d' | paste -sd'|' - | sed 's/|/ | /g'
}

defer="451 greylisted: please retry in a few seconds"
accept="250 Accepted"

expect "first attempts are deferred with the ACL's message" \
  "$defer | $defer" "$(session 10.0.0.1 a@x.test b@y.test c@y.test)"
expect "another client's first attempt is deferred" "$defer" \
  "$(session 10.0.0.2 d@x.test e@y.test)"
# Every record that must pass later is written by now: the delay counts from
# here (taken before the first session, a slow start would shorten it).
start=$(date +%s.%N)
expect "a retry before the delay is still deferred" "$defer" \
  "$(session 10.0.0.1 a@x.test b@y.test)"
expect_match "Exim logs the greylisting defer" \
  'LOG: H=\(client\.test\) \[10\.0\.0\.1\] F=<a@x\.test> temporarily rejected RCPT <b@y\.test>: greylisted: please retry in a few seconds' \
  "$(cat "$T/bh.err")"

python3 -c "import time; time.sleep(max(0.0, $start + 2.05 - time.time()))"

expect "the retry after the delay is accepted" "$accept" "$(session 10.0.0.1 a@x.test b@y.test)"
expect "the whitelisted client passes at once, for any pair" "$accept | $accept" \
  "$(session 10.0.0.1 new@x.test other@y.test c@y.test)"
expect "a new client is still greylisted" "$defer" "$(session 10.0.0.3 f@x.test g@y.test)"
expect "the other client's retry is accepted too" "$accept" "$(session 10.0.0.2 d@x.test e@y.test)"

expect_clean_run
finish

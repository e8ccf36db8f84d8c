#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bad input through a real Exim daemon: a missing key, a garbage delay, a
# store directory the Exim user cannot write, and a store whose map is full.
# Each time the client gets a 4xx, Exim's main log names the problem, and
# Exim goes on serving (the next RCPT, the next connection). Then the same
# store errors with fail_open: the mail passes and the log says why.
#
# Usage: test_errors.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"

mkdir "$T/ro"  # root's, mode 0755: Exim's reception processes cannot write here
mkdir "$T/data" && chown "$EXIM_USER:$EXIM_USER" "$T/data"
# The suffix makes every record big, so that a 64 KiB map fills quickly.
pad=$(printf 'p%.0s' $(seq 1 300))
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  defer message     = greylisted: please retry in a few seconds
        local_parts = nokey
        condition   = \${dlfunc{$PLUGIN}{unseen}}
  defer message     = greylisted: please retry in a few seconds
        local_parts = baddelay
        condition   = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>}{soon}}
  defer message     = greylisted: please retry in a few seconds
        local_parts = unwritable
        condition   = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>}{2s}{$T/ro/seen}}
  defer message     = greylisted: please retry in a few seconds
        local_parts = ^full-
        condition   = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/$pad}{2s}{$T/data/full.db}}
  accept local_parts = nokey : baddelay : unwritable : ^full-
  defer message     = greylisted: please retry in a few seconds
        condition   = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>}{2s}}
  accept

acl_check_data:
  discard
EOF
} | install_config
echo "map_size = 64K" >"$T/exigrey.conf"

PORT=$(free_port)
start_daemon "$PORT"
log "exim daemon listening on 127.0.0.1:$PORT"

local_problem="451 Temporary local problem - please try later"
greylisted="451 greylisted: please retry in a few seconds"
n=0
# check_case LOCALPART LOG_ERE: the bad RCPT gets a 4xx, the good RCPT after
# it in the same transaction and a new connection still get their verdicts,
# and the main log names the problem.
check_case() {
  local lp=$1 ere=$2
  n=$((n + 1))
  expect "$lp: the client gets a 4xx, the next RCPT is still greylisted" \
    "250 OK | $local_problem | $greylisted" \
    "$(smtp_replies --from "s$n@x.test" --to "$lp@y.test,ok$n@y.test")"
  expect_match "$lp: Exim's main log names the problem" \
    "temporarily rejected RCPT <$lp@y\\.test>: failed to expand ACL string .*$ere" \
    "$(cat "$T/log/mainlog")"
  expect "$lp: Exim serves the next connection" "250 OK | $greylisted" \
    "$(smtp_replies --from "next$n@x.test" --to "next$n@y.test")"
}

check_case nokey 'exigrey: unseen takes 1 to 3 arguments, got 0: use \$\{dlfunc\{libexigrey\.so\}\{unseen\}\{KEY\[/SUFFIX\]\}\{DELAY\}\{DB\}\}$'
check_case baddelay 'exigrey: invalid delay "soon" \(use seconds or Exim units such as 10m, 1h30m\)$'
check_case unwritable "exigrey: permission denied for store $T/ro/seen \\(open\\): it must be readable and writable by the Exim user\$"
# With delay 0, seen answers "yes" only for an item that was already recorded.
record=absent
if [ -e "$T/spool/grey/seen" ] &&
  [ "$(run_exim -be '${dlfunc{'"$PLUGIN"'}{seen}{<s2@x.test>:<baddelay@y.test>}{0}}')" = yes ]; then
  record=present
fi
expect "a garbage delay wrote no record" "absent" "$record"

# Fill the 64 KiB map: every new recipient is a ~350-byte record.
rcpts=$(seq -f 'full-%g@y.test' 1 250 | paste -sd, -)
replies=$(smtp_replies --from filler@x.test --to "$rcpts")
expect_match "map full: the client gets a 4xx once the store is full" \
  "^250 OK \\| ($greylisted \\| )+$local_problem" "$replies"
expect_match "map full: Exim's main log names the problem and the fix" \
  "temporarily rejected RCPT <full-[0-9]+@y\\.test>: failed to expand ACL string .*exigrey: store $T/data/full\\.db is full \\(map_size [0-9]+ [KM]iB\\): run 'exigrey purge --older-than 30d' or raise map_size in /etc/exigrey/exigrey\\.conf\$" \
  "$(cat "$T/log/mainlog")"
expect "map full: Exim serves the next connection" "250 OK | $greylisted" \
  "$(smtp_replies --from after-full@x.test --to after-full@y.test)"

log "fail_open: store errors let mail through, and the log says why"
printf 'map_size = 64K\nfail_open = yes\n' >"$T/exigrey.conf"
expect "fail_open: unwritable store passes the RCPT" "250 OK | 250 Accepted" \
  "$(smtp_replies --quit-after RCPT --from open1@x.test --to unwritable@y.test)"
expect "fail_open: full store passes the RCPT" "250 OK | 250 Accepted" \
  "$(smtp_replies --quit-after RCPT --from open2@x.test --to full-999@y.test)"
expect_match "fail_open: the main log has the store error and the verdict" \
  "exigrey: permission denied for store $T/ro/seen .* \\(fail_open: unseen answers no\\)" \
  "$(cat "$T/log/mainlog")"
expect "fail_open does not hide a garbage delay" "250 OK | $local_problem" \
  "$(smtp_replies --quit-after RCPT --from open3@x.test --to baddelay@y.test)"

expect_clean_run
finish

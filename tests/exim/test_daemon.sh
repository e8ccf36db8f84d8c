#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real Exim daemon on a free 127.0.0.1 port, driven by swaks: 451 then 250
# after the (2-second) delay; then 20 concurrent clients x 20 messages, each
# first attempt deferred and each retry accepted, with no error anywhere and
# an empty panic log.
#
# Every client connects from 127.0.0.1, so the suffix is the HELO name
# (one per client) rather than $sender_host_address, which would whitelist
# all of them after the first pass.
#
# Usage: test_daemon.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  defer message   = greylisted: please retry in a few seconds
        condition = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\$sender_helo_name}{2s}}
  accept

# Accept the message and drop it: no delivery, so no re-exec of Exim.
acl_check_data:
  discard
EOF
} | install_config
echo "log = defers" >"$T/exigrey.conf"

PORT=$(free_port)
start_daemon "$PORT"
log "exim daemon listening on 127.0.0.1:$PORT"

sleep_until() { python3 -c "import time; time.sleep(max(0.0, $1 - time.time()))"; }

# --- one client: defer, then accept after the delay
# The delay counts from when Exim decided, which is before the client has
# finished (not after it started: a loaded machine can take most of a second
# to connect), and the store keeps whole seconds.
expect "first attempt: MAIL 250, RCPT 451" "250 451" \
  "$(smtp_codes --helo solo.test --from s@x.test --to r@y.test)"
start=$(date +%s.%N)
expect_match "Exim's main log has the defer and exigrey's decision line" \
  'exigrey: greylisted \(new, retry in 2s\) key="<s@x\.test>:<r@y\.test>/solo\.test"' \
  "$(cat "$T/log/mainlog")"
sleep_until "$start + 2.05"
expect "retry after the delay: accepted (MAIL, RCPT, DATA, end of data)" "250 250 354 250" \
  "$(smtp_codes --helo solo.test --from s@x.test --to r@y.test)"

# --- 20 concurrent clients x 20 messages
clients=20
messages=20
mkdir "$T/res"
# client C PHASE: sends messages 1..20 one after another, one line per result.
client() {
  local c=$1 phase=$2 m
  for m in $(seq 1 $messages); do
    echo "$m $(smtp_codes --helo "client$c.test" --from "s$m@c$c.test" --to "r$m@y.test")"
  done >"$T/res/$phase.$c"
}
run_clients() {
  local phase=$1 c pids=()
  for c in $(seq 1 $clients); do
    client "$c" "$phase" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
check_phase() {
  local phase=$1 want=$2 bad
  bad=$(cat "$T"/res/"$phase".* | awk -v want="$want" '{ n++; c = $2; for (i = 3; i <= NF; i++) c = c " " $i;
                                                        if (c != want) print "  message " $1 ": " c }
                                                      END { if (n != '"$((clients * messages))"') print "  only " n " results" }')
  expect "$phase: all $((clients * messages)) decisions are \"$want\"" "" "$bad"
}

t0=$(date +%s.%N)
run_clients first
t1=$(date +%s.%N)
log "first attempts took $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
check_phase first "250 451"
sleep_until "$t1 + 2.05"
run_clients retry
log "retries took $(python3 -c "import time; print(f'{time.time() - $t1 - 2:.1f}')") s"
check_phase retry "250 250 354 250"

expect "a new pair from a whitelisted client passes at once" "250 250 354 250" \
  "$(smtp_codes --helo client7.test --from fresh@c7.test --to someone@y.test)"
expect "a new client is still greylisted" "250 451" \
  "$(smtp_codes --helo newcomer.test --from fresh@n.test --to someone@y.test)"

mainlog=$(cat "$T/log/mainlog")
expect "Exim logged every accepted message" "$((clients * messages + 2))" \
  "$(grep -c ' <= ' <<<"$mainlog" || true)"
expect "Exim logged every greylisting defer" "$((clients * messages + 2))" \
  "$(grep -c 'temporarily rejected RCPT .*: greylisted: please retry' <<<"$mainlog" || true)"
expect "no expansion failures or errors in the main log" "" \
  "$(grep -E 'failed to expand|Temporary local problem|exigrey: (cannot|store|invalid)' <<<"$mainlog" || true)"
expect_clean_run
finish

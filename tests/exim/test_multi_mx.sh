#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Three MX hosts that greylist as one (docs/multi-mx.md): three real Exim
# daemons on 127.0.0.1, each with its own spool, settings and store, and an
# exigrey-forward beside each that shares what its host learns with the
# other two (the same peers file everywhere). Driven by swaks:
#
#   - a message deferred by mx1 is deferred by mx2 and mx3 too before the
#     delay, and accepted by mx2 after it;
#   - the client whitelisted by that pass passes at once on mx1 and mx3;
#   - mx3's forwarder killed with SIGKILL: mx3 keeps greylisting alone; what
#     mx1 and mx2 learn meanwhile reaches mx3 once the forwarder is back;
#   - a partition (mx2's forwarder stopped with SIGSTOP: connections hang)
#     changes no decision's speed or answer, and heals on SIGCONT: what each
#     side learned reaches the other.
#
# Every client connects from 127.0.0.1, so the whitelist suffix is the HELO
# name. The delay is 3 s.
#
# Usage: test_multi_mx.sh PATH/TO/libexigrey.so PATH/TO/exigrey PATH/TO/exigrey-forward
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
EXIGREY=$2
FORWARD=$3
DELAY=3

# The peers file: the same on every host, a secret per host, made by the
# shipped examples/multi-mx/make-peers.sh.
PEERS=$T/peers
declare -A EXIM_PORT PEER_PORT FWD_PID EXIM_PID
for mx in mx1 mx2 mx3; do
  EXIM_PORT[$mx]=$(free_port)
  PEER_PORT[$mx]=$(free_port)
done
sh "$(dirname "$0")/../../examples/multi-mx/make-peers.sh" "mx1=127.0.0.1:${PEER_PORT[mx1]}" \
  "mx2=127.0.0.1:${PEER_PORT[mx2]}" "mx3=127.0.0.1:${PEER_PORT[mx3]}" >"$PEERS"
chmod 0600 "$PEERS"

for mx in mx1 mx2 mx3; do
  d=$T/$mx
  mkdir -p "$d/spool" "$d/log" "$d/grey"
  chown "$EXIM_USER:$EXIM_USER" "$d/spool" "$d/log" "$d/grey"
  cat >"$d/exim.conf" <<EOF
spool_directory = $d/spool
log_file_path = $d/log/%slog
pid_file_path = $d/exim.pid
primary_hostname = $mx.exigrey.test
keep_environment = EXIGREY_CONFIG
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  defer message   = greylisted: please retry later
        condition = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\$sender_helo_name}{${DELAY}s}}
  accept

acl_check_data:
  discard
EOF
  chmod 0644 "$d/exim.conf"
  printf 'directory = %s\nlog = defers\npeers = %s\n' "$d/grey" "$PEERS" >"$d/exigrey.conf"
  chmod 0644 "$d/exigrey.conf"
done

start_exim() {
  local mx=$1 d=$T/$1
  env ${EXIGREY_TEST_PRELOAD:+LD_PRELOAD="$EXIGREY_TEST_PRELOAD"} \
    ASAN_OPTIONS="detect_leaks=0:log_path=$T/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$T/asan" \
    EXIGREY_CONFIG="$d/exigrey.conf" "$EXIM" -C "$d/exim.conf" -bdf -oX "127.0.0.1:${EXIM_PORT[$mx]}" \
    -oP "$d/exim.pid" </dev/null &
  EXIM_PID[$mx]=$!
  PIDS+=($!)
}
start_forward() {
  local mx=$1
  "$FORWARD" --config "$T/$mx/exigrey.conf" --name "$mx" --log stderr -v \
    >>"$T/$mx/forward.log" 2>&1 &
  FWD_PID[$mx]=$!
  PIDS+=($!)
}
wait_port() {
  wait_listening "$1" && return 0
  echo "FAIL: nothing listens on port $1" >&2
  exit 1
}
for mx in mx1 mx2 mx3; do
  start_exim "$mx"
  start_forward "$mx"
done
for mx in mx1 mx2 mx3; do
  wait_port "${EXIM_PORT[$mx]}"
  wait_port "${PEER_PORT[$mx]}"
done
log "mx1..3: exim on ${EXIM_PORT[mx1]} ${EXIM_PORT[mx2]} ${EXIM_PORT[mx3]}," \
  "peers on ${PEER_PORT[mx1]} ${PEER_PORT[mx2]} ${PEER_PORT[mx3]}"

# send MX HELO FROM TO: the SMTP codes of one transaction with that host.
send() { PORT=${EXIM_PORT[$1]} smtp_codes --helo "$2" --from "$3" --to "$4"; }
key() { echo "<$2>:<$3>/$1"; }  # key HELO FROM TO, as the ACL builds it
item() { key "$@" | sed 's,/[^/]*$,,'; }
cli() { EXIGREY_CONFIG=$T/$1/exigrey.conf "$EXIGREY" --dir "$T/$1/grey" "${@:2}"; }
# known MX [-w] NAME: 0 if MX's store has the item (or whitelist entry).
known() { cli "$1" show "${@:2}" >/dev/null 2>&1; }
# wait_known MX [-w] NAME: waits up to 10 s; prints the seconds it took.
wait_known() {
  local t0 now
  t0=$(date +%s.%N)
  for _ in $(seq 1 200); do
    if known "$@"; then
      now=$(date +%s.%N)
      python3 -c "print(f'{$now - $t0:.2f}')"
      return 0
    fi
    sleep 0.05
  done
  echo "never"
}
sleep_until() { python3 -c "import time; time.sleep(max(0.0, $1 - time.time()))"; }
ACCEPTED="250 250 354 250"
DEFERRED="250 451"

# --- 1. One client across three hosts.
expect "mx1: first attempt deferred" "$DEFERRED" "$(send mx1 a.test s@a.test r@y.test)"
t0=$(date +%s.%N)
for mx in mx2 mx3; do
  took=$(wait_known "$mx" "$(item a.test s@a.test r@y.test)")
  expect "mx1's first sighting reaches $mx" "yes" "$([ "$took" != never ] && echo yes || echo no)"
  log "  reached $mx in $took s"
done
expect "mx2: a retry before the delay is deferred" "$DEFERRED" "$(send mx2 a.test s@a.test r@y.test)"
expect "mx3: a retry before the delay is deferred" "$DEFERRED" "$(send mx3 a.test s@a.test r@y.test)"
sleep_until "$t0 + $DELAY + 0.1"
expect "mx2: the retry after mx1's delay is accepted" "$ACCEPTED" \
  "$(send mx2 a.test s@a.test r@y.test)"
for mx in mx1 mx3; do
  took=$(wait_known "$mx" -w a.test)
  expect "mx2's whitelist entry for a.test reaches $mx" "yes" \
    "$([ "$took" != never ] && echo yes || echo no)"
done
expect "mx1: the whitelisted client passes at once" "$ACCEPTED" \
  "$(send mx1 a.test other@a.test r2@y.test)"
expect "mx3: the whitelisted client passes at once" "$ACCEPTED" \
  "$(send mx3 a.test third@a.test r3@y.test)"

# --- 2. mx3's forwarder killed: mx3 greylists alone, then catches up.
kill -KILL "${FWD_PID[mx3]}"
wait "${FWD_PID[mx3]}" 2>/dev/null || true
log "mx3's forwarder killed with SIGKILL"
expect "mx3 alone: a new client is deferred" "$DEFERRED" "$(send mx3 c.test s@c.test r@y.test)"
expect "mx1: another new client is deferred" "$DEFERRED" "$(send mx1 b.test s@b.test r@y.test)"
t1=$(date +%s.%N)
sleep_until "$t1 + $DELAY + 0.1"
expect "mx2: b.test's retry after the delay is accepted" "$ACCEPTED" \
  "$(send mx2 b.test s@b.test r@y.test)"
sleep 1
expect "mx3 never heard of b.test while its forwarder is down" "no" \
  "$(known mx3 -w b.test && echo yes || echo no)"
start_forward mx3
wait_port "${PEER_PORT[mx3]}"
took=$(wait_known mx3 -w b.test)
expect "after the restart mx3 has b.test's whitelist entry" "yes" \
  "$([ "$took" != never ] && echo yes || echo no)"
log "  caught up in $took s"
took=$(wait_known mx3 "$(item b.test s@b.test r@y.test)")
expect "and mx1's sighting of b.test (mx1 retries mx3 with backoff, at most 5 s)" "yes" \
  "$([ "$took" != never ] && echo yes || echo no)"
log "  mx1 caught mx3 up in $took s"
took=$(wait_known mx1 "$(item c.test s@c.test r@y.test)")
expect "and mx1 has what mx3 saw alone" "yes" "$([ "$took" != never ] && echo yes || echo no)"
expect "mx3: b.test passes at once" "$ACCEPTED" "$(send mx3 b.test new@b.test r@y.test)"

# --- 3. A partition: mx2's forwarder frozen (its peers' connections hang).
kill -STOP "${FWD_PID[mx2]}"
log "mx2's forwarder stopped with SIGSTOP"
s0=$(date +%s.%N)
expect "partition: mx2 defers a new client on its own" "$DEFERRED" \
  "$(send mx2 d.test s@d.test r@y.test)"
expect "partition: mx1 defers another" "$DEFERRED" "$(send mx1 e.test s@e.test r@y.test)"
s1=$(date +%s.%N)
log "  two decisions during the partition took $(python3 -c "print(f'{$s1 - $s0:.2f}')") s"
sleep_until "$s1 + $DELAY + 0.1"
expect "partition: e.test's retry on mx3 is accepted" "$ACCEPTED" \
  "$(send mx3 e.test s@e.test r@y.test)"
expect "partition: d.test's retry lands on mx1, which never saw it: deferred" "$DEFERRED" \
  "$(send mx1 d.test s@d.test r@y.test)"
kill -CONT "${FWD_PID[mx2]}"
log "mx2's forwarder continued"
took=$(wait_known mx2 -w e.test)
expect "healed: e.test's whitelist entry reaches mx2" "yes" \
  "$([ "$took" != never ] && echo yes || echo no)"
log "  healed in $took s"
took=$(wait_known mx3 "$(item d.test s@d.test r@y.test)")
expect "healed: mx2's sighting of d.test reaches mx3" "yes" \
  "$([ "$took" != never ] && echo yes || echo no)"
# mx2 saw d.test first, before mx1 did: the earliest sighting wins, so its
# retry passes on mx3 although mx1's own sighting is younger than the delay.
expect "healed: d.test's retry on mx3 is accepted (delay counted from mx2)" "$ACCEPTED" \
  "$(send mx3 d.test s@d.test r@y.test)"

for mx in mx1 mx2 mx3; do
  expect "$mx: no store errors in Exim's main log" "" \
    "$(grep -E 'exigrey: (cannot|store|invalid)|failed to expand' "$T/$mx/log/mainlog" || true)"
  expect "$mx: the panic log is empty" "" "$(cat "$T/$mx/log/paniclog" 2>/dev/null || true)"
  expect "$mx: no refused peer batch" "" \
    "$(grep 'refused batch' "$T/$mx/forward.log" || true)"
done
expect "no sanitizer reports" "" "$(cat "$T"/asan.* 2>/dev/null || true)"
if [ $FAILURES -ne 0 ]; then
  for mx in mx1 mx2 mx3; do
    echo "---- $mx forward.log (last lines)"
    tail -n 40 "$T/$mx/forward.log"
  done
fi
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# sync = precious (the default) through a real Exim daemon, across
# "reboots" (the boot id changes: setting boot_id_file):
#   - the retry that passes whitelists the client; `exigrey flush --all` (what
#     the package's timer runs every 30 s) copies that into the keep file.
#     Exim's SMTP processes end with _exit(), so no exit hook runs there;
#   - the machine stops with the store open (daemon SIGKILLed, new boot id):
#     the first Exim process after boot restores the store from the keep
#     file, by itself; the whitelisted client passes at once, the pending
#     sender is greylisted afresh, and Exim's main log has exactly one line
#     saying so (exigrey stats shows it too);
#   - a clean stop (Exim stopped, `exigrey flush --all --clean`) keeps the
#     whole store across the next boot, the pending sender too.
#
# The pending sender writes to wait@y.test, which has a delay of an hour, so
# that it stays "too early" however slow a loaded machine is.
#
# Usage: test_recovery.sh PATH/TO/libexigrey.so PATH/TO/exigrey
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
EXIGREY=$2
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  defer message   = greylisted: please retry in a few seconds
        condition = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\$sender_helo_name}{\${if eq{\$local_part}{wait}{1h}{2s}}}}
  accept

acl_check_data:
  discard
EOF
} | install_config
printf 'boot_id_file = %s\n' "$T/boot_id" >"$T/exigrey.conf"
export EXIGREY_CONFIG=$T/exigrey.conf  # the CLI reads the same settings
GREY=$T/spool/grey
boot() { echo "$1" >"$T/boot_id"; chmod 0644 "$T/boot_id"; }
cli() { "$EXIGREY" --dir "$GREY" "$@" 2>&1; }
sleep_until() { python3 -c "import time; time.sleep(max(0.0, $1 - time.time()))"; }
stop_daemon() {
  local pid=${PIDS[-1]}
  kill -"$1" "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || true
}
recovery_lines() { grep -c "was in use when the machine stopped" "$T/log/mainlog" || true; }

boot boot-1
PORT=$(free_port)
start_daemon "$PORT"
log "boot-1: exim daemon on 127.0.0.1:$PORT"
expect "boot-1: a new client is greylisted" "250 451" \
  "$(smtp_codes --helo good.test --from a@x.test --to r@y.test)"
start=$(date +%s.%N)
sleep_until "$start + 2.05"
expect "boot-1: its retry passes (and whitelists good.test)" "250 250 354 250" \
  "$(smtp_codes --helo good.test --from a@x.test --to r@y.test)"
expect "boot-1: a second sender is pending" "250 451" \
  "$(smtp_codes --helo pending.test --from p@x.test --to wait@y.test)"
expect_match "boot-1: the pass waits in the keep log" '"keep_records":0,"unflushed":2' \
  "$(cli stats --json)"
expect_match "boot-1: the timer's flush copies it" "seen: 2 changes: 2 records copied" \
  "$(cli flush --all)"
expect_match "boot-1: into the keep file" '"marker":"open".*"keep_records":2,"unflushed":0' \
  "$(cli stats --json)"

log "the machine stops with the store open (SIGKILL, new boot id)"
stop_daemon KILL
boot boot-2
start_daemon "$PORT"
expect "boot-2: the whitelisted client passes at once" "250 250 354 250" \
  "$(smtp_codes --helo good.test --from b@x.test --to s@y.test)"
expect "boot-2: the pending sender starts again" "250 451" \
  "$(smtp_codes --helo pending.test --from p@x.test --to wait@y.test)"
expect "boot-2: one recovery line in Exim's main log" 1 "$(recovery_lines)"
expect_match "boot-2: it names the store, the boot and what was restored" \
  "exigrey: store $GREY/seen was in use when the machine stopped \\(boot boot-1\\): restored 2 whitelist entries and passed items from seen\\.keep \\(flushed [-0-9: ]+UTC\\) at [-0-9: ]+UTC; pending items since then are lost; the old file is seen\\.suspect" \
  "$(cat "$T/log/mainlog")"
expect "boot-2: more connections add no second line" 1 \
  "$(smtp_codes --helo good.test --from c@x.test --to s@y.test >/dev/null; recovery_lines)"
expect_match "boot-2: exigrey stats shows the recovery" \
  "last recovery +exigrey: store $GREY/seen was in use when the machine stopped" "$(cli stats)"
[ -e "$GREY/seen.suspect" ] && suspect=kept || suspect=missing
expect "boot-2: the old file is kept for a post-mortem" kept "$suspect"

log "a clean stop: Exim stopped, then flush --clean, then a new boot"
stop_daemon TERM
expect_match "clean stop: marked clean" "seen: .*marked clean" "$(cli flush --all --clean)"
boot boot-3
start_daemon "$PORT"
start=$(date +%s.%N)
expect "boot-3: the pending sender is still known (too early, not new)" "250 451" \
  "$(smtp_codes --helo pending.test --from p@x.test --to wait@y.test)"
expect "boot-3: no new recovery line" 1 "$(recovery_lines)"
expect_match "boot-3: the store was trusted as it was" '"marker":"open"' "$(cli stats --json)"
expect_match "boot-3: the pending item kept its first-sight time" \
  'state +waiting' "$(cli show '<p@x.test>:<wait@y.test>')"

expect_clean_run
finish

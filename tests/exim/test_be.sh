#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The plugin inside real Exim's expansion engine (exim -be): defaults, seen
# reversed, delays with units, the t0..t3 whitelist timeline with a real
# 2-second delay, separate DBs, absolute and ./ paths, keys with several '/',
# errors, ownership of what it creates, the decision log and -d output.
#
# Usage: test_be.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
exim_base_config | install_config

# call FN ARGS: one ${dlfunc} expression, ARGS being e.g. '{k}{2s}{db}'.
call() { printf '${dlfunc{%s}{%s}%s}' "$PLUGIN" "$1" "$2"; }
# be EXPR...: expands each EXPR in one Exim process; one output line each.
be() { run_exim -be "$@" 2>&1 | paste -sd' ' -; }

log "t0: first calls, one exim process"
out=$(be \
  "$(call unseen '{d1}')" "$(call unseen '{d1}')" \
  "$(call seen '{s1}{0}')" "$(call seen '{s1}{0}')" \
  "$(call unseen '{u10m}{10m}')" "$(call unseen '{u10m}{10m}')" \
  "$(call unseen '{u2}{2s}')" "$(call unseen '{u1h}{ 1h30m }')" \
  "$(call unseen '{neg}{-5}')" "$(call unseen '{neg}{-5}')" \
  "$(call unseen '{a->b/x}{2s}{timeline}')" \
  "$(call unseen '{k}{2}{one}')" \
  "$(call unseen "{k}{0}{$T/abs.db}")" "$(call unseen "{k}{0}{$T/abs.db}")" \
  "$(call unseen '{k}{0}{./rel.db}')" \
  "$(call unseen '{p/q/r}{2s}{slashes}')")
expect "defaults (600 s), seen reversed, units, negative delay, first sightings" \
  "yes yes no yes yes yes yes yes yes no yes yes yes no yes yes" "$out"

start=$(date +%s.%N)
log "errors while the delay runs"
expect "garbage delay fails with the fix" \
  'Failed: exigrey: invalid delay "abc" (use seconds or Exim units such as 10m, 1h30m)' \
  "$(be "$(call unseen "{k}{abc}{$T/err.db}")")"
expect "a garbage delay writes no record (no store created)" "absent" \
  "$([ -e "$T/err.db" ] && echo present || echo absent)"
expect "no arguments is a usage error" \
  'Failed: exigrey: unseen takes 1 to 3 arguments, got 0: use ${dlfunc{libexigrey.so}{unseen}{KEY[/SUFFIX]}{DELAY}{DB}}' \
  "$(be "$(call unseen '')")"
expect_match "four arguments is a usage error" \
  '^Failed: exigrey: seen takes 1 to 3 arguments, got 4' "$(be "$(call seen '{k}{1}{db}{x}')")"
expect_match "an empty KEY fails" '^Failed: exigrey: unseen: empty KEY' "$(be "$(call unseen '{}')")"
expect_match "an explicit empty DELAY fails" '^Failed: exigrey: unseen: empty DELAY' \
  "$(be "$(call unseen '{k}{}')")"
expect_match "an explicit empty DB fails" '^Failed: exigrey: unseen: empty DB' \
  "$(be "$(call unseen '{k}{1}{}')")"

log "ownership of what the plugin created as root"
expect "grey directory belongs to Exim, mode 0750" "Debian-exim:Debian-exim 750" \
  "$(stat -c '%U:%G %a' "$T/spool/grey")"
for f in seen seen-lock timeline one slashes; do
  expect "grey/$f belongs to Exim, mode 0660" "Debian-exim:Debian-exim 660" \
    "$(stat -c '%U:%G %a' "$T/spool/grey/$f" 2>&1)"
done
expect "absolute DB path used as given" "Debian-exim:Debian-exim 660" \
  "$(stat -c '%U:%G %a' "$T/abs.db" 2>&1)"
expect "./ DB path is relative to Exim's working directory, the spool" \
  "Debian-exim:Debian-exim 660" "$(stat -c '%U:%G %a' "$T/spool/rel.db" 2>&1)"

# The delay is 2 s of real time: wait until it has passed since t0.
python3 -c "import time; time.sleep(max(0.0, $start + 2.05 - time.time()))"

log "t1..t3: after the delay"
out=$(be \
  "$(call unseen '{u10m}{10m}')" "$(call unseen '{u2}{2s}')" \
  "$(call unseen '{a->b/y}{2s}{timeline}')" \
  "$(call unseen '{c->b/x}{2s}{timeline}')" \
  "$(call unseen '{d->b/y}{2s}{timeline}')" \
  "$(call unseen '{e->f}{2s}{timeline}')")
expect "10m still deferred; 2s passes; t1 passes, t2 (x) and t3 (y) whitelisted, no suffix deferred" \
  "yes no no no no yes" "$out"
out=$(be "$(call unseen '{k}{2}{one}')" "$(call unseen '{k}{2}{two}')")
expect "separate DBs keep separate records" "no yes" "$out"
out=$(be "$(call unseen '{p/s}{2s}{slashes}')" "$(call unseen '{z/q/r}{2s}{slashes}')" \
  "$(call unseen '{z/q}{2s}{slashes}')")
expect "keys split at the first /: suffix q/r whitelisted, q alone not" "no no yes" "$out"

log "decision log and debug output"
echo "log = decisions" >"$T/exigrey.conf"
# exim -be sends main-log lines to stderr (the daemon test reads the real file).
expect_match "decision line through Exim's log_write" \
  'exigrey: greylisted \(new, retry in 600s\) key="logged->me/10\.1\.2\.3" db=.*/spool/grey/seen yes$' \
  "$(be "$(call unseen '{logged->me/10.1.2.3}{10m}')")"
: >"$T/exigrey.conf"
dbg=$(run_exim -d -be "$(call seen '{debugged}{0}')" 2>&1 || true)
expect_match "debug_printf output under exim -d" \
  'exigrey: seen\("debugged", delay 0s, .*/spool/grey/seen\) = no \(new, retry in 0s, written\)' \
  "$dbg"
echo "sync = sometimes" >"$T/exigrey.conf"
expect "invalid settings are a clear error" \
  "Failed: exigrey: $T/exigrey.conf:1: invalid sync \"sometimes\" (use precious, meta, full or none)" \
  "$(be "$(call unseen '{k}')")"
: >"$T/exigrey.conf"

expect_clean_run
finish

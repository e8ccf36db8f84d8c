#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The DNS recipes of examples/recipes/ inside real Exim 4.96, resolving
# through a local rbldnsd: dnswl.conf (a client on a DNS whitelist is never
# greylisted) and suspicious-only.conf (only clients without reverse DNS or
# on a blocklist are).
#
# Exim's resolver takes no port, so rbldnsd answers on port 53 of a random
# loopback address, and each Exim runs in a private mount namespace
# (unshare -m) whose /etc/resolv.conf names that address and whose
# /etc/hosts gives two test clients their names (host_lookup_order byaddr;
# rbldnsd refuses PTR queries) and rbldnsd their addresses.
#
# Usage: test_recipes_dns.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
exim_test_setup "$1"
command -v rbldnsd >/dev/null || skip_or_fail "rbldnsd not installed (apt-get install rbldnsd)"
command -v unshare >/dev/null || skip_or_fail "unshare not installed (util-linux)"

# The zones, in the files and datasets exigrey-collect writes
# (examples/rbldnsd/run-rbldnsd.sh): wl lists 10.21.0.7, bl lists 10.21.0.9.
mkdir "$T/dns"
printf ':127.0.0.2:listed\n10.21.0.9\n' >"$T/dns/black.ip4"
printf ':127.0.0.2:listed\n10.21.0.7\n' >"$T/dns/white.ip4"
: >"$T/dns/black.ip6"
: >"$T/dns/white.ip6"
: >"$T/dns/black.names"
: >"$T/dns/white.names"
# Forward records for the two named clients (Exim checks that a PTR name
# resolves back to the address); their PTR records come from /etc/hosts.
printf 'good A 10.21.0.20\nbad A 10.21.0.9\n' >"$T/dns/client.generic"
chmod 0755 "$T/dns"
chmod 0644 "$T"/dns/*
dns_ip=127.$((RANDOM % 254 + 1)).$((RANDOM % 256)).$((RANDOM % 254 + 1))
RBLDNSD_OPTS="client.test:generic:client.generic" \
  sh "$here/../../examples/rbldnsd/run-rbldnsd.sh" "$T/dns" "$dns_ip/53" exigrey.test \
  >"$T/rbldnsd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  [ "$(dig +short +time=1 +tries=1 @"$dns_ip" 7.0.0.21.10.wl.exigrey.test A 2>/dev/null)" == \
    127.0.0.2 ] && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$T/rbldnsd.log"; echo "FAIL: rbldnsd died" >&2; exit 1; }
  sleep 0.1
done
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$dns_ip" >"$T/resolv.conf"
printf '127.0.0.1 localhost\n10.21.0.20 good.client.test\n10.21.0.9 bad.client.test\n' \
  >"$T/hosts"
chmod 0644 "$T/resolv.conf" "$T/hosts"
log "rbldnsd on $dns_ip port 53"

# rcpt RECIPE IP SENDER MACRO=VALUE: the RCPT reply of an `exim -bh IP`
# session resolving through rbldnsd; Exim's trace goes to $T/RECIPE.err.
rcpt() {
  local recipe=$1 ip=$2 from=$3 def=$4
  EXIM_CONF="$T/$recipe.conf" exim_command
  printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<postmaster@y.test>\r\nQUIT\r\n' "$from" |
    unshare --mount sh -c 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts &&
                           shift 2 && exec "$@"' sh "$T/resolv.conf" "$T/hosts" \
      "${EXIM_CMD[@]}" -DEXIGREY_PLUGIN="$PLUGIN" -DEXIGREY_DELAY=1h "-D$def" -bh "$ip" \
      2>>"$T/$recipe.err" |
    tr -d '\r' | grep -E '^[0-9]{3} ' | sed -n 4p
}

greylisted="451 greylisted: please try again later"
accepted="250 Accepted"

# rbldnsd refuses PTR queries (a temporary error, after which Exim tries
# nothing else): the names of the test clients come from /etc/hosts.
lookup_order="host_lookup_order = byaddr:bydns"
recipe_config dnswl "$lookup_order"
wl=EXIGREY_DNSWL=wl.exigrey.test
expect "dnswl: a client on the DNS whitelist is not greylisted" "$accepted" \
  "$(rcpt dnswl 10.21.0.7 a@x.test "$wl")"
expect "dnswl: a client not on it is greylisted" "$greylisted" "$(rcpt dnswl 10.21.0.8 a@x.test "$wl")"
expect_match "dnswl: Exim asked rbldnsd" 'dnslists check: wl\.exigrey\.test' "$(cat "$T/dnswl.err")"
expect "dnswl: no DNS lookup failed" "" "$(grep -i 'lookup defer' "$T/dnswl.err" || true)"

recipe_config suspicious-only "$lookup_order"
bl=EXIGREY_SUSPECT_LISTS=bl.exigrey.test
expect "suspicious-only: a named client on no list is not greylisted" "$accepted" \
  "$(rcpt suspicious-only 10.21.0.20 b@x.test "$bl")"
expect "suspicious-only: a client without reverse DNS is greylisted" "$greylisted" \
  "$(rcpt suspicious-only 10.21.0.21 b@x.test "$bl")"
expect_match "suspicious-only: ... and the log says why" \
  'greylisted by exigrey \(no reverse DNS\)' "$(cat "$T/suspicious-only.err")"
expect "suspicious-only: a named client on the blocklist is greylisted" "$greylisted" \
  "$(rcpt suspicious-only 10.21.0.9 b@x.test "$bl")"
expect_match "suspicious-only: ... and the log names the list" \
  'greylisted by exigrey \(listed on bl\.exigrey\.test\)' "$(cat "$T/suspicious-only.err")"
expect "suspicious-only: no DNS lookup failed" "" \
  "$(grep -i 'lookup defer' "$T/suspicious-only.err" || true)"

expect_clean_run
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The exigrey demo: installs what is missing, builds exigrey, starts a
# private, throwaway Exim 4.96 on 127.0.0.1 that greylists with the plugin,
# sends a message with swaks, and shows in plain words that the first attempt
# is deferred and the retry after the delay is accepted. Then a bot writes to
# a spamtrap, the ACL reports it, exigrey-forward delivers the report, signed,
# to exigrey-collect, and rbldnsd answers for the bot's address over DNS.
#
# Nothing of the machine's own Exim is touched: the demo Exim has its own
# configuration, spool and log directories in a temporary directory, listens
# on a free loopback port, drops every message it accepts, and is stopped and
# removed at the end. Safe to run again. Exit status 0 only if the defer and
# the accepted retry both happened and the bot got listed.
#
# Usage: scripts/demo.sh          (as root, or a user with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  # Exim takes a private configuration (-C) from root only.
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "demo: please run as root (Exim accepts a private configuration only from root)" >&2
  exit 1
fi

delay=5  # seconds a new sender/recipient/client waits; real servers use minutes
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

step "1. Installing the Debian packages exigrey needs (only what is missing)"
scripts/install-deps.sh
say "   done."

step "2. Building exigrey (plugin, CLI, forwarder, collector) into build/demo"
mkdir -p "$root/build/demo"
buildlog=$root/build/demo/demo-build.log
cmake -S "$root" -B "$root/build/demo" -DCMAKE_BUILD_TYPE=Release \
  -DEXIGREY_BUILD_TESTS=OFF -DEXIGREY_BUILD_BENCH=OFF >"$buildlog" 2>&1 ||
  { tail -n 40 "$buildlog" >&2; exit 1; }
cmake --build "$root/build/demo" -j"$(nproc)" \
  --target exigrey_plugin exigrey exigrey-forward exigrey-collect >>"$buildlog" 2>&1 ||
  { tail -n 40 "$buildlog" >&2; exit 1; }
bin=$root/build/demo/tools
say "   built $root/build/demo/plugin/libexigrey.so and the three programs"

# --- a throwaway Exim: temporary directory, cleaned up whatever happens
tmp=$(mktemp -d /tmp/exigrey-demo-XXXXXX)
exim_pid=""
others=()
cleanup() {
  local pid
  for pid in "${others[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${others[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$exim_pid" ]; then
    kill "$exim_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$exim_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$exim_pid" 2>/dev/null || true
    wait "$exim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

chmod 0755 "$tmp"
mkdir "$tmp/spool" "$tmp/log"
chown Debian-exim:Debian-exim "$tmp/spool" "$tmp/log"  # Exim insists on its own user here
install -m 0644 "$root/build/demo/plugin/libexigrey.so" "$tmp/libexigrey.so"
echo "log = decisions" >"$tmp/exigrey.conf"  # exigrey notes every decision in Exim's log
chmod 0644 "$tmp/exigrey.conf"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$tmp/exim.conf" <<EOF
# The demo's private Exim configuration.
spool_directory = $tmp/spool
log_file_path = $tmp/log/%slog
pid_file_path = $tmp/exim.pid
primary_hostname = demo.exigrey.test
keep_environment = EXIGREY_CONFIG
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  # A spamtrap: only bots write here. Report the client, then refuse.
  deny  message   = no such user
        recipients = spamtrap@example.org
        set acl_m_reported = \${dlfunc{$tmp/libexigrey.so}{report}{black}{\$sender_host_address}{trap: spamtrap hit}}

  # Greylisting: the item is the sender/recipient pair, the suffix the client.
  defer message   = greylisted: please try again in $delay seconds
        condition = \${dlfunc{$tmp/libexigrey.so}{unseen}{\${sha256:<\$sender_address>:<\$local_part@\$domain>}/\$sender_host_address}{${delay}s}}
  accept

acl_check_data:
  # A demo server: accept the message, then drop it.
  discard
EOF
chmod 0644 "$tmp/exim.conf"

step "3. Starting a private Exim on 127.0.0.1:$port with the exigrey plugin"
EXIGREY_CONFIG="$tmp/exigrey.conf" /usr/sbin/exim4 -C "$tmp/exim.conf" -bdf \
  -oX "127.0.0.1:$port" -oP "$tmp/exim.pid" </dev/null &
exim_pid=$!
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" \
    2>/dev/null && break
  kill -0 "$exim_pid" 2>/dev/null || { echo "demo: Exim did not start" >&2; exit 1; }
  sleep 0.1
done
say "   $(/usr/sbin/exim4 -bV 2>/dev/null | sed -n 1p | cut -d' ' -f1-3) is listening; it greylists new senders for $delay seconds."

# send: one message with swaks; prints the server's reply to RCPT TO (and the
# final reply after the message, if it got that far).
send() {
  swaks --server "127.0.0.1:$port" --timeout 30 --helo client.example.net \
    --from alice@example.net --to bob@example.org \
    --header "Subject: exigrey demo" --body "Hello from the exigrey demo." 2>&1 |
    awk '/^ -> RCPT/ || /^ -> [.]$/ { want = 1; next }
         want && /^(<-|<[*][*]) +[0-9][0-9][0-9] / { sub(/^(<-|<[*][*]) +/, ""); print; want = 0 }' || true
}

step "4. alice@example.net sends a message to bob@example.org (swaks, from 127.0.0.1)"
first=$(send)
say "   The server answered: $(head -n 1 <<<"$first")"
if [[ $first == 451* ]]; then
  say "   -> Deferred. exigrey has never seen this sender, recipient and client together,"
  say "      so it asked the client to come back later. Spam tools rarely do; real servers do."
fi

step "5. Waiting $delay seconds, as a real mail server waits before it retries"
sleep "$((delay + 1))"

step "6. The same message again"
second=$(send)
say "   The server answered: $(paste -sd'|' - <<<"$second" | sed 's/|/, then: /')"
if [[ $second == 250* ]]; then
  say "   -> Accepted. The retry came after the delay, so exigrey let it through"
  say "      and remembered 127.0.0.1 as a client that retries properly."
fi

step "What Exim wrote in its log"
grep -E 'exigrey:|temporarily rejected|<=' "$tmp/log/mainlog" | sed 's/^/   /' || true

step "What greylisting did, and for how long (exigrey report, from the store and that log)"
"$bin/exigrey/exigrey" --dir "$tmp/spool/grey" report --since 1h --top 3 \
  --log "$tmp/log/mainlog" | sed -n '/^Decisions/,/^Whitelist/p;/^Delays/,/median/p' |
  grep -Ev '^ +[^ ]+ +0 +0\.0%$|^Whitelist' | sed 's/^/   /' || true

free_port() {  # free for TCP and UDP (rbldnsd answers over UDP)
  python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    try:
        socket.socket().bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass'
}

step "7. Starting the reputation side: exigrey-collect and rbldnsd on 127.0.0.1"
secret=$(openssl rand -hex 32)
printf 'demo-mx %s\n' "$secret" >"$tmp/collect.keys"
printf '%s\n' "$secret" >"$tmp/forward.secret"
chmod 0600 "$tmp/collect.keys" "$tmp/forward.secret"
signed_port=$(free_port)
dns_port=$(free_port)
web_port=$(free_port)
# Knot DNS as primary and secondary, from examples/knot with loopback ports
# and temporary paths: the collector also sends its changes there by DNS
# UPDATE, and the secondary follows by IXFR (docs/dns.md).
knot_primary=$(free_port)
knot_secondary=$(free_port)
keymgr -t exigrey-collect hmac-sha256 >"$tmp/dns.key"
keymgr -t exigrey-transfer hmac-sha256 >"$tmp/transfer.key"
chmod 0600 "$tmp/dns.key" "$tmp/transfer.key"
start_knot() {  # ROLE EXAMPLE PORT
  local d=$tmp/knot-$1
  mkdir -p "$d/zones"
  sed -e "s|rundir: /run/knot|rundir: $d|" -e '/^    user: knot:knot$/d' \
    -e "s|/var/lib/knot/exigrey|$d/zones|" -e 's|target: syslog|target: stderr|' \
    -e "s|/etc/knot/exigrey-collect.key|$tmp/dns.key|" \
    -e "s|/etc/knot/exigrey-transfer.key|$tmp/transfer.key|" \
    -e "s|listen: 127.0.0.1@5300|listen: 127.0.0.1@$3|" -e "s|listen: \\[0.0.0.0@53, ::@53\\]|listen: 127.0.0.1@$3|" \
    -e "s|192.0.2.53@53|127.0.0.1@$knot_secondary|" -e "s|192.0.2.1@5300|127.0.0.1@$knot_primary|" \
    -e "s|address: 192.0.2.1$|address: 127.0.0.1|" \
    -e "s|192.0.2.54@53|127.0.0.1@9|" -e "s|address: 192.0.2.54$|address: 127.0.0.1|" \
    -e 's|exigrey.example.org|exigrey.demo|' "$root/examples/knot/$2" >"$d/knot.conf"
  [ "$1" = primary ] && sh "$root/examples/knot/make-zones.sh" "$d/zones" localhost \
    hostmaster.localhost bl.exigrey.demo dbl.exigrey.demo wl.exigrey.demo dwl.exigrey.demo \
    rpz.exigrey.demo
  knotd -c "$d/knot.conf" >"$d/knot.log" 2>&1 &
  others+=($!)
}
start_knot primary knot.conf "$knot_primary"
start_knot secondary secondary.conf "$knot_secondary"
"$bin/exigrey-collect/exigrey-collect" --signed "127.0.0.1:$signed_port" --keys "$tmp/collect.keys" \
  --state "$tmp/collect" --rbldnsd-dir "$tmp/zones" --min-reporters 1 \
  --web "127.0.0.1:$web_port" --removal-text "Clean the host, then ask for removal here." \
  --dns-primary "127.0.0.1:$knot_primary" --dns-key "$tmp/dns.key" \
  --dns-zones "black=bl.exigrey.demo black_names=dbl.exigrey.demo rpz=rpz.exigrey.demo" \
  --dns-notify "127.0.0.1:$knot_secondary" \
  >"$tmp/collect.log" 2>&1 &
others+=($!)
# rbldnsd aborts on a missing file: wait until the collector wrote all six.
zones_published() {
  local f
  for f in black.ip4 black.ip6 black.names white.ip4 white.ip6 white.names; do
    [ -e "$tmp/zones/$f" ] || return 1
  done
}
for _ in $(seq 1 100); do zones_published && break; sleep 0.1; done
sh "$root/examples/rbldnsd/run-rbldnsd.sh" "$tmp/zones" "127.0.0.1/$dns_port" exigrey.demo \
  >"$tmp/rbldnsd.log" 2>&1 &
others+=($!)
for _ in $(seq 1 100); do  # ready when the RFC 5782 test point answers
  [ "$(dig +short +time=1 +tries=1 -p "$dns_port" @127.0.0.1 2.0.0.127.bl.exigrey.demo A)" = 127.0.0.2 ] &&
    break
  sleep 0.1
done
say "   exigrey-collect takes signed reports on 127.0.0.1:$signed_port (one reporter is enough here)"
say "   rbldnsd answers for bl.exigrey.demo on 127.0.0.1:$dns_port"
say "   and it sends every change by DNS UPDATE to Knot DNS on 127.0.0.1:$knot_primary,"
say "   whose secondary on 127.0.0.1:$knot_secondary follows by IXFR"

bot=11.22.33.44
step "8. A bot at $bot writes to spamtrap@example.org (exim -bh plays the session)"
answer=$(printf 'HELO bot.example\r\nMAIL FROM:<x@bot.example>\r\nRCPT TO:<spamtrap@example.org>\r\nQUIT\r\n' |
  EXIGREY_CONFIG="$tmp/exigrey.conf" /usr/sbin/exim4 -C "$tmp/exim.conf" -bh "$bot" 2>/dev/null |
  grep -E '^[0-9]{3} ' | sed -n 4p || true)
say "   The server answered the RCPT: ${answer:-no answer}"
say "   The ACL reported the client; the report waits in the local outbox:"
"$bin/exigrey/exigrey" --dir "$tmp/spool/grey" outbox | sed 's/^/     /'

step "9. exigrey-forward delivers the outbox, signed, and DNS answers"
rev=$(awk -F. '{ print $4"."$3"."$2"."$1 }' <<<"$bot")
dig_a() { dig +short +time=1 +tries=1 -p "$dns_port" @127.0.0.1 "$rev.bl.exigrey.demo" "$@"; }
before=$(dig_a A | head -n 1)
say "   Before: dig $rev.bl.exigrey.demo -> ${before:-nothing (not listed)}"
start=$(date +%s.%N)
"$bin/exigrey-forward/exigrey-forward" --dir "$tmp/spool/grey" \
  --collector "127.0.0.1:$signed_port" --reporter demo-mx --secret-file "$tmp/forward.secret" \
  >"$tmp/forward.log" 2>&1 &
others+=($!)
# first_a QUERY...: polls (5 s at most) until the query answers 127.0.0.2; prints the answer.
first_a() {
  local a=""
  for _ in $(seq 1 100); do
    a=$("$@" A | head -n 1)
    [ "$a" = 127.0.0.2 ] && break
    sleep 0.05
  done
  printf '%s' "$a"
}
listed=$(first_a dig_a)
took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
say "   After:  dig $rev.bl.exigrey.demo -> ${listed:-nothing} (${took} s after the forwarder started)"
say "           TXT $(dig_a TXT | head -n 1)"
knot_a() { dig +short +time=1 +tries=1 -p "$knot_secondary" @127.0.0.1 "$rev.bl.exigrey.demo" "$@"; }
on_secondary=$(first_a knot_a)
took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
say "   The Knot secondary: ${on_secondary:-nothing} (${took} s), TXT $(knot_a TXT | head -n 1)"
[ "$listed" = 127.0.0.2 ] &&
  say "   -> Listed. Every participant's Exim can now refuse $bot with an ordinary dnslists check."

step "10. The list's operator looks the bot up, then delists it"
collect_admin() { "$bin/exigrey-collect/exigrey-collect" --state "$tmp/collect" "$@"; }
say "   \$ exigrey-collect lookup $bot"
collect_admin lookup "$bot" | sed 's/^/     /'
say "   The public lookup page (http://127.0.0.1:$web_port/lookup?q=$bot) says, as JSON:"
say "     $(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
  "http://127.0.0.1:$web_port/api/lookup?q=$bot" 2>/dev/null || echo unreachable)"
say "   \$ exigrey-collect delist $bot --reason \"demo: the owner cleaned the host\""
collect_admin delist "$bot" --reason "demo: the owner cleaned the host" | sed 's/^/     /'
start=$(date +%s.%N)
delisted=""
for _ in $(seq 1 100); do
  [ -z "$(dig_a A | head -n 1)" ] && { delisted=yes; break; }
  sleep 0.05
done
took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
if [ "$delisted" = yes ]; then
  say "   -> dig $rev.bl.exigrey.demo -> nothing ($took s after the delisting); the history keeps it:"
  collect_admin lookup "$bot" | sed -n '/^history/,$p' | sed 's/^/     /'
fi

echo
if [[ $first == 451* ]] && [[ $second == 250* ]] && [ "$listed" = 127.0.0.2 ] &&
  [ "$delisted" = yes ]; then
  say "Success: greylisting deferred the first attempt and accepted the retry;"
  say "the bot's report reached the collector and DNS lists it; the operator delisted it."
  exit 0
fi
say "Something went wrong: expected a 451 defer, a 250 accept and a DNS listing."
say "First attempt: ${first:-no answer}"
say "Retry: ${second:-no answer}"
say "DNS answer for the bot: ${listed:-none}"
say "Delisted: ${delisted:-no}"
[ -s "$tmp/log/paniclog" ] && { say "Exim's panic log:"; cat "$tmp/log/paniclog"; }
for f in collect forward rbldnsd; do
  [ -s "$tmp/$f.log" ] && { say "$f log:"; tail -n 5 "$tmp/$f.log"; }
done
exit 1

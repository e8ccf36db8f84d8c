#!/usr/bin/env bash
# The exigrey demo: installs what is missing, builds the Exim plugin, starts a
# private, throwaway Exim 4.96 on 127.0.0.1 that greylists with it, sends a
# message with swaks, and shows in plain words that the first attempt is
# deferred and the retry after the delay is accepted.
#
# Nothing of the machine's own Exim is touched: the demo Exim has its own
# configuration, spool and log directories in a temporary directory, listens
# on a free loopback port, drops every message it accepts, and is stopped and
# removed at the end. Safe to run again. Exit status 0 only if the defer and
# the accepted retry both happened.
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

step "2. Building the Exim plugin libexigrey.so into build/demo"
mkdir -p "$root/build/demo"
buildlog=$root/build/demo/demo-build.log
cmake -S "$root" -B "$root/build/demo" -DCMAKE_BUILD_TYPE=Release \
  -DEXIGREY_BUILD_TESTS=OFF -DEXIGREY_BUILD_BENCH=OFF >"$buildlog" 2>&1 ||
  { tail -n 40 "$buildlog" >&2; exit 1; }
cmake --build "$root/build/demo" -j"$(nproc)" --target exigrey_plugin >>"$buildlog" 2>&1 ||
  { tail -n 40 "$buildlog" >&2; exit 1; }
say "   built $root/build/demo/plugin/libexigrey.so"

# --- a throwaway Exim: temporary directory, cleaned up whatever happens
tmp=$(mktemp -d /tmp/exigrey-demo-XXXXXX)
exim_pid=""
cleanup() {
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
say "   $(/usr/sbin/exim4 -bV 2>/dev/null | head -n 1 | cut -d' ' -f1-3) is listening; it greylists new senders for $delay seconds."

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

echo
if [[ $first == 451* ]] && [[ $second == 250* ]]; then
  say "Success: greylisting deferred the first attempt and accepted the retry."
  exit 0
fi
say "Something went wrong: expected a 451 defer and then a 250 accept."
say "First attempt: ${first:-no answer}"
say "Retry: ${second:-no answer}"
[ -s "$tmp/log/paniclog" ] && { say "Exim's panic log:"; cat "$tmp/log/paniclog"; }
exit 1

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The recipes in examples/recipes/, each inside real Exim 4.96 exactly as the
# file has it (only macros are set on Exim's command line): the X-Greylist
# header on queued mail, learn mode then enforce, replies of local users
# passing at once, greylisting at DATA with a content key, a sender pool
# retrying from another address (and the triplet key that would not let it),
# and /24 and /64 networks. The DNS recipes are in test_recipes_dns.sh.
#
# Every recipe first makes its first attempts, then one wait covers all the
# delays, then every retry: one 2-second wait for the whole file. Each
# recipe uses its own client addresses, since all share the store.
#
# Usage: test_recipes.sh PATH/TO/libexigrey.so PATH/TO/exigrey
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
EXIGREY_CLI=$2
echo "log = decisions" >"$T/exigrey.conf"

# bh RECIPE IP SMTP-LINES... [-- MACRO=VALUE...]: an `exim -bh IP` session;
# prints the numbered replies, one per line, after the greeting.
bh() {
  local recipe=$1 ip=$2
  shift 2
  local lines=() defs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do lines+=("$1"); shift; done
  [ "${1:-}" == "--" ] && shift
  for d in "$@"; do defs+=("-D$d"); done
  printf '%s\r\n' "${lines[@]}" QUIT |
    EXIM_CONF="$T/$recipe.conf" run_exim -DEXIGREY_PLUGIN="$PLUGIN" -DEXIGREY_DELAY=2s \
      "${defs[@]}" -bh "$ip" 2>>"$T/bh.$recipe.err" |
    tr -d '\r' | grep -E '^[0-9]{3} ' | sed 1d
}

# rcpt RECIPE IP SENDER RECIPIENT [-- MACROS]: the reply to the RCPT.
rcpt() {
  local recipe=$1 ip=$2 from=$3 to=$4
  shift 4
  bh "$recipe" "$ip" "HELO client.test" "MAIL FROM:<$from>" "RCPT TO:<$to>" "$@" | sed -n 3p
}

# data RECIPE IP SENDER RECIPIENT MESSAGE-ID SUBJECT [-- MACROS]: the reply
# at the end of the data.
data() {
  local recipe=$1 ip=$2 from=$3 to=$4 mid=$5 subject=$6
  shift 6
  bh "$recipe" "$ip" "HELO client.test" "MAIL FROM:<$from>" "RCPT TO:<$to>" DATA \
    "Message-ID: <$mid>" "From: <$from>" "To: <$to>" "Subject: $subject" "" "Hello." "." "$@" |
    sed -n 5p | sed 's/ id=.*//'  # -bh makes up a message id
}

# bs IP SMTP-LINES...: a real reception (`exim -bs -odq`, as if from IP) with
# header.conf; the message, if accepted, waits in the queue. Prints the replies.
bs() {
  local ip=$1
  shift
  printf '%s\r\n' "$@" QUIT |
    EXIM_CONF="$T/header.conf" run_exim -DEXIGREY_PLUGIN="$PLUGIN" -DEXIGREY_DELAY=2s \
      -odq -oMa "$ip" -bs 2>>"$T/bs.err" |
    tr -d '\r' | grep -E '^[0-9]{3} ' | sed '1,2d;$d' | paste -sd'|' - | sed 's/|/ | /g'
}

# The X-Greylist lines of the queued message whose Message-ID is $1.
queued_greylist_headers() {
  local h
  h=$(grep -l "Message-ID: <$1>" "$T"/spool/input/*-H 2>/dev/null | head -n 1)
  [ -n "$h" ] || { echo "(no queued message $1)"; return; }
  # Spool header lines are "NNNx Name: value" (length, flag, the line).
  grep -E '^[0-9]{3}[A-Z* ] X-Greylist:' "$h" | sed -E 's/^[0-9]{3}[A-Z* ] //'
}

for r in header learn-mode replies data-content sender-pools networks; do recipe_config "$r"; done
{
  # The triplet key sender-pools.conf warns against, for the contrast.
  sed 's|^EXIGREY_KEY = .*|EXIGREY_KEY = ${sha256:$sender_host_address:<$sender_address>:<$local_part@$domain>}/$sender_host_address|' \
    "$T/sender-pools.conf"
} >"$T/triplet.conf.new"
install_config "$T/triplet.conf" <"$T/triplet.conf.new"
grep -q 'sha256:$sender_host_address:' "$T/triplet.conf" || { echo "FAIL: triplet key not set" >&2; exit 1; }

header_msg() {  # header_msg IP SENDER MESSAGE-ID RECIPIENTS...
  local ip=$1 from=$2 mid=$3 lines=("HELO client.test" "MAIL FROM:<$2>")
  shift 3
  local to
  for to in "$@"; do lines+=("RCPT TO:<$to>"); done
  lines+=(DATA "Message-ID: <$mid>" "From: <$from>" "Subject: hello" "" "Hello." ".")
  bs "$ip" "${lines[@]}"
}
header_try() {  # header_try IP SENDER RECIPIENTS...: MAIL and RCPTs only
  local ip=$1 lines=("HELO client.test" "MAIL FROM:<$2>")
  shift 2
  local to
  for to in "$@"; do lines+=("RCPT TO:<$to>"); done
  bs "$ip" "${lines[@]}"
}

log "first attempts"
header_first=$(date +%s)
# header: two recipients, both deferred with the wait in the message.
expect "header: first attempt deferred, the wait in the message" \
  "250 OK | 451 greylisted: please try again in 2 seconds | 451 greylisted: please try again in 2 seconds" \
  "$(header_try 10.11.0.1 hs@x.test r1@y.test r2@y.test)"
# learn mode: nothing deferred; the log says what would have been.
expect "learn mode: a first sighting is accepted" "250 Accepted" \
  "$(rcpt learn-mode 10.12.0.1 la@x.test lb@y.test -- EXIGREY_MODE=learn)"
expect_match "learn mode: the log says it would have been greylisted" \
  'exigrey learn mode: would greylist \(new\)' "$(cat "$T/bh.learn-mode.err")"
expect "learn mode: an early retry is accepted too" "250 Accepted" \
  "$(rcpt learn-mode 10.12.0.1 la@x.test lb@y.test -- EXIGREY_MODE=learn)"
expect_match "learn mode: ... and logged as too early" \
  'exigrey learn mode: would greylist \(too-early\)' "$(cat "$T/bh.learn-mode.err")"
expect "learn mode: a one-off sender is accepted and recorded" "250 Accepted" \
  "$(rcpt learn-mode 10.12.0.6 once@x.test lb@y.test -- EXIGREY_MODE=learn)"
# replies: alice (authenticated) writes to Bob; his reply will pass.
auth=$(printf '\0alice\0secret' | base64)
expect "replies: alice's mail to Bob is accepted (authenticated)" \
  "235 Authentication succeeded|250 OK|250 Accepted" \
  "$(bh replies 10.13.0.1 "EHLO client.test" "AUTH PLAIN $auth" "MAIL FROM:<alice@local.test>" \
    "RCPT TO:<Bob@Example.ORG>" | grep -Ev '^250 HELP|^221 ' | paste -sd'|' -)"
expect "replies: Bob's reply passes at once, from any address" "250 Accepted" \
  "$(rcpt replies 10.13.0.50 bob@example.org alice@local.test)"
expect_match "replies: the log says why" 'not greylisted: a reply to a local user' \
  "$(cat "$T/bh.replies.err")"
expect "replies: someone alice never wrote to is greylisted" \
  "451 greylisted: please try again later" \
  "$(rcpt replies 10.13.0.51 carol@example.org alice@local.test)"
expect "replies: the whitelisted address is in the replies store" "bob@example.org" \
  "$("$EXIGREY_CLI" --db "$T/spool/grey/replies" list --whitelist --json |
    python3 -c 'import json,sys; print(" ".join(json.loads(l)["suffix"] for l in sys.stdin))')"
# data-content: suspicious content is greylisted at DATA, other mail is not.
suspect='EXIGREY_SUSPECT_CONTENT=${if match{$h_subject:}{offer}}'
expect "data-content: a suspicious message is deferred at the end of DATA" \
  "451 greylisted: please try again later" \
  "$(data data-content 10.14.0.1 d@x.test e@y.test m1@x.test "great offer" -- "$suspect")"
expect "data-content: an ordinary message is accepted" "250 OK" \
  "$(data data-content 10.14.0.4 d@x.test e@y.test m5@x.test "minutes" -- "$suspect")"
# sender-pools: the first attempt from one address of the pool.
expect "sender-pools: first attempt from 192.0.2.10 deferred" \
  "451 greylisted: please try again later" \
  "$(rcpt sender-pools 192.0.2.10 news@big.test you@y.test)"
expect "sender-pools, triplet key: first attempt from 192.0.2.20 deferred" \
  "451 greylisted: please try again later" \
  "$(rcpt triplet 192.0.2.20 news@big.test you2@y.test)"
# networks: one IPv4 and one IPv6 client.
expect "networks: first attempt from 203.0.113.10 deferred" \
  "451 greylisted: please try again later" "$(rcpt networks 203.0.113.10 n@x.test o@y.test)"
expect "networks: first attempt from 2001:db8:1:2::5 deferred" \
  "451 greylisted: please try again later" "$(rcpt networks 2001:db8:1:2::5 n6@x.test o@y.test)"

start=$(date +%s.%N)
python3 -c "import time; time.sleep(max(0.0, $start + 2.05 - time.time()))"
log "retries after the delay"

# header: the retry is queued with one X-Greylist line, however many recipients.
expect "header: the retry is accepted and queued" \
  "250 OK | 250 Accepted | 250 Accepted | 354 Enter message, ending with \".\" on a line by itself | 250 OK id=" \
  "$(header_msg 10.11.0.1 hs@x.test hm1@x.test r1@y.test r2@y.test | sed -E 's/id=[^ ]+$/id=/')"
header_retry=$(date +%s)
hdr=$(queued_greylist_headers hm1@x.test)
expect_match "header: one X-Greylist line with the delay" \
  '^X-Greylist: delayed [0-9]+ seconds by exigrey at exigrey\.test$' "$hdr"
waited=$(sed -nE 's/^X-Greylist: delayed ([0-9]+) seconds.*/\1/p' <<<"$hdr" | head -n 1)
expect "header: the delay is the time from the first attempt to the retry" "yes" \
  "$([ "${waited:-0}" -ge 2 ] && [ "${waited:-0}" -le $((header_retry - header_first + 1)) ] &&
    echo yes || echo "no: $waited s, not in 2..$((header_retry - header_first + 1))")"
expect "header: exactly one X-Greylist line for two recipients" "1" "$(grep -c . <<<"$hdr")"
header_msg 10.11.0.1 other@x.test hm2@x.test r3@y.test >/dev/null
expect "header: a whitelisted client's mail says so" \
  "X-Greylist: from a whitelisted client, not delayed, by exigrey at exigrey.test" \
  "$(queued_greylist_headers hm2@x.test)"
expect_match "decision log: the pass says how long the mail waited" \
  'exigrey: passed after [0-9]+s \(the delay is over\) key="[0-9A-F]{64}/10\.11\.0\.1"' \
  "$(cat "$T/log/mainlog")"
expect_match "decision log: Exim logged the defer with the reason" \
  'temporarily rejected RCPT <r1@y\.test>: greylisted by exigrey \(new\)' "$(cat "$T/log/mainlog")"

# exigrey report reads back what Exim logged for the header recipe's messages
# (the -bh sessions of the other recipes write no main log).
report=$("$EXIGREY_CLI" --db "$T/spool/grey/seen" report --since 1h --log "$T/log/mainlog" --json)
expect "report: decisions from the main log (new, too early, after delay, known, whitelisted)" \
  "2 0 1 0 2" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin)["decisions"]; print(*(d[k] for k in ("greylisted_new","greylisted_too_early","passed_after_delay","passed_known","passed_whitelisted")))' <<<"$report")"
expect "report: Exim's two greylisting defers, by sender domain and client network" \
  "2 x.test:2 10.11.0.0/24:2" \
  "$(python3 -c 'import json,sys; j=json.load(sys.stdin); f=lambda l: ",".join("%s:%d" % (e["name"], e["count"]) for e in l); print(j["log_rejects"], f(j["top_log_sender_domains"]), f(j["top_log_networks"]))' <<<"$report")"
expect "report: the delay comes from the log, the header's figure" \
  "log 1 $waited" \
  "$(python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["delays_source"], j["delays"], j["delay_max"])' <<<"$report")"

# learn mode: the client that retried is whitelisted; enforce defers only strangers.
expect "learn mode: the retry after the delay is accepted (and whitelists the client)" \
  "250 Accepted" "$(rcpt learn-mode 10.12.0.1 la@x.test lb@y.test -- EXIGREY_MODE=learn)"
expect "enforce: a client known from learning passes at once" "250 Accepted" \
  "$(rcpt learn-mode 10.12.0.1 new@x.test other@y.test -- EXIGREY_MODE=enforce)"
expect "enforce: a one-off sender seen while learning passes (its delay is over)" \
  "250 Accepted" "$(rcpt learn-mode 10.12.0.6 once@x.test lb@y.test -- EXIGREY_MODE=enforce)"
expect "enforce: a stranger is greylisted" "451 greylisted: please try again later" \
  "$(rcpt learn-mode 10.12.0.9 stranger@x.test lb@y.test -- EXIGREY_MODE=enforce)"

# data-content: the same message from another host passes; both hosts are whitelisted.
expect "data-content: the same message retried from another host is accepted" "250 OK" \
  "$(data data-content 10.14.0.2 d@x.test e@y.test m1@x.test "great offer" -- "$suspect")"
expect "data-content: the first host is whitelisted too" "250 OK" \
  "$(data data-content 10.14.0.1 d@x.test e@y.test m2@x.test "another offer" -- "$suspect")"
expect "data-content: the retrying host is whitelisted" "250 OK" \
  "$(data data-content 10.14.0.2 d@x.test e@y.test m3@x.test "offer again" -- "$suspect")"
expect "data-content: a third host with a new suspicious message is deferred" \
  "451 greylisted: please try again later" \
  "$(data data-content 10.14.0.3 d@x.test e@y.test m4@x.test "best offer" -- "$suspect")"

# sender-pools: the retry from another address of the pool passes at once.
expect "sender-pools: the retry from 198.51.100.77 is accepted" "250 Accepted" \
  "$(rcpt sender-pools 198.51.100.77 news@big.test you@y.test)"
expect "sender-pools: and from a third pool address" "250 Accepted" \
  "$(rcpt sender-pools 198.51.100.200 news@big.test you@y.test)"
expect "sender-pools, triplet key: the retry from another address is deferred again" \
  "451 greylisted: please try again later" \
  "$(rcpt triplet 198.51.100.78 news@big.test you2@y.test)"

# networks: a pass whitelists the /24 or the /64, not more.
expect "networks: 203.0.113.10 passes after the delay" "250 Accepted" \
  "$(rcpt networks 203.0.113.10 n@x.test o@y.test)"
expect "networks: another address of 203.0.113.0/24 passes at once" "250 Accepted" \
  "$(rcpt networks 203.0.113.99 new@x.test p@y.test)"
expect "networks: 203.0.114.1 (another /24) is greylisted" \
  "451 greylisted: please try again later" "$(rcpt networks 203.0.114.1 new@x.test p@y.test)"
expect "networks: 2001:db8:1:2::5 passes after the delay" "250 Accepted" \
  "$(rcpt networks 2001:db8:1:2::5 n6@x.test o@y.test)"
expect "networks: another address of 2001:db8:1:2::/64 passes at once" "250 Accepted" \
  "$(rcpt networks 2001:db8:1:2:ffff::9 new6@x.test p@y.test)"
expect "networks: 2001:db8:1:3::1 (another /64) is greylisted" \
  "451 greylisted: please try again later" "$(rcpt networks 2001:db8:1:3::1 new6@x.test p@y.test)"
expect "networks: the whitelist holds the networks" \
  "2001.0db8.0001.0002.0000.0000.0000.0000/64 203.0.113.0/24" \
  "$("$EXIGREY_CLI" --db "$T/spool/grey/seen" list --whitelist --json |
    python3 -c 'import json,sys; print(" ".join(sorted(j["suffix"] for j in map(json.loads, sys.stdin) if "/" in j["suffix"])))')"

expect_clean_run
finish

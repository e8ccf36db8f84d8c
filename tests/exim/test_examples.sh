#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The ACL snippets in examples/ work as documented, inside real Exim (-bh):
# the single-exim4.conf snippet and Debian's split-config files (macro file
# plus the CHECK_RCPT_LOCAL_ACL_FILE hook). For each: the first attempt is
# deferred with the example's message and passes after the delay, the null
# sender and relay_from_hosts are not greylisted, the client is whitelisted
# after a pass, and a '/' in the sender cannot merge different senders into
# one item (the recommended key hashes the addresses).
#
# Usage: test_examples.sh PATH/TO/libexigrey.so
source "$(dirname "$0")/lib.sh"
examples=$(cd "$(dirname "$0")/../../examples" && pwd)
exim_test_setup "$1"

# The parts of a config around the example text.
prologue() {
  exim_base_config
  echo "hostlist relay_from_hosts = 10.1.1.1"
  echo "acl_smtp_rcpt = acl_check_rcpt"
}

config_monolithic() {
  {
    prologue
    sed -n '/^#### Part 1/,/^#### Part 2/p' "$examples/exim4.conf.snippet"
    printf 'begin acl\nacl_check_rcpt:\n'
    sed -n '/^#### Part 2/,$p' "$examples/exim4.conf.snippet"
    printf '  accept\n'
  } | install_config
}

config_debian() {
  install -m 0644 "$examples/debian/exigrey_check_rcpt" "$T/exigrey_check_rcpt"
  {
    prologue
    echo "CONFDIR = $T"  # Debian defines it as /etc/exim4
    cat "$examples/debian/conf.d/main/000_exigrey_localmacros"
    # The relevant part of Debian's acl_check_rcpt (30_exim4-config_check_rcpt).
    cat <<'EOF'
begin acl
acl_check_rcpt:
  accept hosts = :
  accept hosts = +relay_from_hosts
  accept authenticated = *
  .ifdef CHECK_RCPT_LOCAL_ACL_FILE
  .include CHECK_RCPT_LOCAL_ACL_FILE
  .endif
  accept
EOF
  } | install_config
}

# session IP SENDER RCPT: the reply to the RCPT.
session() {
  printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$2" "$3" |
    run_exim -DEXIGREY_PLUGIN="$PLUGIN" -DEXIGREY_DELAY=2s -bh "$1" 2>>"$T/bh.err" |
    tr -d '\r' | grep -E '^[0-9]{3} ' | sed -n 4p
}

defer="451 greylisted: please try again later"
accept="250 Accepted"

check_example() {
  local name=$1 start
  rm -rf "$T/spool/grey"
  expect "$name: first attempt deferred with the example's message" "$defer" \
    "$(session 10.0.0.1 a@x.test b@y.test)"
  expect "$name: null sender not greylisted" "$accept" "$(session 10.0.0.1 '' b@y.test)"
  expect "$name: relay_from_hosts not greylisted" "$accept" \
    "$(session 10.1.1.1 new@x.test b@y.test)"
  expect "$name: sender with '/' deferred" "$defer" "$(session 10.0.0.2 evil/1@x.test b@y.test)"
  start=$(date +%s.%N)  # after the last record that must pass on its retry
  python3 -c "import time; time.sleep(max(0.0, $start + 2.05 - time.time()))"
  expect "$name: retry after the delay accepted" "$accept" "$(session 10.0.0.1 a@x.test b@y.test)"
  expect "$name: the client is whitelisted after its pass" "$accept" \
    "$(session 10.0.0.1 other@x.test c@y.test)"
  expect "$name: sender with '/' passes on its retry" "$accept" \
    "$(session 10.0.0.2 evil/1@x.test b@y.test)"
  # With a raw key, "<evil" would be the item for every "evil/..." sender, and
  # it has passed: this one would be accepted at once.
  expect "$name: another sender sharing the text before '/' is still greylisted" "$defer" \
    "$(session 10.0.0.3 evil/2@x.test b@y.test)"
}

config_monolithic
check_example "exim4.conf.snippet"
config_debian
check_example "debian split config"
expect "Exim's ACL trace shows the hashed key being used" "yes" \
  "$(grep -q 'condition *= \${dlfunc{.*}{unseen}{\${sha256:<\$sender_address>' "$T/bh.err" &&
    echo yes || echo no)"

expect_clean_run
finish

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The plugin's `report` inside real Exim: exim -be puts durable records in
# the outbox (as `exigrey outbox` shows), bad reports fail with a clear
# line and queue nothing, and in an SMTP session (exim -bh) a `warn` that
# reports never blocks the mail, even when the report fails.
#
# Usage: test_report.sh PATH/TO/libexigrey.so PATH/TO/exigrey
source "$(dirname "$0")/lib.sh"
exim_test_setup "$1"
EXIGREY_CLI=$2
exim_base_config | install_config

call() { printf '${dlfunc{%s}{report}%s}' "$PLUGIN" "$1"; }
be() { run_exim -be "$@" 2>&1 | paste -sd' ' -; }
outbox() { "$EXIGREY_CLI" --dir "$T/spool/grey" outbox "$@"; }

log "reports through exim -be"
expect "three valid reports are queued" "yes yes yes" \
  "$(be "$(call '{black}{11.22.33.44}{virus Eicar found}')" \
        "$(call '{white}{2001:DB8::1}')" \
        "$(call '{black}{Bot.Example.NET.}')")"
expect "outbox files belong to Exim" "Debian-exim:Debian-exim 660" \
  "$(stat -c '%U:%G %a' "$T/spool/grey/outbox" 2>&1)"
json=$(outbox --json)
expect_match "exigrey outbox counts them" '"pending": ?3' "$json"
expect_match "two black" '"black": ?2' "$json"
expect_match "one white" '"white": ?1' "$json"

log "the exigrey command reads what the plugin wrote"
grey() { printf '${dlfunc{%s}{unseen}%s}' "$PLUGIN" "$1"; }
expect "the plugin greylists two triplets" "yes yes no" \
  "$(be "$(grey '{a->b/11.22.33.44}')" "$(grey '{c->d/11.22.33.45}{0}')" "$(grey '{c->d/11.22.33.45}{0}')")"
cli() { "$EXIGREY_CLI" --dir "$T/spool/grey" "$@" 2>&1; }
expect_match "list shows the waiting item with its first suffix" '^a->b .* 0 +11\.22\.33\.44$' "$(cli list)"
expect_match "show prints the passed item" 'c->d' "$(cli show 'c->d')"
expect_match "check gives unseen's verdict without writing" 'yes' "$(cli check 'a->b/11.22.33.44')"
expect_match "the passed triplet's client is whitelisted" '11\.22\.33\.45' "$(cli whitelist list)"
expect_match "stats counts them" '"items": ?2' "$(cli stats --json)"

log "bad reports answer no, log why and queue nothing (they must never block mail)"
expect_match "an unknown verb names the choices" \
  'exigrey: invalid verb "grey" \(use black or white\) \(report not queued; answered no\).* no$' \
  "$(be "$(call '{grey}{11.22.33.44}')")"
expect_match "a bad subject is refused" 'exigrey: invalid subject "1.2.3".* no$' \
  "$(be "$(call '{black}{1.2.3}')")"
expect_match "an empty subject (no client address) is refused" 'exigrey: empty subject.* no$' \
  "$(be "$(call '{black}{}')")"
expect_match "a note over 200 bytes is refused" 'exigrey: note of 256 bytes.* no$' \
  "$(be "$(call '{black}{11.22.33.44}{${sha256:a}${sha256:b}${sha256:c}${sha256:d}}')")"
expect_match "a wrong number of arguments is an ACL mistake: the expansion fails" \
  '^Failed: exigrey: report takes 2 or 3 arguments, got 1' "$(be "$(call '{black}')")"
expect_match "still three pending" '"pending": ?3' "$(outbox --json)"

log "a warn statement in the RCPT ACL never blocks mail"
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
begin acl
acl_rcpt:
  warn  set acl_m_report = \${dlfunc{$PLUGIN}{report}{black}{\$sender_host_address}{test}}
  accept
acl_data:
  discard
EOF
} | install_config
session() {
  printf 'HELO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nQUIT\r\n' |
    run_exim -bh "$1" 2>&1
}
out=$(session 11.22.33.45)
expect_match "the recipient is accepted" '250 Accepted' "$out"
expect_match "now four pending" '"pending": ?4' "$(outbox --json)"
# Make report fail: a directory where the outbox file should be.
mv "$T/spool/grey/outbox" "$T/spool/grey/outbox.saved"
mkdir "$T/spool/grey/outbox"
out=$(session 11.22.33.46)
expect_match "with a broken outbox the recipient is still accepted" '250 Accepted' "$out"
expect_match "and Exim logs why" 'exigrey: .*outbox.*report not queued' "$out"
rmdir "$T/spool/grey/outbox"
mv "$T/spool/grey/outbox.saved" "$T/spool/grey/outbox"
expect_match "the queued reports are intact" '"pending": ?4' "$(outbox --json)"

expect_clean_run
finish

#!/bin/sh
# Serves exigrey-collect's data files with rbldnsd (Debian package rbldnsd).
#
# Usage: run-rbldnsd.sh DATA_DIR [ADDR/PORT] [DOMAIN]
#   DATA_DIR   exigrey-collect's --rbldnsd-dir
#   ADDR/PORT  where to answer (default 127.0.0.1/53; rbldnsd writes a slash)
#   DOMAIN     zones bl.DOMAIN (IPv4+IPv6), dbl.DOMAIN (names), wl.DOMAIN and
#              dwl.DOMAIN (the white lists); default exigrey.example.org
# Extra rbldnsd options may be given in RBLDNSD_OPTS (e.g. "-q -a").
#
# -n stays in the foreground (for systemd and tests); -c 1 checks the files'
# mtime and size every second, so a report is in DNS about a second after
# exigrey-collect publishes it (the default check interval is a minute).
# Started as root, rbldnsd switches to its own user (rbldns): DATA_DIR must
# be readable by it (exigrey-collect creates it 0755 with 0644 files).
set -eu
dir=${1:?usage: run-rbldnsd.sh DATA_DIR [ADDR/PORT] [DOMAIN]}
bind=${2:-127.0.0.1/53}
domain=${3:-exigrey.example.org}
# shellcheck disable=SC2086  # RBLDNSD_OPTS is a list of options
exec rbldnsd -n -c 1 -b "$bind" -w "$dir" ${RBLDNSD_OPTS:-} \
  "bl.$domain:ip4trie:black.ip4" "bl.$domain:ip6trie:black.ip6" \
  "dbl.$domain:dnset:black.names" \
  "wl.$domain:ip4trie:white.ip4" "wl.$domain:ip6trie:white.ip6" \
  "dwl.$domain:dnset:white.names"

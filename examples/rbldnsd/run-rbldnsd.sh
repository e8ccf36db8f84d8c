#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
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
# With rbldnsd_shards set, each file is in parts (black.ip4.0 ...): each part
# becomes a dataset of its own, so that rbldnsd reloads only the part that
# changed. Start it after exigrey-collect has published once.
set -eu
dir=${1:?usage: run-rbldnsd.sh DATA_DIR [ADDR/PORT] [DOMAIN]}
bind=${2:-127.0.0.1/53}
domain=${3:-exigrey.example.org}
datasets=
for spec in "bl ip4trie black.ip4" "bl ip6trie black.ip6" "dbl dnset black.names" \
  "wl ip4trie white.ip4" "wl ip6trie white.ip6" "dwl dnset white.names"; do
  set -f
  # shellcheck disable=SC2086  # three words
  set -- $spec
  set +f
  if [ -e "$dir/$3.0" ]; then
    i=0
    while [ -e "$dir/$3.$i" ]; do
      datasets="$datasets $1.$domain:$2:$3.$i"
      i=$((i + 1))
    done
  else
    datasets="$datasets $1.$domain:$2:$3"
  fi
done
set -f
# shellcheck disable=SC2086  # RBLDNSD_OPTS and the datasets are lists (no blanks inside)
exec rbldnsd -n -c 1 -b "$bind" -w "$dir" ${RBLDNSD_OPTS:-} $datasets

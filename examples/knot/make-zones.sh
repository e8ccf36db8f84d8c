#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make-zones.sh [--split] DIR NS HOSTMASTER ZONE...: writes DIR/ZONE.zone,
# holding only the SOA and NS records, for each ZONE that has no file yet
# (Knot owns the file afterwards: never overwrite it). The SOA timers suit a
# list that changes by the second: secondaries are told by NOTIFY and follow
# by IXFR, and refresh every 10 minutes in case a NOTIFY is lost; negative
# answers are cached 5 minutes.
#
# With --split, each ZONE is one that exigrey-collect splits (dns_split):
# its file also delegates 0.ZONE ... 255.ZONE to NS, and each child gets its
# own file. List the children in knot.conf with split-conf.sh.
#   make-zones.sh /var/lib/knot/exigrey ns1.example.org hostmaster.example.org \
#       dbl.exigrey.example.org ...
#   make-zones.sh --split /var/lib/knot/exigrey ns1.example.org hostmaster.example.org \
#       bl.exigrey.example.org
set -eu
split=no
if [ "${1:-}" = --split ]; then
  split=yes
  shift
fi
[ $# -ge 4 ] || { echo "usage: make-zones.sh [--split] DIR NS HOSTMASTER ZONE..." >&2; exit 2; }
dir=$1 ns=$2 hostmaster=$3
shift 3

# write ZONE [DELEGATE]: the zone's file, with the 256 delegations if asked.
write() {
  file=$dir/$1.zone
  [ -e "$file" ] && return 0
  {
    printf '$ORIGIN %s.\n$TTL 300\n@ SOA %s. %s. 1 600 60 604800 300\n@ NS %s.\n' \
      "$1" "$ns" "$hostmaster" "$ns"
    if [ "${2:-}" = delegate ]; then
      for i in $(seq 0 255); do printf '%s NS %s.\n' "$i" "$ns"; done
    fi
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

for zone in "$@"; do
  if [ $split = yes ]; then
    write "$zone" delegate
    for i in $(seq 0 255); do write "$i.$zone"; done
  else
    write "$zone"
  fi
done

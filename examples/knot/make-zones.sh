#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make-zones.sh DIR NS HOSTMASTER ZONE...: writes DIR/ZONE.zone, holding
# only the SOA and NS records, for each ZONE that has no file yet (Knot owns
# the file afterwards: never overwrite it). The SOA timers suit a list that
# changes by the second: secondaries are told by NOTIFY and follow by IXFR,
# and refresh every 10 minutes in case a NOTIFY is lost; negative answers
# are cached 5 minutes.
#   make-zones.sh /var/lib/knot/exigrey ns1.example.org hostmaster.example.org \
#       bl.exigrey.example.org dbl.exigrey.example.org ...
set -eu
[ $# -ge 4 ] || { echo "usage: make-zones.sh DIR NS HOSTMASTER ZONE..." >&2; exit 2; }
dir=$1 ns=$2 hostmaster=$3
shift 3
for zone in "$@"; do
  file=$dir/$zone.zone
  [ -e "$file" ] && continue
  printf '$ORIGIN %s.\n$TTL 300\n@ SOA %s. %s. 1 600 60 604800 300\n@ NS %s.\n' \
    "$zone" "$ns" "$hostmaster" "$ns" >"$file.tmp"
  mv "$file.tmp" "$file"
done

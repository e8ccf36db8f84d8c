#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# split-conf.sh ZONE...: prints the `zone:` section that lists the 256 child
# zones (0.ZONE ... 255.ZONE) of each ZONE that exigrey-collect splits
# (dns_split), for knot.conf and secondary.conf to include:
#   split-conf.sh bl.exigrey.example.org > /etc/knot/exigrey-split.conf
# The children take the template's settings, as their parent does.
set -eu
[ $# -ge 1 ] || { echo "usage: split-conf.sh ZONE..." >&2; exit 2; }
echo "zone:"
for zone in "$@"; do
  for i in $(seq 0 255); do echo "  - domain: $i.$zone"; done
done

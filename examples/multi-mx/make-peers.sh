#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes a peers file for the MX hosts of a site (docs/multi-mx.md), with a
# fresh secret per host, to stdout. Copy the same file to every MX as
# /etc/exigrey/peers (mode 0640, root:Debian-exim).
#
# Usage: make-peers.sh NAME=ADDRESS:PORT[:items] ...
#   make-peers.sh mx1=192.0.2.1:2526 mx2=192.0.2.2:2526 backup=198.51.100.7:2526:items
# NAME is each host's short host name (what `hostname -s` prints there, or
# what its exigrey-forward gets as --name). A trailing ":items" gives that
# host scope=items: the others take its sightings and passes, never its
# whitelist entries (for a host you trust less).
set -eu
[ $# -ge 2 ] || { echo "usage: make-peers.sh NAME=ADDRESS:PORT[:items] ... (two hosts or more)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-peers.sh: openssl is needed for the secrets" >&2; exit 2; }
echo "# exigrey peers file, made $(date -u +%Y-%m-%d) by make-peers.sh: the same on every MX."
echo "# NAME ADDRESS:PORT SECRET [scope=...]"
for arg in "$@"; do
  name=${arg%%=*}
  rest=${arg#*=}
  [ "$name" != "$arg" ] && [ -n "$name" ] && [ -n "$rest" ] || {
    echo "make-peers.sh: $arg: want NAME=ADDRESS:PORT" >&2; exit 2; }
  scope=""
  case $rest in
    *:items) rest=${rest%:items}; scope=" scope=items" ;;
  esac
  echo "$name $rest $(openssl rand -hex 32)$scope"
done

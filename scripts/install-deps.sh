#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs every Debian 12 package exigrey needs to build, test and run its
# demo. Idempotent: installs only what is missing. Runs apt-get as root, or
# through sudo.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # libraries (DESIGN.md: LMDB, fmt, Catch2 v2, Asio, CLI11, OpenSSL, Exim's local_scan.h)
  liblmdb-dev lmdb-utils libfmt-dev catch2 libbenchmark-dev libssl-dev libcli11-dev
  libasio-dev exim4-dev
  # fuzzing (libFuzzer comes with clang's runtime); the format check
  clang libclang-rt-14-dev clang-format
  # the real parts the tests and the demo drive
  exim4-daemon-heavy swaks rbldnsd dnsutils socat
  # publishing by DNS UPDATE (docs/dns.md): Knot DNS as primary and
  # secondary, kdig, and Unbound reading the response policy zone
  knot knot-dnsutils unbound
  # the public lookup page's test (tests/collect/test_web.py) loads it in a real browser
  chromium
  # the TLS test makes its own CA
  openssl
  # the real-Exim tests and the demo (free ports, sub-second waits); the
  # metrics test reads the example Prometheus rules (YAML)
  python3 python3-yaml
  # tests/bench/cli_million.sh (peak memory with /usr/bin/time -v)
  time
  # the package test: dpkg-buildpackage with debhelper (debian/), lintian,
  # autopkgtest (null runner) on the installed packages
  dpkg-dev debhelper lintian autopkgtest
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null

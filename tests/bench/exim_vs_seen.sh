#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Whole-system benchmark: the cost of one greylisting decision inside real
# Exim 4.96, for exigrey's ${dlfunc} against Exim's built-in `seen` condition
# doing the same job in the same run.
#
# Each variant is one `exim -bh` SMTP session (a full Exim process: config,
# ACLs, expansion, SMTP parsing) with N RCPTs, each a new sender/recipient/
# client triplet that gets deferred (the greylisting first sight); then a
# session with the same N RCPTs four times over (every triplet known and too
# early: the retry before the delay). The cost per decision is
# (variant - baseline) / RCPTs. Rounds alternate the variants; medians.
#
#   baseline        accept, no condition
#   noop            a condition that expands the same key and always says
#                   "defer", deciding nothing: a second baseline with Exim's
#                   own cost of evaluating a condition and of deferring the RCPT
#                   (logging it, and in -bh mode printing the ACL trace)
#   seen            defer !seen = -5m / key=<sender>:<rcpt>:<client>
#   exigrey         defer condition = ${dlfunc{libexigrey.so}{unseen}{<sender>:<rcpt>/<client>}{5m}}
#                   with the default settings (sync = precious: no decision syncs)
#   exigrey-meta    the same with sync = meta (the old default: one fdatasync per new record)
#   exigrey-nosync  the same with sync = none (no sync, no keep file)
#   pgsql           a shared SQL store in the decision path, SQLgrey's design at
#                   its best: one upsert-returning round trip per RCPT through
#                   Exim's built-in pgsql lookup (one connection per Exim
#                   process, over a Unix socket) to a throwaway PostgreSQL 15
#                   started by this script with fsync and synchronous_commit
#                   off (no disk wait at all; a LAN adds its round trip).
#                   Not in the default list.
#   exigrey-peers   the default plus `peers` (several MX hosts share the
#                   store: every write also goes into the peer log;
#                   docs/multi-mx.md). Not in the default list; add it with
#                   EXIM_VS_SEEN_VARIANTS="baseline noop exigrey exigrey-peers"
#
# Usage: tests/bench/exim_vs_seen.sh [PLUGIN.so] [N] [ROUNDS]
#   PLUGIN.so defaults to a Release build in build/bench-exim; N to 5000,
#   ROUNDS to 5. Needs root (exim -C) and exim4-daemon-heavy. Prints a table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

plugin=${1:-}
N=${2:-5000}
ROUNDS=${3:-5}
REPEAT=4
if [ -z "$plugin" ]; then
  cmake -S "$root" -B "$root/build/bench-exim" -DCMAKE_BUILD_TYPE=Release \
    -DEXIGREY_BUILD_TESTS=OFF >/dev/null
  cmake --build "$root/build/bench-exim" -j"$(nproc)" --target exigrey_plugin >/dev/null
  plugin=$root/build/bench-exim/plugin/libexigrey.so
fi

source "$root/tests/exim/lib.sh"
exim_test_setup "$plugin"
pg_dir=""
if [[ " ${EXIM_VS_SEEN_VARIANTS:-} " == *" pgsql "* ]]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pg_bin/initdb" ] || { echo "pgsql variant: apt-get install postgresql" >&2; exit 1; }
  pg_dir=$T/pg
  mkdir "$pg_dir" && chown postgres "$pg_dir"
  su postgres -c "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres" >/dev/null
  su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/log -w -o '-p 55432 -k $pg_dir \
    -c listen_addresses= -c fsync=off -c synchronous_commit=off' start" >/dev/null
  trap 'su postgres -c "$pg_bin/pg_ctl -D $pg_dir/data -m immediate stop" >/dev/null 2>&1; cleanup' EXIT
  psql -h "$pg_dir" -p 55432 -U postgres -q -c "CREATE TABLE grey (k text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now(), last_seen timestamptz NOT NULL DEFAULT now())"
fi
{
  exim_base_config
  [ -n "$pg_dir" ] && echo "hide pgsql_servers = ($pg_dir/.s.PGSQL.55432)/postgres/postgres/"
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt
recipients_max = 0

begin acl
acl_check_rcpt:
.ifdef VARIANT_NOOP
  defer condition = \${if eq{<\$sender_address>:<\$local_part@\$domain>/\$sender_host_address}{}{no}{yes}}
.endif
.ifdef VARIANT_SEEN
  defer !seen = -5m / key=<\$sender_address>:<\$local_part@\$domain>:\$sender_host_address
.endif
.ifdef VARIANT_EXIGREY
  defer condition = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\$sender_host_address}{5m}}
.endif
.ifdef VARIANT_PGSQL
  defer condition = \${if eq{\${lookup pgsql{INSERT INTO grey(k) VALUES ('\${quote_pgsql:<\$sender_address>:<\$local_part@\$domain>/\$sender_host_address}') ON CONFLICT (k) DO UPDATE SET last_seen = now() RETURNING CASE WHEN now() - grey.first_seen < interval '5 minutes' THEN 'defer' ELSE 'pass' END}}}{defer}}
.endif
  accept
EOF
} | install_config

# sessions NAME: $T/NAME.first (HELO, MAIL, N new RCPTs, QUIT) and
# $T/NAME.again (the same RCPTs, REPEAT times over).
sessions() {
  local name=$1
  seq -f "RCPT TO:<r%g-$name@example.test>" 1 "$N" | sed 's/$/\r/' >"$T/$name.rcpts"
  {
    printf 'HELO bench.test\r\nMAIL FROM:<sender@bench.test>\r\n'
    cat "$T/$name.rcpts"
    printf 'QUIT\r\n'
  } >"$T/$name.first"
  {
    printf 'HELO bench.test\r\nMAIL FROM:<sender@bench.test>\r\n'
    for _ in $(seq 1 "$REPEAT"); do cat "$T/$name.rcpts"; done
    printf 'QUIT\r\n'
  } >"$T/$name.again"
}

# run VARIANT SESSION_FILE RCPTS: seconds for one exim -bh session; checks
# that every RCPT got the variant's answer.
run() {
  local variant=$1 file=$2 rcpts=$3 defines=() t0 t1 replies want=451
  case $variant in
    baseline) want=250 ;;
    noop) defines=(-DVARIANT_NOOP) ;;
    seen) defines=(-DVARIANT_SEEN) ;;
    exigrey) defines=(-DVARIANT_EXIGREY); : >"$T/exigrey.conf" ;;
    exigrey-meta) defines=(-DVARIANT_EXIGREY); echo "sync = meta" >"$T/exigrey.conf" ;;
    exigrey-nosync) defines=(-DVARIANT_EXIGREY); echo "sync = none" >"$T/exigrey.conf" ;;
    pgsql) defines=(-DVARIANT_PGSQL) ;;
    exigrey-peers)  # its own store, so that both grow alike
      defines=(-DVARIANT_EXIGREY)
      mkdir -p "$T/spool/grey-peers" && chown "$EXIM_USER:$EXIM_USER" "$T/spool/grey-peers"
      printf 'peers = %s\ndirectory = %s\n' "$T/peers" "$T/spool/grey-peers" >"$T/exigrey.conf" ;;
  esac
  t0=$EPOCHREALTIME
  run_exim "${defines[@]}" -bh 10.9.8.7 <"$file" >"$T/out" 2>/dev/null
  t1=$EPOCHREALTIME
  replies=$(tr -d '\r' <"$T/out" | grep -c "^$want " || true)
  [ "$want" = 250 ] && replies=$((replies - 2))  # the HELO and MAIL replies
  if [ "$replies" -ne "$rcpts" ]; then
    echo "FAIL: $variant ($file): $replies of $rcpts RCPTs got $want" >&2
    exit 1
  fi
  python3 -c "print(f'{$t1 - $t0:.6f}')"
}

variants=(${EXIM_VS_SEEN_VARIANTS:-baseline noop seen exigrey exigrey-meta exigrey-nosync})
declare -A first again
for round in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    # Each variant gets its own recipients, so each first session sees new
    # triplets in its own database (seen: Exim's hints DB; exigrey: grey/seen).
    sessions "$v-$round"
    first[$v]+="$(run "$v" "$T/$v-$round.first" "$N") "
    again[$v]+="$(run "$v" "$T/$v-$round.again" "$((N * REPEAT))") "
  done
done

for v in "${variants[@]}"; do
  echo "$v ${first[$v]}"
  echo "$v ${again[$v]}"
done >"$T/times"
version=$("$EXIM" -bV 2>/dev/null | sed -n 1p)
python3 - "$T/times" "$N" "$REPEAT" "$ROUNDS" "$version" <<'PY'
import statistics, sys
path, n, repeat, rounds, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = [l.split() for l in open(path)]
first = {l[0]: statistics.median(map(float, l[1:])) for l in lines[0::2]}
again = {l[0]: statistics.median(map(float, l[1:])) for l in lines[1::2]}
counts = {"first": n, "again": n * repeat}
med = {"first": first, "again": again}

def us(v, base, which):
    return (med[which][v] - med[which][base]) / counts[which] * 1e6

print(version)
print(f"first sight: {n} new RCPTs per exim -bh session; retry too early: "
      f"{n * repeat} RCPTs; median of {rounds} rounds; us = microseconds per decision")
print(f"{'variant':15} | {'first s':>8} {'us-none':>8} {'us-noop':>8} | "
      f"{'retry s':>8} {'us-none':>8} {'us-noop':>8}")
for v in first:
    row = []
    for which in ("first", "again"):
        row.append(f"{med[which][v]:8.3f}")
        for base in ("baseline", "noop"):
            skip = v == base or v == "baseline"
            row.append(f"{'':8}" if skip else f"{us(v, base, which):8.1f}")
    print(f"{v:15} | {' '.join(row[:3])} | {' '.join(row[3:])}")
for v in ("exigrey", "exigrey-meta", "exigrey-nosync"):
    if v not in first or "seen" not in first:
        continue
    for base in ("baseline", "noop"):
        ratios = [us("seen", base, w) / us(v, base, w) for w in ("first", "again")]
        print(f"seen/{v} (minus {base}): first sight {ratios[0]:.1f}x, "
              f"retry too early {ratios[1]:.1f}x")
if "pgsql" in first:
    for base in ("baseline", "noop"):
        print(f"pgsql/exigrey (minus {base}): first sight "
              f"{us('pgsql', base, 'first') / us('exigrey', base, 'first'):.1f}x, retry too early "
              f"{us('pgsql', base, 'again') / us('exigrey', base, 'again'):.1f}x")
if "exigrey-peers" in first:
    for base in ("baseline", "noop"):
        print(f"exigrey-peers / exigrey (minus {base}): first sight "
              f"{us('exigrey-peers', base, 'first') / us('exigrey', base, 'first'):.2f}x "
              f"(+{us('exigrey-peers', base, 'first') - us('exigrey', base, 'first'):.1f} us), "
              f"retry too early "
              f"{us('exigrey-peers', base, 'again') / us('exigrey', base, 'again'):.2f}x")
for base in ("baseline", "noop"):
    if "exigrey-nosync" not in first:
        break
    print(f"exigrey (precious) / exigrey-nosync (minus {base}): first sight "
          f"{us('exigrey', base, 'first') / us('exigrey-nosync', base, 'first'):.2f}x, "
          f"retry too early {us('exigrey', base, 'again') / us('exigrey-nosync', base, 'again'):.2f}x")
PY

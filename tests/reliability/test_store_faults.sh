#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Store faults through a real Exim daemon, and the state after
# recovery: a full map (recovered by `exigrey purge`, then by raising
# map_size), a store file and a store directory the Exim user cannot write
# (recovered by fixing the modes), and a damaged data file (truncated, meta
# pages overwritten, a text file in its place; recovered by putting the file
# back, or by moving it aside and `exigrey load` from a dump). Each time the
# client gets a 4xx (or, with fail_open, the mail passes), Exim's main log
# names the problem, Exim keeps serving, the CLI reports the same error, the
# damaged file is never written to, and after recovery the records stored
# before the fault decide as they should.
#
# Usage: test_store_faults.sh PATH/TO/libexigrey.so PATH/TO/exigrey
source "$(dirname "$0")/../exim/lib.sh"
exim_test_setup "$1"
EXIGREY=$2

for d in full perm dir corrupt other; do
  mkdir "$T/d-$d"
  chown "$EXIM_USER:$EXIM_USER" "$T/d-$d"
done
# Local parts are STORE.NAME: the store is $T/d-STORE/seen. The suffix makes
# every record about 350 bytes (so that a small map fills quickly) and is
# unique per key (a pass whitelists it: it must not whitelist other keys).
pad=$(printf 'p%.0s' $(seq 1 300))
{
  exim_base_config
  cat <<EOF
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data

begin acl
acl_check_rcpt:
  defer message     = greylisted: please retry in a few seconds
        condition   = \${dlfunc{$PLUGIN}{unseen}{<\$sender_address>:<\$local_part@\$domain>/\${local_part}$pad}{2s}{$T/d-\${extract{1}{.}{\$local_part}}/seen}}
  accept

acl_check_data:
  discard
EOF
} | install_config
echo "map_size = 256K" >"$T/exigrey.conf"
export EXIGREY_CONFIG=$T/exigrey.conf  # the CLI reads the same settings

PORT=$(free_port)
start_daemon "$PORT"
log "exim daemon listening on 127.0.0.1:$PORT"

local_problem="451 Temporary local problem - please try later"
greylisted="451 greylisted: please retry in a few seconds"
accepted="250 Accepted"
FROM=sender@x.test

# rcpt LOCALPART: the reply to one RCPT in a new connection.
rcpt() {
  smtp_replies --quit-after RCPT --from "$FROM" --to "$1@y.test" | awk -F' [|] ' '{ print $2 }'
}
# cli DB ARGS...: runs exigrey on store $T/d-DB/seen; prints "rc=N" then its output.
cli() {
  local db=$1 out rc=0
  shift
  out=$("$EXIGREY" --db "$T/d-$db/seen" "$@" 2>&1) || rc=$?
  printf 'rc=%s\n%s\n' "$rc" "$out"
}
# set_conf TEXT: new plugin settings; the plugin checks the file at most once a second.
set_conf() {
  printf '%s\n' "$@" >"$T/exigrey.conf"
  sleep 1.2
}
mainlog() { cat "$T/log/mainlog"; }

########################################################################
log "A. map full: recovered by purge, then by raising map_size"
replies=$(smtp_replies --from "$FROM" --to "$(seq -f 'full.a%g@y.test' 1 200 | paste -sd, -)")
expect_match "A: 200 old records fit" "^250 OK( \\| $greylisted){200}\$" "$replies"
old_done=$(date +%s)  # every old record was last used at or before this second
sleep 6  # a gap between the old records and the fill, whatever the fill takes
replies=$(smtp_replies --from "$FROM" --to \
  "full.k1@y.test,full.k2@y.test,$(seq -f 'full.b%g@y.test' 1 600 | paste -sd, -)")
expect_match "A: filling the map ends in a 4xx" "^250 OK( \\| $greylisted){3,} \\| $local_problem" \
  "$replies"
expect_match "A: the main log names the problem and the fix" \
  "exigrey: store $T/d-full/seen is full \\(map_size [0-9]+ [KM]iB\\): run 'exigrey purge --older-than 30d' or raise map_size" \
  "$(mainlog)"
expect "A: Exim serves another store meanwhile" "$greylisted" "$(rcpt other.x1)"
out=$(cli full stats --json)
expect_match "A: the CLI reads the full store" '^rc=0' "$out"
# Cut just after the old records, so the fill (6 s later) is kept however
# long it took on a loaded machine.
age=$(( $(date +%s) - old_done - 1 ))
out=$(cli full purge --older-than "${age}s")
expect_match "A: exigrey purge --older-than ${age}s removes the 200 old records" \
  '^rc=0.*purge: removed 200 items' "$(tr '\n' ' ' <<<"$out")"
sleep 2  # the kept records' delay
expect "A: after the purge the kept record passes (it waited its delay)" "$accepted" "$(rcpt full.k1)"
expect "A: a record from the fill passes too" "$accepted" "$(rcpt full.b1)"
expect "A: a new record is written again" "$greylisted" "$(rcpt full.new1)"
expect "A: a purged record starts again" "$greylisted" "$(rcpt full.a1)"
# Full again, then more room.
replies=$(smtp_replies --from "$FROM" --to "$(seq -f 'full.c%g@y.test' 1 400 | paste -sd, -)")
expect_match "A: full again" "$local_problem\$" "$replies"
set_conf "map_size = 1M"
sleep 1
expect "A: with map_size raised, the other kept record passes" "$accepted" "$(rcpt full.k2)"
expect "A: and a record from before the raise" "$accepted" "$(rcpt full.c1)"
expect "A: and the record that passed before is still passed" "$accepted" "$(rcpt full.k1)"
expect "A: and new records are written" "$greylisted" "$(rcpt full.new2)"
out=$(cli full show "<$FROM>:<full.b1@y.test>")
expect_match "A: exigrey show: the record passed once" 'count +1' "$out"

########################################################################
log "B. a store file, then a store directory, the Exim user cannot write"
expect "B: a record before the fault" "$greylisted" "$(rcpt perm.k1)"
chmod 0440 "$T/d-perm/seen" "$T/d-perm/seen-lock"
expect "B: unwritable store file: 4xx" "$local_problem" "$(rcpt perm.k1)"
expect_match "B: the main log names it" \
  "exigrey: permission denied for store $T/d-perm/seen \\(mdb_env_open\\): it must be readable and writable by the Exim user\$" \
  "$(mainlog)"
set_conf "map_size = 1M" "fail_open = yes"
expect "B: with fail_open the mail passes" "$accepted" "$(rcpt perm.k2)"
expect_match "B: and the log says why" \
  "permission denied for store $T/d-perm/seen .*\\(fail_open: unseen answers no\\)" "$(mainlog)"
set_conf "map_size = 1M"
chmod 0660 "$T/d-perm/seen" "$T/d-perm/seen-lock"
expect "B: modes fixed: the old record passes after its delay" "$accepted" "$(rcpt perm.k1)"
expect "B: and new records are written" "$greylisted" "$(rcpt perm.k3)"
chmod 0555 "$T/d-dir"
expect "B: unwritable directory, no store yet: 4xx" "$local_problem" "$(rcpt dir.k1)"
expect_match "B: the main log names it" "exigrey: permission denied for store $T/d-dir/seen" \
  "$(mainlog)"
chmod 0750 "$T/d-dir"
expect "B: directory fixed: the store is created" "$greylisted" "$(rcpt dir.k1)"
expect "B: and it passes after its delay" "$accepted" "$(sleep 2; rcpt dir.k1)"

########################################################################
log "C. a damaged data file"
replies=$(smtp_replies --from "$FROM" --to "$(seq -f 'corrupt.k%g@y.test' 1 40 | paste -sd, -)")
expect_match "C: 40 records before the damage" "^250 OK( \\| $greylisted){40}\$" "$replies"
"$EXIGREY" --db "$T/d-corrupt/seen" dump >"$T/backup.dump"
cp "$T/d-corrupt/seen" "$T/seen.orig"
size=$(stat -c %s "$T/seen.orig")
damaged_case() {  # NAME LOG_ERE
  local name=$1 ere=$2 before
  before=$(sha256sum <"$T/d-corrupt/seen")
  expect "C/$name: 4xx" "$local_problem" "$(rcpt corrupt.k1)"
  expect_match "C/$name: the main log names the file and the problem" \
    "RCPT <corrupt\\.k1@y\\.test>: failed to expand ACL string .*exigrey: .*$T/d-corrupt/seen.*$ere" \
    "$(mainlog | tail -n 5)"
  expect "C/$name: Exim serves another store meanwhile" "$greylisted" "$(rcpt other.$name)"
  out=$(cli corrupt stats)
  expect_match "C/$name: exigrey stats fails, naming the file" \
    "^rc=[1-9][0-9]*\$" "$(head -n 1 <<<"$out")"
  expect_match "C/$name: with one line naming the file" "^exigrey: .*$T/d-corrupt/seen.*$ere" \
    "$(sed -n 2p <<<"$out")"
  expect "C/$name: exigrey said one line" "2" "$(wc -l <<<"$out")"
  out=$(cli corrupt check "<$FROM>:<corrupt.k1@y.test>/corrupt.k1$pad")
  expect_match "C/$name: exigrey check fails the same way" "^rc=[1-9]" "$out"
  set_conf "map_size = 1M" "fail_open = yes"
  expect "C/$name: with fail_open the mail passes" "$accepted" "$(rcpt corrupt.k2)"
  set_conf "map_size = 1M"
  expect "C/$name: the damaged file was not written to" "$before" \
    "$(sha256sum <"$T/d-corrupt/seen")"
}
truncate -s $((size / 2)) "$T/d-corrupt/seen"
damaged_case half "is truncated \\([0-9]+ bytes, its header needs [0-9]+\\)"
cp "$T/seen.orig" "$T/d-corrupt/seen"
expect "C: the file put back: an old record passes after its delay" "$accepted" \
  "$(rcpt corrupt.k1)"
dd if=/dev/urandom of="$T/d-corrupt/seen" bs=4096 count=2 conv=notrunc status=none
damaged_case meta "is not an LMDB file, or its header is damaged"
printf 'not a database\n%.0s' $(seq 1 500) >"$T/d-corrupt/seen"
damaged_case text "is not an LMDB file"
# Recovery from the dump: move the damaged file aside, load the backup.
mv "$T/d-corrupt/seen" "$T/d-corrupt/seen.damaged"
out=$(cli corrupt load "$T/backup.dump")
expect_match "C: exigrey load from the dump" "^rc=0" "$out"
expect "C: loaded: the store belongs to the Exim user" "$EXIM_USER" \
  "$(stat -c %U "$T/d-corrupt/seen")"
expect "C: loaded: an old record passes" "$accepted" "$(rcpt corrupt.k3)"
expect "C: loaded: another old record passes" "$accepted" "$(rcpt corrupt.k40)"
expect "C: loaded: new records are written" "$greylisted" "$(rcpt corrupt.new)"

expect_clean_run
finish

# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Shared helpers for the real-Exim tests. Source it, then call exim_test_setup.
#
# Each test gets its own temporary directory with Exim's spool and log
# directories (owned by Debian-exim, as Exim insists), its own copy of the
# plugin, a root-owned 0644 config (exim -C as root refuses anything else) and
# an exigrey settings file named by EXIGREY_CONFIG. Every process a test
# starts is killed by the EXIT trap.
#
# Exim runs as root here: `exim -C` is honoured without privilege drop only
# for root. Outside CI a non-root run skips (exit 77); in CI it fails.
#
# Environment: EXIM (default /usr/sbin/exim4); EXIGREY_TEST_PRELOAD: what to
# LD_PRELOAD into Exim (default: the ASan/UBSan runtimes the plugin links, as
# Exim is not built with them and the ASan runtime must be loaded first);
# EXIGREY_TEST_KEEP=1 keeps the temporary directory for a post-mortem.

set -euo pipefail

EXIM=${EXIM:-/usr/sbin/exim4}
EXIM_USER=Debian-exim
T=""
PLUGIN=""
PIDS=()
FAILURES=0

log() { echo "[$(basename "$0" .sh)] $*"; }

skip_or_fail() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL: $* (required in CI)" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Exim's daemon takes a moment to exit; never leave one behind.
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$T" ] && [ -d "$T" ]; then
    if [ $rc -ne 0 ] || [ $FAILURES -ne 0 ]; then
      local f
      for f in "$T"/log/mainlog "$T"/log/paniclog "$T"/asan.*; do
        if [ -s "$f" ]; then
          echo "---- $f (last lines)"
          tail -n 30 "$f" | cut -c1-400
        fi
      done
    fi
    if [ -n "${EXIGREY_TEST_KEEP:-}" ]; then
      echo "kept $T"
    else
      rm -rf "$T"
    fi
  fi
  exit $rc
}

# exim_test_setup PLUGIN_SO: creates $T and copies the plugin to $PLUGIN.
exim_test_setup() {
  [ "$(id -u)" -eq 0 ] || skip_or_fail "real-Exim tests need root (exim -C)"
  [ -x "$EXIM" ] || skip_or_fail "$EXIM not installed (apt-get install exim4-daemon-heavy)"
  id "$EXIM_USER" >/dev/null 2>&1 || skip_or_fail "no user $EXIM_USER"
  [ -f "$1" ] || { echo "FAIL: plugin $1 not built" >&2; exit 1; }
  T=$(mktemp -d /tmp/exigrey-exim-XXXXXX)
  trap cleanup EXIT
  trap 'exit 1' INT TERM
  chmod 0755 "$T"  # Exim's reception processes run as $EXIM_USER and must get in
  mkdir "$T/spool" "$T/log"
  chown "$EXIM_USER:$EXIM_USER" "$T/spool" "$T/log"
  # A copy every Exim process can read, wherever the build tree lives.
  PLUGIN=$T/libexigrey.so
  install -m 0644 "$1" "$PLUGIN"
  : >"$T/exigrey.conf"
  chmod 0644 "$T/exigrey.conf"
  # A sanitizer-built plugin needs its runtimes loaded first into Exim,
  # which is not built with them: preload what the module itself links.
  if [ -z "${EXIGREY_TEST_PRELOAD+set}" ]; then
    EXIGREY_TEST_PRELOAD=$(ldd "$PLUGIN" | awk '$1 ~ /^lib(asan|ubsan)[.]so/ { print $3 }' |
      sort | paste -sd' ' -)
  fi
  [ -n "$EXIGREY_TEST_PRELOAD" ] && log "preloading into exim: $EXIGREY_TEST_PRELOAD"
  return 0
}

# The part of every test config that sets up the private Exim instance.
# Usage: { exim_base_config; echo "acl_smtp_rcpt = ..."; } | install_config
exim_base_config() {
  cat <<EOF
spool_directory = $T/spool
log_file_path = $T/log/%slog
pid_file_path = $T/exim.pid
primary_hostname = exigrey.test
keep_environment = EXIGREY_CONFIG
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
smtp_accept_max = 100
EOF
}

# Reads an Exim config from stdin into $T/exim.conf (or FILE), owned by
# root, mode 0644. run_exim uses $EXIM_CONF when set, else $T/exim.conf.
install_config() {
  local file=${1:-$T/exim.conf}
  cat >"$file"
  chown root:root "$file"
  chmod 0644 "$file"
}

# recipe_part FILE N: Part N of an examples/recipes/ file (the lines after
# its "#### Part N" heading, up to the next heading).
recipe_part() {
  awk -v n="$2" '/^#### Part / { on = ($3 == n ":") ; next } on' "$1"
}

# recipe_config NAME [MAIN-LINES]: $T/NAME.conf around examples/recipes/NAME.conf
# as its header says to use it: Part 1 in the main section (after the base
# and MAIN-LINES), Part 2 in acl_check_rcpt, Part 3 in acl_check_data, each
# ACL ending in accept; relay_from_hosts is 10.99.99.99; a PLAIN
# authenticator takes any user with the password "secret".
recipe_config() {
  local src
  src="$(dirname "${BASH_SOURCE[0]}")/../../examples/recipes/$1.conf"
  [ -f "$src" ] || { echo "FAIL: no recipe $src" >&2; exit 1; }
  {
    exim_base_config
    echo "hostlist relay_from_hosts = 10.99.99.99"
    echo "acl_smtp_rcpt = acl_check_rcpt"
    echo "acl_smtp_data = acl_check_data"
    [ -n "${2:-}" ] && printf '%s\n' "$2"
    recipe_part "$src" 1
    echo "begin acl"
    echo "acl_check_rcpt:"
    recipe_part "$src" 2
    echo "  accept"
    echo "acl_check_data:"
    recipe_part "$src" 3
    echo "  accept"
    cat <<'EOF2'
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if eq{$auth3}{secret}}
  server_set_id = $auth2
EOF2
  } | install_config "$T/$1.conf"
}

# The command line that runs exim with the test config and, for a sanitizer
# build, the runtime. `env` execs exim, so a background job's $! is Exim's pid.
exim_command() {
  EXIM_CMD=(env)
  [ -n "${EXIGREY_TEST_PRELOAD:-}" ] && EXIM_CMD+=("LD_PRELOAD=$EXIGREY_TEST_PRELOAD")
  EXIM_CMD+=("ASAN_OPTIONS=detect_leaks=0:log_path=$T/asan"
    "UBSAN_OPTIONS=print_stacktrace=1:log_path=$T/asan"
    "EXIGREY_CONFIG=$T/exigrey.conf" "$EXIM" -C "${EXIM_CONF:-$T/exim.conf}")
}

run_exim() {
  exim_command
  "${EXIM_CMD[@]}" "$@"
}

# A TCP port on 127.0.0.1 that was free a moment ago.
# free_port: a loopback port free for TCP and UDP and claimed by no other
# test of the run (tests/support/ports.py says why bind-to-0 is not enough).
free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../support/ports.py"
}

# wait_listening PORT [PID]: until something accepts connections on
# 127.0.0.1:PORT (0), or 10 s have passed or process PID has ended (1).
wait_listening() {
  local port=$1 pid=${2:-}
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" \
      2>/dev/null && return 0
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_daemon PORT: a foreground Exim daemon, killed by the EXIT trap.
start_daemon() {
  local port=$1
  exim_command
  "${EXIM_CMD[@]}" -bdf -oX "127.0.0.1:$port" -oP "$T/exim.pid" </dev/null &
  PIDS+=($!)
  wait_listening "$port" "${PIDS[-1]}" && return 0
  kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "FAIL: exim daemon died at start" >&2; exit 1; }
  echo "FAIL: exim daemon does not listen on port $port" >&2
  exit 1
}

# smtp_replies SWAKS_ARGS...: one swaks transaction against $PORT; prints
# the server's final reply lines to MAIL, each RCPT, DATA and the end of the
# data, joined by " | " (e.g. "250 OK | 451 greylisted").
smtp_replies() {
  { swaks --server "127.0.0.1:$PORT" --timeout 30 "$@" 2>&1 || true; } |
    awk '/^ -> (MAIL|RCPT|DATA)/ || /^ -> [.]$/ { want = 1; next }
         /^ -> QUIT/ { want = 0 }
         want && /^(<-|<[*][*]) +[0-9][0-9][0-9] / { sub(/^(<-|<[*][*]) +/, ""); print; want = 0 }' |
    paste -sd'|' - | sed 's/|/ | /g'
}

# smtp_codes SWAKS_ARGS...: as smtp_replies, only the codes ("250 451").
smtp_codes() {
  smtp_replies "$@" | tr '|' '\n' | awk '{ print $1 }' | paste -sd' ' -
}

# expect NAME EXPECTED ACTUAL: records a failure instead of stopping, so that
# one run shows every wrong answer.
expect() {
  if [ "$2" == "$3" ]; then
    echo "ok   - $1"
  else
    echo "FAIL - $1"
    echo "       expected: $(printf '%q' "$2")"
    echo "       actual:   $(printf '%q' "$3")"
    FAILURES=$((FAILURES + 1))
  fi
}

# expect_match NAME ERE TEXT
expect_match() {
  if grep -Eq -- "$2" <<<"$3"; then  # not a pipe: grep -q would SIGPIPE the writer
    echo "ok   - $1"
  else
    echo "FAIL - $1"
    echo "       wanted /$2/ in:"
    printf '%s\n' "$3" | tail -n 8 | cut -c1-400 | sed 's/^/       | /'
    FAILURES=$((FAILURES + 1))
  fi
}

# Exim must not have written a panic log, nor the sanitizers anything.
expect_clean_run() {
  local panic="" reports=""
  [ -s "$T/log/paniclog" ] && panic=$(cat "$T/log/paniclog")
  expect "Exim's panic log is empty" "" "$panic"
  reports=$(cat "$T"/asan.* 2>/dev/null || true)
  expect "no sanitizer reports" "" "$reports"
}

finish() {
  if [ $FAILURES -ne 0 ]; then
    echo "$FAILURES check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}

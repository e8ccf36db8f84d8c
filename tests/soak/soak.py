#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bounded soak: a real Exim daemon with the plugin, SOAK_CLIENTS concurrent
SMTP clients for SOAK_SECONDS, reports flowing to a collector, memory of every
long-running process sampled once a second. See docs/soak.md.

What runs (all on 127.0.0.1, free ports, one temporary directory):
  - Exim 4.96 (`exim -bdf -C`, as root) whose RCPT ACL (1) refuses the spamtrap
    recipient with 550 and calls the plugin's `report` for the sender's
    domain, (2) greylists every other message with `unseen` (key: sender and
    recipient, suffix: the HELO name, unique per message, so that every new
    message is deferred once whatever came before);
  - exigrey-forward draining the plugin's outbox, signed, to
  - exigrey-collect (signed listener, min_reporters 1, publishing rbldnsd files).

Each client loops until the time is up (or SOAK_MAX_MESSAGES are started): a
new message's first attempt must get MAIL 250 / RCPT 451; once SOAK_DELAY
(+ margin) has passed, its retry must get MAIL 250 / RCPT 250 / DATA 250.
Every 8th message of a client is a spamtrap hit instead: MAIL 250 / RCPT 550
and one report (the sender domains cycle through 97 names, so the
collector's store and published list stay bounded while the counts grow).

Pass/fail, all exact except memory:
  - every SMTP reply is the expected one (no error but the expected 451s and
    the spamtrap's 550s), and every message started was retried and accepted;
  - Exim logged one accept per retry and one defer per first attempt;
  - reports: the collector's stored black reports and its signed-report
    counter both equal the spamtrap hits, and the outbox is empty at the end;
  - Exim's panic log is empty; no daemon died;
  - memory is flat: for the Exim daemon, exigrey-forward and exigrey-collect,
    RssAnon (private memory, where a leak shows; the LMDB maps are file-backed
    and grow with the data read) sampled once a second during the load; the largest sample of the
    last third may exceed the largest of the first third by at most
    max(SOAK_RSS_SLACK_KIB, SOAK_RSS_SLACK_PCT % of that first-third max)
    (defaults 2048 KiB and 10 %).

Environment: SOAK_SECONDS (default 30), SOAK_CLIENTS (64), SOAK_DELAY (the
greylisting delay in seconds, default 2), SOAK_MAX_MESSAGES (bound on messages
started, default 1,000,000), SOAK_RSS_SLACK_KIB, SOAK_RSS_SLACK_PCT,
SOAK_CSV=FILE (write every RSS sample), SOAK_FAULT: `drop-report` is a
self-test of the checks (the ACL skips one report the client counts; the run
must then fail); `kill-forward` / `kill-collect` SIGKILL that daemon in the
middle of the load and restart it a second later (the run must still pass:
nothing lost, nothing counted twice; its RSS is judged on the samples taken
while it ran). EXIGREY_SANITIZE=1: a sanitizer build, whose RSS is printed
but not judged. EXIGREY_TEST_KEEP=1 keeps the temporary directory.

Usage: soak.py COLLECT FORWARD PLUGIN EXIGREY (as root; exit 77 = skipped
outside CI, CI=1 makes a missing prerequisite a failure).
"""

import json
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "collect"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import eximlib  # noqa: E402
from collectlib import *  # noqa: F401,F403,E402
import collectlib  # noqa: E402

COLLECT, FORWARD, PLUGIN, EXIGREY = sys.argv[1:5]
SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "64"))
DELAY = int(os.environ.get("SOAK_DELAY", "2"))
MAX_MESSAGES = int(os.environ.get("SOAK_MAX_MESSAGES", "1000000"))
SLACK_KIB = int(os.environ.get("SOAK_RSS_SLACK_KIB", "2048"))
SLACK_PCT = float(os.environ.get("SOAK_RSS_SLACK_PCT", "10"))
FAULT = os.environ.get("SOAK_FAULT", "")
# ASan's quarantine (256 MiB) and allocator grow RSS by design: a sanitizer
# build reports the samples but does not judge them.
SANITIZED = os.environ.get("EXIGREY_SANITIZE", "").upper() in ("1", "ON", "TRUE", "YES")
EXIM = os.environ.get("EXIM", "/usr/sbin/exim4")
TRAP_EVERY = 8
TRAP_DOMAINS = 97
SMTP_TIMEOUT = 120  # per command: generous, a loaded 2-core machine must not flake
SECRET = "5oak" * 12

if os.geteuid() != 0:
    skip_or_fail("the soak runs a real Exim daemon, which needs root (exim -C)")
if not os.access(EXIM, os.X_OK):
    skip_or_fail(f"{EXIM} not installed (apt-get install exim4-daemon-heavy)")
try:
    EXIM_USER = pwd.getpwnam("Debian-exim")
except KeyError:
    skip_or_fail("no user Debian-exim")
if FAULT not in ("", "drop-report", "kill-forward", "kill-collect"):
    log(f"FAIL: unknown SOAK_FAULT {FAULT!r} (use drop-report, kill-forward or kill-collect)")
    sys.exit(2)
raise_fd_limit()


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on {port}")


# --- the parts ------------------------------------------------------------
root = tempdir()
spool = os.path.join(root, "spool")
logdir = os.path.join(root, "log")
grey = os.path.join(spool, "grey")
for d in (spool, grey, logdir):
    os.makedirs(d)
    os.chown(d, EXIM_USER.pw_uid, EXIM_USER.pw_gid)
plugin = os.path.join(root, "libexigrey.so")
shutil.copyfile(PLUGIN, plugin)
os.chmod(plugin, 0o644)
settings = os.path.join(root, "exigrey.conf")
open(settings, "w").close()
os.chmod(settings, 0o644)

keys = os.path.join(root, "collect.keys")
with open(keys, "w") as f:
    f.write(f"soak {SECRET}\n")
os.chmod(keys, 0o600)
secret_file = os.path.join(root, "forward.secret")
with open(secret_file, "w") as f:
    f.write(SECRET + "\n")
os.chmod(secret_file, 0o600)

report_call = (f"${{dlfunc{{{plugin}}}{{report}}{{black}}{{$sender_address_domain}}"
               f"{{soak spamtrap}}}}")
if FAULT == "drop-report":  # self-test: one report the client counts never reaches the outbox
    report_call = (f"${{if eq{{$sender_address_local_part}}{{drop-one}}{{skipped}}"
                   f"{{{report_call}}}}}")
grey_key = "<$sender_address>:<$local_part@$domain>/$sender_helo_name"
port = free_port()
conf = eximlib.install_config(os.path.join(root, "exim.conf"), eximlib.main_section(
    root, hostname="soak.exigrey.test", spool=spool, log=logdir, extra=f"""\
smtp_accept_max = {CLIENTS + 36}
smtp_connect_backlog = {max(128, CLIENTS * 2)}
smtp_accept_max_nonmail = 100
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
""") + f"""begin acl
acl_rcpt:
  deny  message    = no such user
        recipients = spamtrap@soak.exigrey.test
        set acl_m_reported = {report_call}
  defer message   = greylisted: retry in {DELAY}s
        condition = ${{dlfunc{{{plugin}}}{{unseen}}{{{grey_key}}}{{{DELAY}s}}}}
  accept
acl_data:
  discard
""")
env = eximlib.sanitizer_env(plugin, dict(os.environ, EXIGREY_CONFIG=settings),
                            log_path=f"{root}/asan")

exim = spawn([EXIM, "-C", conf, "-bdf", "-oX", f"127.0.0.1:{port}", "-oP", f"{root}/exim.pid"],
             os.path.join(root, "exim.out"), env=env, stdin=subprocess.DEVNULL)
wait_port(port, exim, "the Exim daemon")

signed_port = free_port()
collector = Collector(COLLECT, root, "--signed", f"127.0.0.1:{signed_port}", "--keys", keys,
                      "--min-reporters", "1").start()
FORWARD_ARGV = [FORWARD, "--dir", grey, "--collector", f"127.0.0.1:{signed_port}",
                "--reporter", "soak", "--secret-file", secret_file, "--timeout", "30",
                "--backoff-max", "1"]
forward = spawn(FORWARD_ARGV, os.path.join(root, "forward.log"))
time.sleep(0.5)
if forward.poll() is not None:
    raise RuntimeError("exigrey-forward exited: " + open(os.path.join(root, "forward.log")).read())
PROCS = {"exim": exim, "forward": forward, "collect": collector.proc}
log(f"exim pid {exim.pid} on 127.0.0.1:{port}, forward pid {forward.pid}, collect pid "
    f"{collector.proc.pid}; {CLIENTS} clients for {SECONDS:g} s, delay {DELAY} s")


# --- memory sampling ----------------------------------------------------------
samples = []  # (t, {name: kib})
stop_sampling = threading.Event()


def sampler(t0):
    while not stop_sampling.is_set():
        row = {}
        for name, p in PROCS.items():
            try:
                row[name] = rss_bytes(p.pid, "RssAnon") // 1024
            except OSError:
                row[name] = -1  # the process is gone: a failure below
        samples.append((time.time() - t0, row))
        stop_sampling.wait(1.0)


# --- the clients --------------------------------------------------------------
lock = threading.Lock()
counts = {"first": 0, "retry": 0, "trap": 0, "started": 0}
wrong = []  # (client, message, phase, what)


def record_wrong(c, n, phase, what):
    with lock:
        wrong.append((c, n, phase, what))


def start_message():
    with lock:
        if counts["started"] >= MAX_MESSAGES:
            return False
        counts["started"] += 1
        return True


def transaction(helo, sender, rcpt, data):
    """One SMTP session; the reply codes of MAIL, RCPT and (if reached) DATA."""
    s = smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=SMTP_TIMEOUT)
    try:
        codes = [s.ehlo()[0]]
        codes.append(s.mail(sender)[0])
        rc = s.rcpt(rcpt)[0]
        codes.append(rc)
        if data is not None and rc == 250:
            try:
                codes.append(s.data(data)[0])
            except smtplib.SMTPDataError as e:
                codes.append(e.smtp_code)
        s.quit()
        return codes
    finally:
        s.close()


def client(c, deadline):
    pending = []  # (due, n) retries, in order
    n = 0
    while True:
        now = time.time()
        if pending and pending[0][0] <= now:
            _, m = pending.pop(0)
            helo, sender, rcpt = f"c{c}m{m}.soak.test", f"s{m}@c{c}.soak.test", f"r{m}@soak.test"
            try:
                codes = transaction(helo, sender, rcpt, f"Subject: soak {c}/{m}\r\n\r\nhello\r\n")
            except Exception as e:  # noqa: BLE001  any SMTP or socket error is a failure
                record_wrong(c, m, "retry", repr(e))
                continue
            if codes != [250, 250, 250, 250]:
                record_wrong(c, m, "retry", codes)
            else:
                with lock:
                    counts["retry"] += 1
            continue
        if now < deadline and start_message():
            n += 1
            if n % TRAP_EVERY == 0:
                dropped = FAULT == "drop-report" and c == 0 and n == TRAP_EVERY
                local = "drop-one" if dropped else f"bot{n}"
                sender = f"{local}@t{(c * 31 + n) % TRAP_DOMAINS}.soak-exigrey.net"
                try:
                    codes = transaction(f"c{c}m{n}.soak.test", sender,
                                        "spamtrap@soak.exigrey.test", None)
                except Exception as e:  # noqa: BLE001
                    record_wrong(c, n, "trap", repr(e))
                    continue
                if codes != [250, 250, 550]:
                    record_wrong(c, n, "trap", codes)
                else:
                    with lock:
                        counts["trap"] += 1
                continue
            helo, sender, rcpt = f"c{c}m{n}.soak.test", f"s{n}@c{c}.soak.test", f"r{n}@soak.test"
            try:
                codes = transaction(helo, sender, rcpt, None)
            except Exception as e:  # noqa: BLE001
                record_wrong(c, n, "first", repr(e))
                continue
            if codes != [250, 250, 451]:
                record_wrong(c, n, "first", codes)
                continue
            with lock:
                counts["first"] += 1
            # Retry once the delay has surely passed for Exim (whole seconds + margin).
            pending.append((time.time() + DELAY + 0.3, n))
            continue
        if not pending:
            return
        time.sleep(max(0.0, min(pending[0][0] - time.time(), 0.5)))


faults = []


def inject(at):
    """kill-forward / kill-collect: SIGKILL the daemon in mid-load, restart it 1 s later."""
    time.sleep(max(0.0, at - time.time()))
    name = FAULT.split("-")[1]
    victim = PROCS[name]
    victim.kill()
    victim.wait(timeout=30)
    time.sleep(1.0)
    if name == "forward":
        PROCS[name] = spawn(FORWARD_ARGV, os.path.join(root, "forward.log"))
    else:
        collector.start(timeout=60)
        PROCS[name] = collector.proc
    faults.append(f"{name} SIGKILLed at {at - t0:.1f} s and restarted as pid {PROCS[name].pid}")
    log(faults[-1])


t0 = time.time()
sampling = threading.Thread(target=sampler, args=(t0,), daemon=True)
sampling.start()
if FAULT.startswith("kill-"):
    threading.Thread(target=inject, args=(t0 + SECONDS / 2,), daemon=True).start()
threads = [threading.Thread(target=client, args=(c, t0 + SECONDS), daemon=True)
           for c in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=SECONDS + DELAY + 20 * SMTP_TIMEOUT)
load_end = time.time()
stop_sampling.set()
sampling.join(timeout=5)
check("every client finished", not any(t.is_alive() for t in threads))
log(f"load phase: {load_end - t0:.1f} s; {counts['first']} first attempts, {counts['retry']} "
    f"retries accepted, {counts['trap']} spamtrap hits ({counts['started']} messages started, "
    f"{(counts['first'] + counts['retry'] + counts['trap']) / (load_end - t0):.0f} "
    f"SMTP sessions/s)")

# --- drain: every report must reach the collector ------------------------------


def outbox_pending():
    r = subprocess.run([EXIGREY, "--dir", grey, "outbox", "--json"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout.splitlines()[0])["pending"]


STORED = 'exigrey_collect_stored_reports{verb="black"}'
SIGNED = "exigrey_collect_signed_reports_total"
want = counts["trap"]
deadline = time.time() + 120
pending_now, stored, signed = None, None, None
quiet_since, last = time.time(), None
while time.time() < deadline:
    pending_now = outbox_pending()
    m = collector.metrics()
    stored, signed = m.get(STORED, 0.0), m.get(SIGNED, 0.0)
    if pending_now == 0 and stored >= want:
        break
    if (pending_now, stored) != last:
        quiet_since, last = time.time(), (pending_now, stored)
    elif pending_now == 0 and time.time() - quiet_since > 10:
        break  # nothing left to deliver and nothing moves: the counts say what is missing
    time.sleep(0.25)
log(f"drained {time.time() - load_end:.1f} s after the load")

# --- checks ---------------------------------------------------------------------
started = counts["started"]
check("some load ran", counts["first"] > 0 and counts["trap"] > 0, str(counts))
expect("SMTP: no reply other than the expected ones", [], wrong[:10])
expect("every message started got its expected decision", started,
       counts["first"] + counts["trap"])
expect("every deferred message was retried and accepted", counts["first"], counts["retry"])
expect("the outbox is empty", 0, pending_now)
expect("reports: stored by the collector == spamtrap hits", float(want), stored)
if FAULT == "kill-collect":
    # The counter is per process; the store's count is what survives.
    check("reports: the restarted collector counted at most the hits", signed <= want)
else:
    expect("reports: counted from signed batches == spamtrap hits", float(want), signed)
if FAULT.startswith("kill-"):
    expect("the fault was injected", 1, len(faults))

with open(os.path.join(logdir, "mainlog"), errors="replace") as f:
    mainlog = f.read()
expect("Exim logged one accept per retry", counts["retry"], mainlog.count(" <= "))
expect("Exim logged one greylisting defer per first attempt", counts["first"],
       mainlog.count(": greylisted: retry in"))
expect("Exim logged one spamtrap refusal per hit", counts["trap"],
       mainlog.count("rejected RCPT <spamtrap@soak.exigrey.test>: no such user"))
errors = [ln for ln in mainlog.splitlines()
          if "failed to expand" in ln or "Temporary local problem" in ln
          or "exigrey: " in ln or "panic" in ln.lower()]
expect("no expansion failures or exigrey errors in Exim's main log", [], errors[:5])
panic = os.path.join(logdir, "paniclog")
expect("Exim's panic log is empty", "",
       open(panic, errors="replace").read() if os.path.exists(panic) else "")
asan = [f for f in os.listdir(root) if f.startswith("asan")]
expect("no sanitizer reports", [], asan)
for name, p in PROCS.items():
    check(f"{name} is still running", p.poll() is None, f"(exit {p.poll()})")

# --- memory -------------------------------------------------------------------
third = len(samples) // 3
check("at least 6 memory samples", len(samples) >= 6, f"({len(samples)})")
every = max(1, len(samples) // 60)
log("RSS samples (KiB), one per second" + ("" if every == 1 else f", every {every}th shown"))
log(f"{'t/s':>7} " + " ".join(f"{n:>9}" for n in PROCS))
for i, (t, row) in enumerate(samples):
    if i % every == 0 or i == len(samples) - 1:
        log(f"{t:7.1f} " + " ".join(f"{row.get(n, -1):9d}" for n in PROCS))
if os.environ.get("SOAK_CSV"):
    with open(os.environ["SOAK_CSV"], "w") as f:
        f.write("t," + ",".join(PROCS) + "\n")
        for t, row in samples:
            f.write(f"{t:.1f}," + ",".join(str(row.get(n, -1)) for n in PROCS) + "\n")
if third >= 2:
    for name in PROCS:
        series = [row[name] for _, row in samples]
        if FAULT == f"kill-{name}":
            series = [v for v in series if v > 0]  # not while it was down
        first, last = series[:third], series[-third:]
        base = max(first)
        limit = base + max(SLACK_KIB, base * SLACK_PCT / 100.0)
        log(f"{name}: RSS first third max {base} KiB, last third max {max(last)} KiB, "
            f"first {series[0]} KiB, last {series[-1]} KiB (limit {limit:.0f} KiB)")
        if SANITIZED:
            log(f"{name}: sanitizer build, RSS not judged")
            continue
        check(f"{name}: memory flat (last third max <= {limit:.0f} KiB)",
              min(series) > 0 and max(last) <= limit, f"(last third max {max(last)} KiB)")

m = collector.metrics()
accepted = int(m.get('exigrey_collect_batches_total{result="accepted"}', 0))
dups = int(m.get('exigrey_collect_batches_total{result="dup"}', 0))
log(f"collector: {accepted} batches accepted, {dups} dup, "
    f"{int(m.get('exigrey_collect_subjects', 0))} subjects, "
    f"{int(m.get('exigrey_collect_publishes_total', 0))} publishes")
try:
    load = open("/proc/loadavg").read().split()[:3]
    log(f"load average at the end: {' '.join(load)} ({os.cpu_count()} CPUs)")
except OSError:
    pass
if collectlib.FAILURES:
    for f in ("forward.log", "collect.log", "exim.out"):
        p = os.path.join(root, f)
        if os.path.exists(p) and os.path.getsize(p):
            log(f"---- {f} (last lines)")
            print("".join(open(p, errors="replace").readlines()[-15:]), end="")
if FAULT == "drop-report":
    log(f"SOAK_FAULT={FAULT}: this run must fail")
finish()

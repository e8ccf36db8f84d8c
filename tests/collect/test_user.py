#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""--user: started as root, exigrey-collect binds a privileged plain port and
a signed port and reads a root-only keys file, then runs as `nobody`
(/proc/PID/status: every uid and gid is nobody's, no capabilities), serves
plain and signed reports, publishes the rbldnsd files (owned by nobody), and
rereads its keys on SIGHUP once they are readable by nobody (and says why
not while they are not). A bad --user, --user without root, and directories
nobody cannot write are one-line errors with a nonzero exit.

Needs root (skip 77 outside CI) and the user nobody.
"""

import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from collectlib import *  # noqa: F401,F403

COLLECT = sys.argv[1]
if os.geteuid() != 0:
    skip_or_fail("--user needs root to switch users")
try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:
    skip_or_fail("no user nobody")
UID, GID = NOBODY.pw_uid, NOBODY.pw_gid
GROUP = grp.getgrgid(GID).gr_name
SECRET = "u" * 40


def privileged_port():
    """A free TCP port below 1024 on 127.0.0.1 (binding it needs root)."""
    for port in range(1000, 600, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return free_port()


def status_ids(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups", "CapEff", "CapPrm"):
                out[key] = value.split()
    return out


def run_fail(what, argv, want, preexec=None):
    """The command must exit nonzero with one line on stderr containing `want`."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, preexec_fn=preexec)
    lines = r.stderr.strip().splitlines()
    check(f"{what}: nonzero exit", r.returncode != 0, f"(status {r.returncode})")
    check(f"{what}: one line naming the problem", len(lines) == 1 and want in lines[0],
          f"(stderr {r.stderr!r}, want {want!r})")
    return r


def write_keys(path, entries, mode=0o600, gid=0):
    with open(path, "w") as f:
        for rid, secret in entries.items():
            f.write(f"{rid} {secret}\n")
    os.chown(path, 0, gid)
    os.chmod(path, mode)


root = tempdir()
keys = os.path.join(root, "collect.keys")
write_keys(keys, {"mx1": SECRET})  # root:root 0600: only root can read it
rbl = os.path.join(root, "rbldnsd")
os.makedirs(rbl)
os.chown(rbl, UID, GID)
plain_port = privileged_port()
signed_port = free_port()
c = Collector(COLLECT, root, "--signed", f"127.0.0.1:{signed_port}", "--keys", keys,
              "--min-reporters", "1", "--user", "nobody", rbldnsd_dir=rbl, port=plain_port)
c.start()
log(f"collector pid {c.proc.pid}: plain on 127.0.0.1:{plain_port}, signed on {signed_port}")

ids = status_ids(c.proc.pid)
expect("Uid: real, effective, saved and filesystem uid are nobody's", [str(UID)] * 4,
       ids.get("Uid"))
expect("Gid: all four are nobody's group", [str(GID)] * 4, ids.get("Gid"))
check("Groups: no root group", "0" not in ids.get("Groups", []), f"({ids.get('Groups')})")
expect("no effective capabilities", "0000000000000000", ids.get("CapEff", ["?"])[0])
expect("no permitted capabilities", "0000000000000000", ids.get("CapPrm", ["?"])[0])
check("it says who it runs as", f"running as user nobody (uid {UID}), group {GROUP}" in c.log(),
      c.log()[-400:])
st = os.stat(c.state)
expect("the state directory it created belongs to nobody", (UID, GID), (st.st_uid, st.st_gid))
store = os.path.join(c.state, "reputation")
check("the store files belong to nobody", os.path.exists(store) and os.stat(store).st_uid == UID)

# Plain reports on the privileged port, served as nobody.
c.send("black 23.7.7.1\nblack 23.7.7.2\n")
check("plain reports are committed",
      c.wait_metric('exigrey_collect_reports_total{verb="black"}', 2, timeout=20) >= 2)
deadline = time.time() + 20
while time.time() < deadline and "23.7.7.2" not in c.file("black.ip4"):
    time.sleep(0.05)
check("the rbldnsd file lists them", "23.7.7.1" in c.file("black.ip4") and
      "23.7.7.2" in c.file("black.ip4"))
expect("the rbldnsd file belongs to nobody", UID, os.stat(os.path.join(rbl, "black.ip4")).st_uid)

# Signed batches with the keys read as root.
expect("a signed batch is acknowledged", "ACK 1",
       exchange(signed_port, frame("mx1", SECRET, [(1, "black", "23.7.7.3", int(time.time()))])))

# SIGHUP: a root-only keys file cannot be reread by nobody; the log says why
# and the old keys keep working. Readable by nobody's group, it is reread.
check("a warning at start: SIGHUP cannot reread the keys",
      "is not readable by user nobody: SIGHUP cannot reread it" in c.log())
write_keys(keys, {"mx1": SECRET, "mx2": SECRET[::-1]})
c.signal(signal.SIGHUP)
deadline = time.time() + 20
while time.time() < deadline and "keeping the old keys" not in c.log():
    time.sleep(0.05)
check("reload with unreadable keys: the log names the cause",
      "must be readable by it" in c.log(), c.log()[-400:])
expect("and the old keys still work", "ACK 2",
       exchange(signed_port, frame("mx1", SECRET, [(2, "black", "23.7.7.4", int(time.time()))])))
write_keys(keys, {"mx1": SECRET, "mx2": SECRET[::-1]}, mode=0o640, gid=GID)
c.signal(signal.SIGHUP)
got = ""
deadline = time.time() + 20
while time.time() < deadline:
    got = exchange(signed_port, frame("mx2", SECRET[::-1], [(1, "black", "23.7.7.5",
                                                             int(time.time()))]))
    if got.startswith("ACK 1"):
        break
    time.sleep(0.1)
check("keys readable by nobody's group (root:nogroup 0640): reread on SIGHUP",
      got.startswith("ACK 1"),
      f"(last answer {got!r})")
check("nobody is still who it runs as", status_ids(c.proc.pid).get("Uid") == [str(UID)] * 4)
expect("SIGTERM stops it cleanly", 0, c.stop(timeout=20))

# Errors: each one line, nonzero exit, before anything is served.
base = [COLLECT, "--plain", f"127.0.0.1:{free_port()}"]
bad_root = tempdir()
run_fail("unknown user", base + ["--state", f"{bad_root}/s", "--rbldnsd-dir", f"{bad_root}/r",
                                 "--user", "no-such-user-exigrey"],
         "--user no-such-user-exigrey: no such user")
check("an unknown user touches nothing", not os.path.exists(f"{bad_root}/s"))
run_fail("unknown group", base + ["--state", f"{bad_root}/s", "--rbldnsd-dir", f"{bad_root}/r",
                                  "--user", "nobody", "--group", "no-such-group-exigrey"],
         "--group no-such-group-exigrey: no such group")
run_fail("a malformed user name", base + ["--state", f"{bad_root}/s", "--rbldnsd-dir",
                                          f"{bad_root}/r", "--user", "a b"], "--user")
run_fail("--user root", base + ["--state", f"{bad_root}/s", "--rbldnsd-dir", f"{bad_root}/r",
                                "--user", "root"], "that is root")
run_fail("--group without --user", base + ["--state", f"{bad_root}/s", "--rbldnsd-dir",
                                           f"{bad_root}/r", "--group", "nogroup"],
         "group needs user")

# Directories nobody cannot write: named in the error.
root_rbl = os.path.join(bad_root, "root-rbl")
os.makedirs(root_rbl)  # root:root 0755
run_fail("an rbldnsd directory nobody cannot write",
         base + ["--state", f"{bad_root}/s2", "--rbldnsd-dir", root_rbl, "--user", "nobody"],
         f"rbldnsd directory {root_rbl} is not writable by user nobody")
root_state = os.path.join(bad_root, "root-state")
os.makedirs(root_state)
run_fail("a state directory nobody cannot write",
         base + ["--state", root_state, "--rbldnsd-dir", rbl, "--user", "nobody"],
         f"state directory {root_state} is not writable by user nobody")
# A store left by a run as root (without --user): the file is named.
root_run = Collector(COLLECT, bad_root, state=root_state, rbldnsd_dir=os.path.join(bad_root, "r2"))
root_run.start()
root_run.stop(timeout=20)
os.chown(root_state, UID, GID)
check("the root run left a root-owned store",
      os.stat(os.path.join(root_state, "reputation")).st_uid == 0)
run_fail("a store file left by root",
         base + ["--state", root_state, "--rbldnsd-dir", rbl, "--user", "nobody"],
         f"store file {root_state}/reputation is not writable by user nobody")
hidden = tempfile.mkdtemp()  # 0700 root: nobody cannot even reach what is inside
run_fail("a state directory nobody cannot reach",
         base + ["--state", f"{hidden}/state", "--rbldnsd-dir", rbl, "--user", "nobody"],
         f"state directory {hidden}/state is not reachable by user nobody")
shutil.rmtree(hidden)

# Without root: --user another user is an error; --user oneself is a no-op.
def as_nobody():
    os.setgroups([])
    os.setgid(GID)
    os.setuid(UID)


run_fail("--user daemon when not root", base + ["--state", f"{bad_root}/s3", "--rbldnsd-dir", rbl,
                                                "--user", "daemon"],
         "only root can switch users", preexec=as_nobody)
own = os.path.join(bad_root, "own")
os.makedirs(own)
os.chown(own, UID, GID)
os.chown(bad_root, UID, GID)
p = subprocess.Popen(base[:2] + [f"127.0.0.1:{free_port()}", "--state", f"{own}/state",
                                 "--rbldnsd-dir", own, "--user", "nobody"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=as_nobody)
deadline = time.time() + 20
while time.time() < deadline and not os.path.exists(f"{own}/black.ip4") and p.poll() is None:
    time.sleep(0.05)
check("--user nobody started as nobody: runs (nothing to switch)",
      p.poll() is None and os.path.exists(f"{own}/black.ip4"))
p.terminate()
out = p.communicate(timeout=20)[0].decode(errors="replace")
check("and says nothing about switching", "running as user" not in out, out[-300:])
finish()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Disk full under the outbox, through a real Exim.

The store directory is a small tmpfs. Exim's ACL calls `report` for every
recipient. Then the rest of the tmpfs is filled: every recipient is still
accepted (a report never blocks mail), each report that cannot be queued
answers `no` and Exim's log says why, and the reports queued before stay
intact. Once space is freed, new reports go in again, and exigrey-forward
delivers every queued report to the collector exactly once.

argv: COLLECT FORWARD OUTBOX_FILL PLUGIN EXIGREY (as tests/forward)."""

import atexit
import errno
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "forward"))
from forwardlib import *  # noqa: E402,F401,F403

if os.geteuid() != 0:
    skip_or_fail("needs root (exim -C, mount -t tmpfs)")

root = tempdir()
keys = write_keys(root, {"mx1": SECRET})


def small_tmpfs(grey):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0750", "tmpfs", grey],
                       capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    atexit.register(lambda: subprocess.run(["umount", "-l", grey]))  # runs before the rmtree


conf, env, grey = exim_with_plugin(root, """\
  warn  set acl_m_r = ${dlfunc{@PLUGIN@}{report}{black}{$local_part}{disk full test}}
        logwrite = report $local_part: $acl_m_r
  accept""", prepare_grey=small_tmpfs)


def session(subjects):
    """One SMTP session (exim -bh), one RCPT per subject; returns (replies, answers)."""
    smtp = "HELO c.test\r\nMAIL FROM:<a@b.test>\r\n"
    smtp += "".join(f"RCPT TO:<{s}@d.test>\r\n" for s in subjects) + "QUIT\r\n"
    r = subprocess.run(["/usr/sbin/exim4", "-C", conf, "-bh", "23.45.67.89"], input=smtp,
                       capture_output=True, text=True, timeout=120, env=env)
    out = r.stdout + r.stderr
    replies = re.findall(r"^(\d{3}) Accepted", r.stdout, re.M)
    answers = dict(re.findall(r"report (\S+): (yes|no)", out))
    return out, len(replies), answers


def subjects(third, n):
    return [f"23.45.{third}.{i}" for i in range(1, n + 1)]


# 1. Reports go in.
out, accepted, answers = session(subjects(1, 50))
expect("before: every recipient accepted", 50, accepted)
expect("before: every report queued", ["yes"] * 50, list(answers.values()))
expect("before: 50 pending", 50, pending(grey))

# 2. The disk is full.
filler = os.path.join(grey, "filler")
with open(filler, "wb", buffering=0) as f:
    try:
        while True:
            f.write(b"\0" * 4096)
    except OSError as e:
        check("the tmpfs is full", e.errno == errno.ENOSPC, str(e))
out, accepted, answers = session(subjects(2, 300))
expect("full: every recipient still accepted", 300, accepted)
expect("full: every report answered", 300, len(answers))
queued_full = sum(1 for a in answers.values() if a == "yes")
refused = [s for s, a in answers.items() if a == "no"]
log(f"with the disk full: {queued_full} queued (free pages inside the file), {len(refused)} refused")
check("full: reports that need more disk are refused", len(refused) > 0)
check("full: the log says why, naming the outbox",
      re.search(r"exigrey: no space left on the device of store " +
                re.escape(os.path.join(grey, "outbox")) +
                r" \(report not queued; answered no\)", out) is not None, out[-600:])
lines = [l for l in out.splitlines() if "report not queued" in l]
expect("full: one log line per refused report", len(refused), len(lines))
if lines:
    log(f"for example: {lines[0][-200:]}")
expect("full: the reports queued before are intact", 50 + queued_full, pending(grey))
r = subprocess.run([EXIGREY, "--dir", grey, "outbox"], capture_output=True, text=True)
expect("full: exigrey outbox reads it", 0, r.returncode)

# 3. Space again.
os.unlink(filler)
out, accepted, answers = session(subjects(3, 50))
expect("after: every recipient accepted", 50, accepted)
expect("after: every report queued", ["yes"] * 50, list(answers.values()))
total = 50 + queued_full + 50
expect("after: all pending", total, pending(grey))

# 4. The forwarder delivers every queued report, once.
c = SignedCollector(root, keys).start()
r = run_once(forwarder(root, grey, [c], "--batch-size", "100"))
expect("forwarder --once exits 0", 0, r.returncode)
expect("outbox drained", 0, pending(grey))
expect("the collector counted every queued report once", float(total),
       c.wait_metric('exigrey_collect_stored_reports{verb="black"}', float(total)))
panic = os.path.join(root, "log", "paniclog")
check("Exim's panic log is empty", not os.path.exists(panic) or os.path.getsize(panic) == 0)
finish()

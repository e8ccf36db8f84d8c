#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing lost, nothing counted twice, over 10,000 reports:
  A. the collector is down while the forwarder runs, then starts;
  B. the forwarder is SIGKILLed with a batch in flight and restarted;
  C. the collector dies right after committing a batch, before its ACK
     (fault injected deterministically), and is restarted.
The collector's persistent report count must equal exactly what was queued,
and the outbox must end empty."""

import os
import signal
import time

from forwardlib import *

root = tempdir()
keys = write_keys(root, {"mx1": SECRET})
grey = os.path.join(root, "grey")
os.makedirs(grey)
state, zones = os.path.join(root, "state"), os.path.join(root, "zones")
signed_port = free_port()


def collector(**env):
    c = SignedCollector(root, keys, state=state, rbldnsd_dir=zones, signed_port=signed_port)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        c.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return c


def wait_until(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return check(what, False, "(timed out)")


def drained():
    return pending(grey) == 0


# A: collector down, then up.
fill(grey, 4000, 0)
fwd = spawn(forwarder(root, grey, [SignedCollector(root, keys, signed_port=signed_port)],
                      "--batch-size", "200"), os.path.join(root, "forward-a.log"))
time.sleep(2.0)
expect("A: with the collector down nothing leaves the outbox", 4000, pending(grey))
check("A: the forwarder keeps running", fwd.poll() is None)
c = collector()
wait_until("A: outbox drained", drained)
expect("A: every report counted once", 4000.0, c.stored_black())

# B: forwarder SIGKILLed with a batch in flight. The collector is frozen
# (SIGSTOP) so the batch sits unanswered; it is committed after the
# forwarder is gone, and the restarted forwarder's resend must count once.
fwd.send_signal(signal.SIGKILL)
fwd.wait()
fill(grey, 3000, 4000)
c.signal(signal.SIGSTOP)
fwd = spawn(forwarder(root, grey, [c], "--batch-size", "50"), os.path.join(root, "forward-b.log"))
time.sleep(2.0)  # ample time to connect and send the first batch, even on a loaded machine
fwd.send_signal(signal.SIGKILL)
fwd.wait()
c.signal(signal.SIGCONT)
wait_until("B: the batch in flight is committed", lambda: c.stored_black() >= 4050)
expect("B: nothing left the outbox without an ACK", 3000, pending(grey))
r = run_once(forwarder(root, grey, [c], "--batch-size", "50"))
expect("B: the restarted forwarder drains (exit 0)", 0, r.returncode)
expect("B: outbox empty", 0, pending(grey))
expect("B: every report counted once", 7000.0, c.stored_black())

# C: the collector dies between commit and ACK.
c.stop()
crashing = collector(EXIGREY_TEST_CRASH_AFTER_SIGNED_COMMITS="3")
fill(grey, 3000, 7000)
fwd = spawn(forwarder(root, grey, [crashing], "--batch-size", "100"),
            os.path.join(root, "forward-c.log"))
try:
    rc = crashing.proc.wait(timeout=30)
except Exception:
    rc = None
expect("C: the collector died after its third durable commit", 137, rc)
expect("C: the batch it committed but never acknowledged is still pending", 2800, pending(grey))
c = collector()
wait_until("C: outbox drained", drained)
expect("C: every report counted once: 10,000 in all", 10000.0, c.stored_black())
check("C: the resent batch was recognised as a duplicate",
      c.metric('exigrey_collect_batches_total{result="dup"}') >= 1.0)
fwd.send_signal(signal.SIGTERM)
expect("the forwarder stops cleanly on SIGTERM", 0, fwd.wait(timeout=15))
wait_until("all 10,000 listed", lambda: c.metric(
    'exigrey_collect_listed{list="black",file="ip4"}') >= 10000, timeout=10)
expect("all 10,000 listed", 10000.0, c.metric('exigrey_collect_listed{list="black",file="ip4"}'))
finish()

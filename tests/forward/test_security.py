#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Forged and replayed batches: a wrong key, a tampered byte, a replayed
batch, an unknown reporter and a too-old batch are each refused (or, for the
replay, acknowledged as a duplicate and not counted), logged, counted in the
metrics, and the listing does not change."""

import os
import signal
import subprocess
import time

from forwardlib import *

root = tempdir()
keys = write_keys(root, {"mx1": SECRET, "mx2": SECRET[::-1]})
c = SignedCollector(root, keys).start()
dns = Rbldnsd(root, c.rbldnsd_dir)
now = int(time.time())

good = frame("mx1", SECRET, [(1, "black", "23.1.1.1", now), (2, "black", "23.1.1.2", now)])
expect("a good batch is acknowledged", "ACK 2", exchange(c.signed_port, good))
check("and listed", dns.wait_for("23.1.1.1", "127.0.0.2") is not None)
base = c.stored_black()
expect("two reports counted", 2.0, base)

cases = [
    ("wrong key", frame("mx1", "x" * 40, [(3, "black", "23.1.1.3", now)]), "NAK 3 bad-mac",
     "bad-mac"),
    ("tampered byte", frame("mx1", SECRET, [(3, "black", "23.1.1.3", now)], tamper=0),
     "NAK 3 bad-mac", "bad-mac"),
    ("unknown reporter", frame("mx9", SECRET, [(3, "black", "23.1.1.3", now)]),
     "NAK 3 unknown-reporter", "unknown-reporter"),
    ("too-old batch", frame("mx1", SECRET, [(3, "black", "23.1.1.3", now)], sent=now - 2 * 86400),
     "NAK 3 too-old", "too-old"),
    ("batch from the future", frame("mx1", SECRET, [(3, "black", "23.1.1.3", now)],
                                    sent=now + 3600), "NAK 3 too-new", "too-new"),
    ("garbage header", b"EXIGREY/1 BATCH mx1 x 1 1 1\n", "NAK 0 malformed", "malformed"),
    # The listener stops reading at kMaxProtocolLine: no newline, no memory.
    # It closes with bytes unread, so the kernel may reset the connection
    # before the client reads the answer: "reset" is that, not a pass.
    ("a header line of 100 KB", b"EXIGREY/1 BATCH " + b"x" * 100_000,
     ("NAK 0 malformed", "reset"), "malformed"),
    ("a MAC line of 100 KB", frame("mx1", SECRET, [(3, "black", "23.1.1.3", now)])[:-1] +
     b"0" * 100_000 + b"\n", ("NAK 3 malformed", "reset"), "malformed"),
]


def exchange_or_reset(port, data):
    try:
        return exchange(port, data)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"


for what, data, want, reason in cases:
    series = f'exigrey_collect_batches_refused_total{{reason="{reason}"}}'
    before = c.metric(series)
    got = exchange_or_reset(c.signed_port, data)
    if isinstance(want, tuple):
        check(f"{what}: refused", got in want, f"(got {got!r})")
    else:
        expect(f"{what}: refused", want, got)
    expect(f"{what}: counted once", before + 1.0, c.metric(series))
    check(f"{what}: logged", f": {reason} (" in c.log())

expect("a replayed batch is acknowledged as a duplicate", "ACK 2 dup",
       exchange(c.signed_port, good))
expect("and counted as one", 1.0, c.metric('exigrey_collect_batches_total{result="dup"}'))
# Another reporter's key cannot speak for mx1.
expect("mx2's key for mx1 is refused", "NAK 4 bad-mac",
       exchange(c.signed_port, frame("mx1", SECRET[::-1], [(4, "black", "23.1.1.4", now)])))
time.sleep(1.5)  # give a wrongly accepted report time to reach the zone
expect("nothing else was counted", base, c.stored_black())
for ip in ("23.1.1.3", "23.1.1.4"):
    expect(f"{ip} is not listed", "NXDOMAIN", dns.a(ip))
check("the good listing is still there", dns.a("23.1.1.1") == "127.0.0.2")
check("no secret in the log", SECRET not in c.log() and SECRET[::-1] not in c.log())

# SIGHUP rereads the keys file: a new reporter is accepted without a restart,
# and a keys file others may read is refused on reload (the old keys stay).
new_secret = "n" * 40
write_keys(root, {"mx1": SECRET, "mx2": SECRET[::-1], "mx3": new_secret})
expect("before the reload mx3 is unknown", "NAK 1 unknown-reporter",
       exchange(c.signed_port, frame("mx3", new_secret, [(1, "black", "23.1.1.5", now)])))
c.signal(signal.SIGHUP)
ok = False
for _ in range(50):
    time.sleep(0.1)
    if exchange(c.signed_port, frame("mx3", new_secret, [(1, "black", "23.1.1.5", now)])) in (
            "ACK 1", "ACK 1 dup"):
        ok = True
        break
check("after SIGHUP mx3's batch is acknowledged", ok)
os.chmod(keys, 0o644)
c.signal(signal.SIGHUP)
time.sleep(0.5)
check("a world-readable keys file is refused on reload", "keeping the old keys" in c.log())
expect("and the old keys still work", "ACK 2",
       exchange(c.signed_port, frame("mx3", new_secret, [(2, "black", "23.1.1.6", now)])))

# The forwarder's own secret file: refused at start with one line, exit 2,
# when others may read it, when it is not a file, or when the secret is short.
fdir = os.path.join(root, "fwd")
os.makedirs(fdir)
bad = {
    "readable by others": (lambda p: (open(p, "w").write(SECRET + "\n"), os.chmod(p, 0o644)),
                           "is readable or writable by others"),
    "a directory": (lambda p: os.makedirs(p), "is not a regular file"),
    "too short": (lambda p: (open(p, "w").write("short\n"), os.chmod(p, 0o600)), "--secret-file"),
}
for what, (make, want) in bad.items():
    path = os.path.join(root, "secret-" + what.replace(" ", "-"))
    make(path)
    r = subprocess.run(forwarder(root, fdir, [c], secret_file=path) + ["--once", "--log", "stderr"],
                       capture_output=True, text=True, timeout=30)
    expect(f"secret file {what}: exit 2", 2, r.returncode)
    check(f"secret file {what}: one line naming it", want in r.stderr and path in r.stderr and
          len(r.stderr.strip().splitlines()) == 1, f"({r.stderr.strip()!r})")
finish()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""exigrey-forward's peer listener (docs/multi-mx.md) against hostile and
mistaken peers. One forwarder, mx1, with a store and a peers file of three
hosts: mx2 may send items and whitelist entries, mx3 only items. Raw frames
from this script play the peers.

  - a good batch is merged (the join: the earliest creation, the latest use)
    and acknowledged; replayed, it is acknowledged as a duplicate and
    changes nothing;
  - forged (another host's key), tampered, from an unknown host or from mx1
    itself, malformed (header, body, lines over the limit), too old, from
    the future, a whitelist entry from mx3 (scope), over the rate: each
    refused with its reason, logged, counted, and the store is unchanged;
  - the listener survives all of it and still merges a good batch.
"""

import os
import subprocess
import time

from forwardlib import *

root = tempdir()
grey = os.path.join(root, "grey")
os.makedirs(grey)
SECRETS = {"mx1": "1" * 64, "mx2": "2" * 64, "mx3": "3" * 64}
peer_port = free_port()
peers = os.path.join(root, "peers")
with open(peers, "w") as f:
    f.write("# the site's MX hosts\n")
    f.write(f"mx1 127.0.0.1:{peer_port} {SECRETS['mx1']}\n")
    f.write(f"mx2 127.0.0.1:{free_port()} {SECRETS['mx2']} scope=items,whitelist\n")
    f.write(f"mx3 127.0.0.1:{free_port()} {SECRETS['mx3']} scope=items\n")
os.chmod(peers, 0o600)
conf = os.path.join(root, "exigrey.conf")
with open(conf, "w") as f:
    f.write(f"directory = {grey}\npeers = {peers}\n")
metrics_port = free_port()
log_path = os.path.join(root, "forward.log")
fwd = spawn([FORWARD, "--config", conf, "--name", "mx1", "--peer-rate", "100", "--log", "stderr",
             "--metrics", f"127.0.0.1:{metrics_port}"], log_path)
wait_port(peer_port)


def metric(key):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(key + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def grey_frame(sender, secret, records, db="seen", sent=None, tamper=None, seq=None):
    """records: (id, dump line without newline)."""
    body = "".join(f"{i} {line}\n" for i, line in records).encode()
    header = (f"EXIGREY/1 GREY {sender} {db} {seq or records[-1][0]} {int(sent or time.time())} "
              f"{len(records)} {len(body)}\n").encode()
    return signed(header, body, secret, tamper)


def dump():
    r = subprocess.run([EXIGREY, "--config", conf, "--dir", grey, "dump"], capture_output=True,
                       text=True, timeout=30)
    return r.stdout if r.returncode == 0 else f"dump failed: {r.stderr}"


def send(data):
    try:
        return exchange(peer_port, data)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"  # closed with bytes unread (a line over the limit)


now = int(time.time())
t_early, t_late = now - 600, now - 10
good = grey_frame("mx2", SECRETS["mx2"], [
    (101, f"item <a@x.test>:<r@y.test> {t_late} {t_late} 0 a.test"),
    (102, f"white b.test {t_early} {t_late}"),
])
expect("a good batch from mx2 is acknowledged", "ACK 102", send(good))
store = dump()
check("its item is merged", f"item <a@x.test>:<r@y.test> {t_late} {t_late} 0 a.test" in store,
      store)
check("its whitelist entry is merged", f"white b.test {t_early} {t_late}" in store, store)

# The join: an older creation and a newer use of the same item, from mx3.
expect("mx3's state of the same item is acknowledged", "ACK 7", send(grey_frame("mx3", SECRETS["mx3"], [
    (7, f"item <a@x.test>:<r@y.test> {t_early} {t_early} 0 a.test")])))
store = dump()
check("the item keeps the earliest creation and the latest use",
      f"item <a@x.test>:<r@y.test> {t_early} {t_late} 0 a.test" in store, store)

expect("the replayed batch is a duplicate", "ACK 102 dup", send(good))
expect("and counted as one", 1.0,
       metric('exigrey_forward_peer_batches_received_total{peer="mx2",result="dup"}'))

before = dump()
evil = [(200, "white evil.test 1 1")]
long_header = b"EXIGREY/1 GREY mx2 seen " + b"9" * 100_000
cases = [
    ("signed with mx3's key as mx2", grey_frame("mx2", SECRETS["mx3"], evil), "NAK 200 bad-mac",
     "bad-mac"),
    ("a tampered byte", grey_frame("mx2", SECRETS["mx2"], evil, tamper=3), "NAK 200 bad-mac",
     "bad-mac"),
    ("an unknown host", grey_frame("mx9", SECRETS["mx2"], evil), "NAK 200 unknown-peer",
     "unknown-peer"),
    ("this host's own name", grey_frame("mx1", SECRETS["mx1"], evil), "NAK 200 unknown-peer",
     "unknown-peer"),
    ("a garbage header", b"EXIGREY/1 GREY mx2 seen x 1 1 1\n", "NAK 0 malformed", "malformed"),
    ("a path as the DB", grey_frame("mx2", SECRETS["mx2"], evil, db="../etc"), "NAK 0 malformed",
     "malformed"),
    ("a record that is not a dump line", grey_frame("mx2", SECRETS["mx2"], [(200, "rm -rf /")]),
     "NAK 200 malformed", "malformed"),
    ("a seq that is not the last id", grey_frame("mx2", SECRETS["mx2"], evil, seq=300),
     "NAK 300 malformed", "malformed"),
    ("a header line of 100 KB", long_header, ("NAK 0 malformed", "reset"), "malformed"),
    ("a batch sent two days ago", grey_frame("mx2", SECRETS["mx2"], evil, sent=now - 2 * 86400),
     "NAK 200 too-old", "too-old"),
    ("a batch from the future", grey_frame("mx2", SECRETS["mx2"], evil, sent=now + 3600),
     "NAK 200 too-new", "too-new"),
    ("a whitelist entry from mx3 (scope=items)", grey_frame("mx3", SECRETS["mx3"], [
        (8, f"item <c@x.test>:<r@y.test> {now} {now} 0 c.test"), (9, "white evil.test 1 1")]),
     "NAK 9 scope", "scope"),
    ("150 records at --peer-rate 100", grey_frame("mx2", SECRETS["mx2"], [
        (300 + i, f"item <n{i}@x.test>:<r@y.test> {now} {now} 0 n.test") for i in range(150)]),
     "NAK 449 busy", "busy"),
]
for what, data, want, reason in cases:
    series = f'exigrey_forward_peer_batches_refused_total{{reason="{reason}"}}'
    count = metric(series)
    got = send(data)
    if isinstance(want, tuple):
        check(f"{what}: refused", got in want, f"(got {got!r})")
    else:
        expect(f"{what}: refused", want, got)
    expect(f"{what}: counted", count + 1, metric(series))
    with open(log_path) as f:
        # busy is flow control: one line a minute per sender, with a count.
        needle = "answered busy" if reason == "busy" else f": {reason} ("
        check(f"{what}: logged with its reason", needle in f.read())
expect("nothing refused changed the store", before, dump())
with open(log_path) as f:
    text = f.read()
check("no secret in the log", not any(s in text for s in SECRETS.values()))

# The bucket refills: a second later 50 records are taken.
time.sleep(1.1)
expect("after the refusals a good batch is still merged", "ACK 549", send(grey_frame(
    "mx2", SECRETS["mx2"],
    [(500 + i, f"item <m{i}@x.test>:<r@y.test> {now} {now} 0 m.test") for i in range(50)])))
check("the forwarder is alive", fwd.poll() is None)
finish()

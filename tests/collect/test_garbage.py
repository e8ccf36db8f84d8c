#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile and broken clients against exigrey-collect's plain listener:
random bytes, a 1 MB line, CRLF, NUL bytes, half lines at disconnect, bad
verbs, a bad-line flood, a source outside the allow-list, a source over its
rate, and 1,000 idle connections. Throughout, a good reporter keeps being
served; every rejection is counted exactly; the collector's memory stays
bounded (RSS from /proc).

Usage: test_garbage.py PATH/TO/exigrey-collect
"""

import os
import random
import socket
import sys
import time

from collectlib import (Collector, check, expect, finish, log, raise_fd_limit, rss_bytes,
                        tempdir)

binary = os.path.abspath(sys.argv[1])
sanitized = os.environ.get("EXIGREY_SANITIZE") in ("1", "ON", "TRUE", "true")
raise_fd_limit()
root = tempdir()
c = Collector(binary, root, "--min-reporters", "1", "--allow", "127.0.0.0/30",
              "--idle-timeout", "3s", "--max-connections", "200", "--max-bad-lines", "100",
              "--source-rate", "50", "--source-burst", "100").start()
pid = c.proc.pid
R = "exigrey_collect_lines_rejected_total"
good = 0


def rejected():
    m = c.metrics()
    return {k[len(R) + len('{reason="'):-2]: v for k, v in m.items() if k.startswith(R)}


def delta(before, after):
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def good_report(subject, source="127.0.0.1"):
    """A well-behaved reporter: its report must be accepted at once."""
    global good
    c.send(f"black {subject}\n", source=source)
    good += 1
    return c.wait_metric('exigrey_collect_reports_total{verb="black"}', good, timeout=5) == good


def closed(reason):
    return c.metric(f'exigrey_collect_connections_closed_total{{reason="{reason}"}}')


check("a good report before the garbage", good_report("11.22.33.1"))
rss_start = rss_bytes(pid)

# Random bytes: 1 MiB of them, in one connection.
r0, abusive0 = rejected(), closed("abusive")
c.send(random.Random(5782).randbytes(1 << 20))
check("random bytes: the connection is closed as abusive",
      c.wait_metric('exigrey_collect_connections_closed_total{reason="abusive"}',
                    abusive0 + 1) == abusive0 + 1)
d = delta(r0, rejected())
check("random bytes: rejected lines counted", sum(d.values()) >= 1, d)
check("a good report after random bytes", good_report("11.22.33.2"))

# A 1 MB line: never buffered, closed once it is plainly not the protocol.
r0, abusive0 = rejected(), closed("abusive")
c.send(b"black " + b"9" * (1 << 20) + b"\nblack 11.22.33.3\n")
check("1 MB line: closed as abusive",
      c.wait_metric('exigrey_collect_connections_closed_total{reason="abusive"}',
                    abusive0 + 1) == abusive0 + 1)
expect("1 MB line: counted once as too_long", {"too_long": 1.0}, delta(r0, rejected()))
check("a good report after the 1 MB line", good_report("11.22.33.4"))

# Recoverable garbage on one connection: the connection stays usable.
r0, accepted0 = rejected(), good
c.send(b"black 11.22.33.5\r\n"            # CRLF: fine
       b"black 11.22.33.6\x00\n"           # NUL
       b"black 11.22.33.7\x1b[2J\n"        # control bytes
       b"grey 11.22.33.8\n"                # bad verb
       b"black 11.22.33.999\n"             # bad subject
       b"black\n"                          # syntax
       b"\n   \n"                          # blank lines: ignored
       b"black " + b"1" * 1000 + b"\n"     # too long (1 KB)
       b"white 2a00:1450:4001::55\n"       # fine, after all that
       b"black 11.22.33.9")                # half a line at disconnect
good += 1
white = c.wait_metric('exigrey_collect_reports_total{verb="white"}', 1)
expect("mixed garbage: the good lines on the same connection are accepted", 1.0, white)
check("mixed garbage: CRLF line accepted",
      c.wait_metric('exigrey_collect_reports_total{verb="black"}', good) == good)
time.sleep(0.2)
expect("mixed garbage: each bad line counted by reason",
       {"nul": 1.0, "control": 1.0, "bad_verb": 1.0, "bad_subject": 1.0, "syntax": 1.0,
        "too_long": 1.0, "partial": 1.0}, delta(r0, rejected()))
dump = c.dump()
check("the half line was not taken as a report", "11.22.33.9 " not in dump, dump)
check("the CRLF report was", "11.22.33.5 black=1" in dump, dump)

# A flood of bad lines: closed after max_bad_lines, the rest never read.
r0, abusive0 = rejected(), closed("abusive")
c.send(b"grey 1.2.3.4\n" * 300 + b"black 11.22.33.10\n")
check("bad-line flood: closed as abusive",
      c.wait_metric('exigrey_collect_connections_closed_total{reason="abusive"}',
                    abusive0 + 1) == abusive0 + 1)
expect("bad-line flood: exactly max_bad_lines + 1 counted", {"bad_verb": 101.0},
       delta(r0, rejected()))
check("a good report after the flood", good_report("11.22.33.11"))

# A source outside the allow-list (127.0.0.0/30 here): refused, nothing read.
denied0 = c.metric("exigrey_collect_connections_denied_total")
c.send("black 11.22.33.12\n", source="127.0.0.9")
check("a source outside the allow-list is refused",
      c.wait_metric("exigrey_collect_connections_denied_total", denied0 + 1) == denied0 + 1)

# A source over its rate: 300 reports at once with a bucket of 100 at 50/s.
black0 = c.metric('exigrey_collect_reports_total{verb="black"}')
r0 = rejected()
c.send("".join(f"black 11.23.{i // 200}.{i % 200}\n" for i in range(300)), source="127.0.0.3")
time.sleep(0.3)
took = c.metric('exigrey_collect_reports_total{verb="black"}') - black0
limited = delta(r0, rejected()).get("rate_limited", 0)
check("rate limit: about the burst is accepted", 100 <= took <= 110, f"(accepted {took})")
expect("rate limit: the rest is counted", 300 - took, limited)
good += int(took)
check("another source is not limited by it", good_report("11.22.33.13", source="127.0.0.2"))

# 1,000 idle connections against max_connections 200: the longest idle are
# evicted, a good reporter still gets through, idle ones time out.
accepted0 = c.metric("exigrey_collect_connections_accepted_total")
evicted0, idle0 = closed("evicted"), closed("idle")
socks = []
for _ in range(1000):
    s = socket.socket()
    s.connect(("127.0.0.1", c.port))
    socks.append(s)
check("1,000 idle connections accepted",
      c.wait_metric("exigrey_collect_connections_accepted_total", accepted0 + 1000) ==
      accepted0 + 1000)
expect("at most max_connections stay open", 200.0, c.metric("exigrey_collect_connections_open"))
expect("the longest idle were evicted", 800.0, closed("evicted") - evicted0)
rss_idle = rss_bytes(pid)
t = time.time()
check("a good reporter is served amid 1,000 idle connections", good_report("11.22.33.14"))
log(f"good report amid idle connections took {time.time() - t:.3f} s")
check("idle connections time out",
      c.wait_metric('exigrey_collect_connections_closed_total{reason="idle"}', idle0 + 199,
                    timeout=8) == idle0 + 199)
expect("no connection left open", 0.0, c.metric("exigrey_collect_connections_open"))
for s in socks:
    s.close()

check("a good report at the end", good_report("11.22.33.15"))
rss_end = rss_bytes(pid)
limit = (128 if sanitized else 32) << 20
log(f"RSS: {rss_start >> 10} KiB at start, {rss_idle >> 10} KiB with idle connections, "
    f"{rss_end >> 10} KiB at the end (bound: +{limit >> 20} MiB)")
check("memory stays bounded", rss_end - rss_start < limit and rss_idle - rss_start < limit)
expect("the collector is still running", None, c.proc.poll())
expect("SIGTERM stops cleanly", 0, c.stop())
finish()

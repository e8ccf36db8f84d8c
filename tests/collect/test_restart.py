#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""State survives SIGKILL: a collector killed with -9 in the middle of its
work and restarted on the same state directory publishes the same listings
and reports the same counts; rbldnsd keeps answering throughout.

Usage: test_restart.py PATH/TO/exigrey-collect
"""

import os
import re
import socket
import sys
import time

from collectlib import Collector, Rbldnsd, check, expect, finish, log, tempdir

binary = os.path.abspath(sys.argv[1])
root = tempdir()
flags = ["--min-reporters", "2", "--source-rate", "0"]
c = Collector(binary, root, *flags).start()
dns = Rbldnsd(root, c.rbldnsd_dir)

# 600 subjects from two reporters (listed) and 100 from one (not listed),
# streamed over persistent connections.
N, SINGLE = 600, 100
subjects = [f"11.{40 + i // 250}.{i % 250}.7" for i in range(N + SINGLE)]
for src, subset in (("127.0.0.1", subjects), ("127.0.0.2", subjects[:N])):
    c.send("".join(f"black {s}\n" for s in subset) + "white 8.8.4.4\n", source=src)
total_black = 2 * N + SINGLE
check("every report committed",
      c.wait_metric('exigrey_collect_reports_total{verb="black"}', total_black) == total_black)
check("white reports committed",
      c.wait_metric('exigrey_collect_reports_total{verb="white"}', 2) == 2)
check("the last subject is listed", dns.wait_for(subjects[N - 1], "127.0.0.2") is not None)
time.sleep(0.6)  # let any pending publish finish before comparing


def content(collector, name):
    """A published file without the padding line a same-second rewrite may get."""
    return re.sub(r"\n#\.*\n$", "\n", collector.file(name))


before_files = {f: content(c, f) for f in ("black.ip4", "white.ip4")}
before_dump = c.dump()
expect("600 black listings published", N, before_files["black.ip4"].count(" reported by 2 "))

# Kill it while a reporter is mid-stream and others hold connections open.
s = socket.socket()
s.connect(("127.0.0.1", c.port))
s.sendall(b"black 11.99.0.1\nblack 11.99.0")  # a half line in flight
idle = [socket.create_connection(("127.0.0.1", c.port)) for _ in range(20)]
time.sleep(0.2)
c.kill()
s.close()
for i in idle:
    i.close()
expect("rbldnsd still answers while the collector is down", "127.0.0.2", dns.a(subjects[0]))

c2 = Collector(binary, root, *flags, state=c.state, rbldnsd_dir=c.rbldnsd_dir, port=c.port)
c2.start()
time.sleep(0.6)
after_dump = c2.dump()
expected_dump = before_dump.replace("# subjects=701 black_reports=1300 ",
                                    "# subjects=702 black_reports=1301 ")
expect("the store has every subject and count, plus the line committed before the kill",
       expected_dump.splitlines()[-1], after_dump.splitlines()[-1])
check("per-subject counts intact",
      [l for l in before_dump.splitlines() if not l.startswith("#")] ==
      [l for l in after_dump.splitlines() if not l.startswith("#") and "11.99.0.1 " not in l],
      "")
expect("the same listings are published after the restart", before_files["black.ip4"],
       content(c2, "black.ip4"))
expect("white listings too", before_files["white.ip4"], content(c2, "white.ip4"))
m = c2.metrics()
expect("stored totals survive the restart", float(total_black + 1),
       m['exigrey_collect_stored_reports{verb="black"}'])
expect("subjects survive the restart", float(N + SINGLE + 2), m["exigrey_collect_subjects"])
expect("listed gauge after the restart", float(N), m['exigrey_collect_listed{list="black",file="ip4"}'])
expect("the last subject still answers", "127.0.0.2", dns.a(subjects[N - 1]))
expect("a single-reporter subject is still not listed", "NXDOMAIN", dns.a(subjects[-1]))

# And it goes on working: a second reporter lists the single-reporter subject.
c2.send(f"black {subjects[-1]}\n", source="127.0.0.2")
took = dns.wait_for(subjects[-1], "127.0.0.2", timeout=5)
check("new reports after the restart are listed within 2 s", took is not None and took <= 2.0,
      f"({took})")
expect("SIGTERM stops cleanly", 0, c2.stop())
finish()

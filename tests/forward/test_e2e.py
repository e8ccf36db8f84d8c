#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""End to end with the real parts: a real Exim runs an ACL that calls the
plugin's `report`, exigrey-forward delivers the outbox over the signed
protocol, exigrey-collect aggregates, and the real rbldnsd answers dig with
127.0.0.2 within 2 s of the forwarder starting. Also: two collectors each
get every report, and the outbox is emptied only when both acknowledged."""

import os
import subprocess
import time

from forwardlib import *

if os.geteuid() != 0:
    skip_or_fail("the real-Exim part needs root (exim -C)")

root = tempdir()
keys = write_keys(root, {"mx1": SECRET})
conf, env, grey = exim_with_plugin(root, """\
  warn  set acl_m_reported = ${dlfunc{@PLUGIN@}{report}{black}{$sender_host_address}{bot caught}}
  accept""")


def smtp_from(client):
    r = subprocess.run(["/usr/sbin/exim4", "-C", conf, "-bh", client],
                       input="HELO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nQUIT\r\n",
                       capture_output=True, text=True, timeout=30, env=env)
    return r.stdout + r.stderr


out = smtp_from("23.45.67.89")
check("Exim accepted the recipient", "250 Accepted" in out, out[-400:])
expect("the report is in the outbox", 1, pending(grey))

one = SignedCollector(os.path.join(root), keys).start()
other_root = os.path.join(root, "second")
os.makedirs(other_root)
two = SignedCollector(other_root, keys).start()
dns = Rbldnsd(root, one.rbldnsd_dir)
expect("not listed before delivery", "NXDOMAIN", dns.a("23.45.67.89"))

fwd = spawn(forwarder(root, grey, [one, two]), os.path.join(root, "forward.log"))
took = dns.wait_for("23.45.67.89", "127.0.0.2", timeout=2.0)
check("dig answers 127.0.0.2 within 2 s of the forwarder starting", took is not None,
      f"(forwarder log: {open(os.path.join(root, 'forward.log')).read()[-500:]})")
if took is not None:
    log(f"listed after {took:.2f} s")
txt = dns.txt("23.45.67.89")
check("with a TXT record", bool(txt), str(txt))
expect("the second collector got it too", 1.0, two.wait_metric(
    'exigrey_collect_stored_reports{verb="black"}', 1.0))

# With one collector down, the outbox keeps what it has not acknowledged.
two.stop()
out = smtp_from("23.45.67.90")
check("Exim accepted the second recipient", "250 Accepted" in out)
check("the first collector lists it", dns.wait_for("23.45.67.90", "127.0.0.2", timeout=3.0)
      is not None)
time.sleep(0.5)
expect("the outbox keeps it for the collector that is down", 1, pending(grey))
two.start()
deadline = time.time() + 10
while time.time() < deadline and pending(grey) != 0:
    time.sleep(0.1)
expect("once both acknowledged, the outbox is empty", 0, pending(grey))
expect("the second collector counted both", 2.0,
       two.metric('exigrey_collect_stored_reports{verb="black"}'))
fwd.terminate()
fwd.wait(timeout=15)
panic = os.path.join(root, "log", "paniclog")
check("Exim's panic log is empty", not os.path.exists(panic) or os.path.getsize(panic) == 0)
finish()

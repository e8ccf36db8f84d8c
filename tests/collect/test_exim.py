#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed's exact path: a real Exim (4.96, Debian) runs
  warn set acl_m0 = ${readsocket{inet:127.0.0.1:PORT}{black $sender_host_address\n}{3s}{}{}}
in its connect ACL (exim -bh, host-checking mode), and the client's address
becomes listed in the collector's rbldnsd zone. Exim does not wait for an
answer: the collector closes once Exim has sent its line. A documentation
address (192.0.2.77) is reported the same way and never listed.

Needs root (exim -C keeps privileges only for root): skipped otherwise,
outside CI.

Usage: test_exim.py PATH/TO/exigrey-collect
"""

import os
import pwd
import shutil
import subprocess
import sys
import time

from collectlib import (Collector, Rbldnsd, check, expect, finish, log, skip_or_fail, tempdir,
                        write_exim_conf)

EXIM = os.environ.get("EXIM", "/usr/sbin/exim4")
EXIM_USER = "Debian-exim"
binary = os.path.abspath(sys.argv[1])
if os.geteuid() != 0:
    skip_or_fail("real-Exim tests need root (exim -C)")
if not os.access(EXIM, os.X_OK):
    skip_or_fail(f"{EXIM} not installed (apt-get install exim4-daemon-heavy)")
try:
    exim_pw = pwd.getpwnam(EXIM_USER)
except KeyError:
    skip_or_fail(f"no user {EXIM_USER}")

root = tempdir()
for d in ("spool", "log"):
    os.mkdir(os.path.join(root, d))
    os.chown(os.path.join(root, d), exim_pw.pw_uid, exim_pw.pw_gid)
c = Collector(binary, root, "--min-reporters", "1").start()
dns = Rbldnsd(root, c.rbldnsd_dir)

conf = write_exim_conf(root, f"""\
acl_check_connect:
  warn set acl_m0 = ${{readsocket{{inet:127.0.0.1:{c.port}}}{{black $sender_host_address\\n}}{{3s}}{{}}{{}}}}
  accept

acl_check_rcpt:
  accept
""", rcpt=True)


def session(ip):
    """One SMTP session from `ip` in host-checking mode; returns (seconds, output)."""
    t = time.time()
    r = subprocess.run([EXIM, "-C", conf, "-bh", ip], input=b"HELO client.test\r\nQUIT\r\n",
                       capture_output=True, timeout=30)
    return time.time() - t, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


took, out = session("11.22.33.44")
check("Exim ran the readsocket in its connect ACL",
      '>>> using ACL "acl_check_connect"' in out and "${readsocket{inet:127.0.0.1:" in out
      and '>>> warn: condition test succeeded in ACL "acl_check_connect"' in out, out[-2000:])
check("and the SMTP session went on", "250 exigrey.test Hello client.test [11.22.33.44]" in out,
      out[-2000:])
check("Exim did not wait for the 3 s readsocket timeout", took < 2.5, f"(took {took:.2f} s)")
t = time.time()
check("the report reached the collector",
      c.wait_metric('exigrey_collect_reports_total{verb="black"}', 1) == 1)
answer = dns.wait_for("11.22.33.44", "127.0.0.2", timeout=5)
log(f"exim -bh took {took:.2f} s; DNS answer {answer} s after it")
check("the client's address is listed within 2 s of the session",
      answer is not None and time.time() - t <= 2.5, f"({answer})")
check("the TXT names one reporter",
      dns.txt("11.22.33.44") and "reported by 1 exigrey reporter since" in dns.txt("11.22.33.44")[0],
      dns.txt("11.22.33.44"))
dump = c.dump()
check("the store has it, from the loopback reporter", "11.22.33.44 black=1 white=0 votes=1" in dump,
      dump)

took, out = session("192.0.2.77")
check("a documentation address is reported and dropped at intake",
      c.wait_metric('exigrey_collect_reports_ignored_total{reason="reserved"}', 1) == 1)
time.sleep(1.2)
expect("and never listed", "NXDOMAIN", dns.a("192.0.2.77"))
m = c.metrics()
expect("no line rejected", 0.0, sum(v for k, v in m.items()
                                   if k.startswith("exigrey_collect_lines_rejected_total")))
expect("both Exim connections ended by Exim", 2.0,
       m['exigrey_collect_connections_closed_total{reason="eof"}'])
paniclog = os.path.join(root, "log", "paniclog")
check("Exim's panic log is empty",
      not os.path.exists(paniclog) or os.path.getsize(paniclog) == 0)
expect("SIGTERM stops cleanly", 0, c.stop())
finish()

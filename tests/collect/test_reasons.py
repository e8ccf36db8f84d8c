#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reasons in DNS answers, end to end: the collector runs with
  --answer virus=127.0.0.4 --answer trap=127.0.0.3 --txt TEMPLATE
and gets plain reports with notes ("black 11.22.33.4 virus Eicar"); rbldnsd
then answers each listing with the code of its first configured category
and the TXT template expanded (rbldnsd putting the queried address for `$`).
A real Exim (4.96, Debian) tests the answers in host-checking mode (-bh):
  dnslists = BL=127.0.0.3   exactly that answer
  dnslists = BL&0.0.0.4     every bit of the mask set in the answer
  dnslists = BL&0.0.0.3     both bits: 127.0.0.3 yes, 127.0.0.2 no (not "any bit")
  dnslists = BL             any answer
each in a warn statement whose log_message carries $dnslist_value and
$dnslist_text.

Exim's resolver takes no port: rbldnsd also listens on port 53 of a
loopback address of its own, and Exim runs in a private mount namespace
(unshare -m) whose /etc/resolv.conf names that address.

Needs root (exim -C keeps privileges only for root; port 53; mount):
skipped otherwise, outside CI.

Usage: test_reasons.py PATH/TO/exigrey-collect
"""

import os
import pwd
import random
import re
import shutil
import subprocess
import sys
import time

from collectlib import (Collector, Rbldnsd, check, expect, finish, log, skip_or_fail, tempdir,
                        write_exim_conf)

EXIM = os.environ.get("EXIM", "/usr/sbin/exim4")
EXIM_USER = "Debian-exim"
TEMPLATE = "{category}: $ see https://rbl.test/lookup?q=$"
binary = os.path.abspath(sys.argv[1])
if os.geteuid() != 0:
    skip_or_fail("real-Exim tests need root (exim -C, port 53, mount)")
if not os.access(EXIM, os.X_OK):
    skip_or_fail(f"{EXIM} not installed (apt-get install exim4-daemon-heavy)")
if not shutil.which("unshare") or subprocess.run(["unshare", "--mount", "true"]).returncode:
    skip_or_fail("unshare --mount does not work here (needs CAP_SYS_ADMIN)")
try:
    exim_pw = pwd.getpwnam(EXIM_USER)
except KeyError:
    skip_or_fail(f"no user {EXIM_USER}")

root = tempdir()
for d in ("spool", "log"):
    os.mkdir(os.path.join(root, d))
    os.chown(os.path.join(root, d), exim_pw.pw_uid, exim_pw.pw_gid)
c = Collector(binary, root, "--min-reporters", "1", "--answer", "virus=127.0.0.4",
              "--answer", "trap=127.0.0.3", "--txt", TEMPLATE).start()

# A loopback address nothing else uses, for rbldnsd's port 53.
exim_dns = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
os.environ["RBLDNSD_OPTS"] = f"-b {exim_dns}/53"
dns = Rbldnsd(root, c.rbldnsd_dir)
resolv = os.path.join(root, "resolv.conf")
with open(resolv, "w") as f:
    f.write(f"nameserver {exim_dns}\noptions timeout:2 attempts:2\n")

# address: (notes reported, A wanted, category in the TXT)
CASES = {
    "11.22.33.4": (["virus Eicar"], "127.0.0.4", "virus"),
    "11.22.33.3": (["trap"], "127.0.0.3", "trap"),
    "11.22.33.2": (["spam"], "127.0.0.2", "spam"),
    # Both configured categories: the first configured one wins, whatever
    # the order of the reports.
    "11.22.33.5": (["trap", "virus signature"], "127.0.0.4", "virus"),
    "11.22.33.6": ([""], "127.0.0.2", "listed"),
}
c.send("".join(f"black {ip} {note}".rstrip() + "\n"
               for ip, (notes, _, _) in CASES.items() for note in notes))
check("the collector took every report",
      c.wait_metric('exigrey_collect_reports_total{verb="black"}', 6) == 6)


def wait_a(subject, want, timeout=5.0):
    """The A answer for `subject` once it is `want`, or the last one seen."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = dns.a(subject)
        if got == want:
            break
        time.sleep(0.05)
    return got


for ip, (_, want, category) in CASES.items():
    expect(f"{ip} answers {want}", want, wait_a(ip, want))
    expect(f"{ip}: the TXT is the template, $ the queried address",
           [f'"{category}: {ip} see https://rbl.test/lookup?q={ip}"'], dns.txt(ip))
expect("an unreported address is not listed", "NXDOMAIN", dns.a("11.22.33.99"))
expect("the white list is untouched", "NXDOMAIN", dns.a("11.22.33.4", "wl.exigrey.test"))
expect("the test point still answers 127.0.0.2", "127.0.0.2", dns.a("127.0.0.2"))

conf = write_exim_conf(root, """\
acl_check_connect:
  warn dnslists = bl.exigrey.test=127.0.0.3
       log_message = R-EQ3 $dnslist_value [$dnslist_text]
  warn dnslists = bl.exigrey.test&0.0.0.4
       log_message = R-AND4 $dnslist_value [$dnslist_text]
  warn dnslists = bl.exigrey.test&0.0.0.3
       log_message = R-AND3 $dnslist_value [$dnslist_text]
  warn dnslists = bl.exigrey.test
       log_message = R-ANY $dnslist_value [$dnslist_text]
  accept
""")


def session(ip):
    """One SMTP session from `ip` in host-checking mode, resolving through
    rbldnsd; returns {tag: (value, text)} of the warn statements that matched."""
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2" -C "$3" -bh "$4"'
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", resolv, EXIM, conf, ip],
                       input=b"HELO client.test\r\nQUIT\r\n", capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if "250 exigrey.test Hello client.test" not in out:
        log(f"exim -bh {ip} output:\n{out[-3000:]}")
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"Warning: (R-\w+) (\S+) \[(.*)\]", out)}, out


# address: the warn statements that must match (EQ3: =127.0.0.3; AND4:
# &0.0.0.4; AND3: &0.0.0.3, both bits; ANY: plain)
MATCHES = {
    "11.22.33.3": {"R-EQ3", "R-AND3", "R-ANY"},
    "11.22.33.4": {"R-AND4", "R-ANY"},
    "11.22.33.5": {"R-AND4", "R-ANY"},
    "11.22.33.2": {"R-ANY"},  # 2 & 3 is 2: `&` wants every bit of the mask
    "11.22.33.6": {"R-ANY"},
    "11.22.33.99": set(),
}
for ip, want in MATCHES.items():
    got, out = session(ip)
    check(f"Exim ran a session from {ip}", f"Hello client.test [{ip}]" in out, out[-2000:])
    # A lookup that times out is "not in list" to Exim: it must not pass for one.
    check(f"{ip}: Exim's DNS lookups reached rbldnsd",
          "dnslists check: bl.exigrey.test" in out and "DNS list lookup defer" not in out,
          out[-2000:])
    expect(f"{ip}: the dnslists conditions that match", sorted(want), sorted(got))
    if ip in CASES:
        _, value, category = CASES[ip]
        text = f"{category}: {ip} see https://rbl.test/lookup?q={ip}"
        expect(f"{ip}: $dnslist_value and $dnslist_text", {t: (value, text) for t in want}, got)

paniclog = os.path.join(root, "log", "paniclog")
check("Exim's panic log is empty",
      not os.path.exists(paniclog) or os.path.getsize(paniclog) == 0)
expect("SIGTERM stops cleanly", 0, c.stop())
finish()

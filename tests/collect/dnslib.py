# SPDX-License-Identifier: GPL-2.0-or-later
"""Knot DNS and Unbound from Debian on loopback ports, configured from the
shipped examples/knot files (so that the examples are what the tests run),
for the tests of publishing by DNS UPDATE (docs/dns.md)."""
import os
import shutil
import signal
import subprocess
import time

from collectlib import free_port, log, skip_or_fail, spawn, wait_port

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "knot")
DOMAIN = "exigrey.example.org"
ZONES = {"black": f"bl.{DOMAIN}", "black_names": f"dbl.{DOMAIN}", "white": f"wl.{DOMAIN}",
         "white_names": f"dwl.{DOMAIN}", "rpz": f"rpz.{DOMAIN}"}


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            skip_or_fail(f"{t} not installed (apt-get install knot knot-dnsutils unbound)")


def make_key(path, name):
    """A TSIG key as Knot's keymgr writes it (also what dns_key reads)."""
    out = subprocess.run(["keymgr", "-t", name, "hmac-sha256"], check=True, capture_output=True,
                         text=True).stdout
    with open(path, "w") as f:
        f.write(out)
    os.chmod(path, 0o600)
    return path


def key_arg(path):
    """kdig's -y ALG:NAME:SECRET from a keymgr file."""
    with open(path) as f:
        for line in f:
            if line.startswith("# hmac-"):
                return line[2:].strip()
    raise RuntimeError(f"no key in {path}")


def rewrite(text, replacements, what):
    for old, new in replacements:
        if old not in text:
            raise RuntimeError(f"{what}: the example no longer has {old!r}")
        text = text.replace(old, new)
    return text


class Knot:
    """knotd in the foreground as the primary ("knot.conf") or a secondary
    ("secondary.conf") of the example, on 127.0.0.1:port."""

    def __init__(self, root, role, port, collect_key, transfer_key, primary_port=0,
                 secondary_port=0, resolver_port=0, split=()):
        """`split`: the ZONES keys of lists split into 256 child zones from
        the start (dns_split); split_now() splits them later."""
        self.role = role
        self.port = port
        self.dir = os.path.join(root, role)
        self.storage = os.path.join(self.dir, "zones")
        os.makedirs(self.storage, exist_ok=True)
        self.conf = os.path.join(self.dir, "knot.conf")
        self.logfile = os.path.join(self.dir, "knot.log")
        self.proc = None
        self.starts = 0
        if role == "primary":
            text = open(os.path.join(EXAMPLES, "knot.conf")).read()
            text = rewrite(text, [
                ("listen: 127.0.0.1@5300", f"listen: 127.0.0.1@{port}"),
                ("/etc/knot/exigrey-collect.key", collect_key),
                ("192.0.2.53@53", f"127.0.0.1@{secondary_port}"),
                ("192.0.2.54@53", f"127.0.0.1@{resolver_port}"),
                ("address: 192.0.2.54\n", "address: 127.0.0.1\n"),
            ], "examples/knot/knot.conf")
            whole = [z for k, z in ZONES.items() if k not in split]
            subprocess.run([os.path.join(EXAMPLES, "make-zones.sh"), self.storage, "localhost",
                            "hostmaster.localhost"] + whole, check=True)
        else:
            text = open(os.path.join(EXAMPLES, "secondary.conf")).read()
            text = rewrite(text, [
                ("listen: [0.0.0.0@53, ::@53]", f"listen: 127.0.0.1@{port}"),
                ("192.0.2.1@5300", f"127.0.0.1@{primary_port}"),
                ("address: 192.0.2.1\n", "address: 127.0.0.1\n"),
            ], "examples/knot/secondary.conf")
        text = rewrite(text, [
            ("rundir: /run/knot", f"rundir: {self.dir}"),
            ("    user: knot:knot\n", ""),  # the test runs it as its own user
            ("/var/lib/knot/exigrey", self.storage),
            ("/etc/knot/exigrey-transfer.key", transfer_key),
            ("target: syslog", "target: stderr"),
        ], self.role)
        with open(self.conf, "w") as f:
            f.write(text)
        if split:
            self._split_files(split)
        check = subprocess.run(["knotc", "-c", self.conf, "conf-check"], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError(f"{role}: knotc conf-check: {check.stdout}{check.stderr}")

    def _split_files(self, keys):
        """The child zones' configuration (split-conf.sh, included as the
        examples say) and, on the primary, their files (make-zones.sh
        --split: the parent's file delegates them, if it is new)."""
        zones = [ZONES[k] for k in keys]
        if self.role == "primary":
            subprocess.run([os.path.join(EXAMPLES, "make-zones.sh"), "--split", self.storage,
                            "localhost", "hostmaster.localhost"] + zones, check=True)
        split_conf = os.path.join(self.dir, "split.conf")
        with open(split_conf, "w") as f:
            f.write(subprocess.run([os.path.join(EXAMPLES, "split-conf.sh")] + zones, check=True,
                                   capture_output=True, text=True).stdout)
        text = open(self.conf).read()
        with open(self.conf, "w") as f:
            f.write(rewrite(text, [("#include: /etc/knot/exigrey-split.conf",
                                    f"include: {split_conf}")], self.role))

    def control(self, *args):
        """knotc ARGS on the running server; raises with its output on failure."""
        r = subprocess.run(["knotc", "-c", self.conf] + list(args), capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{self.role}: knotc {' '.join(args)}: {r.stdout}{r.stderr}")
        return r.stdout

    def split_now(self, keys, ns="localhost"):
        """Splits running lists as docs/dns.md says: the children's files and
        configuration, a reload, then (primary) the 256 delegations added to
        the parent in one knotc transaction."""
        self._split_files(keys)
        self.control("reload")
        if self.role != "primary":
            return
        for zone in (ZONES[k] for k in keys):
            self.control("zone-begin", zone)
            for i in range(256):
                self.control("zone-set", zone, str(i), "300", "NS", f"{ns}.")
            self.control("zone-commit", zone)

    def start(self):
        self.starts += 1
        with open(self.logfile, "a") as f:
            f.write(f"=== start {self.starts}\n")
        self.proc = spawn(["knotd", "-c", self.conf], self.logfile)
        wait_port(self.port)
        log(f"knotd {self.role} on 127.0.0.1:{self.port} (start {self.starts})")
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def log_since_start(self):
        text = open(self.logfile, errors="replace").read()
        return text.rsplit(f"=== start {self.starts}\n", 1)[-1]

    def reconfigure(self, old, new):
        """Edits the running configuration and reloads it."""
        text = open(self.conf).read()
        with open(self.conf, "w") as f:
            f.write(rewrite(text, [(old, new)], self.role))
        subprocess.run(["knotc", "-c", self.conf, "reload"], check=True, capture_output=True,
                       timeout=30)


def knot_pair(root, split=()):
    """Makes both keys and starts a Knot primary and secondary on free ports:
    (collect_key, transfer_key, primary, secondary)."""
    collect_key = make_key(os.path.join(root, "collect.key"), "exigrey-collect")
    transfer_key = make_key(os.path.join(root, "transfer.key"), "exigrey-transfer")
    p_port, s_port = free_port(), free_port()
    primary = Knot(root, "primary", p_port, collect_key, transfer_key, secondary_port=s_port,
                   resolver_port=free_port(), split=split).start()
    secondary = Knot(root, "secondary", s_port, collect_key, transfer_key, primary_port=p_port,
                     split=split).start()
    return collect_key, transfer_key, primary, secondary


def dig(port, name, qtype="A", key=None, tcp=False):
    """(rcode, [answers as kdig's short form]) from 127.0.0.1:port."""
    argv = ["kdig", f"@127.0.0.1", "-p", str(port), "+time=2", "+retry=1", name, qtype]
    if key:
        argv += ["-y", key]
    if tcp:
        argv.append("+tcp")
    out = subprocess.run(argv + ["+noall", "+header", "+answer"], capture_output=True,
                         text=True, timeout=30).stdout
    rcode = "?"
    answers = []
    for line in out.splitlines():
        if "status:" in line:
            rcode = line.split("status:")[1].replace(",", ";").split(";")[0].strip()
        elif line and not line.startswith(";"):
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] == qtype:
                answers.append(parts[4])
    return rcode, answers


def axfr(port, zone, key):
    """The zone's records as (owner, type, data) from an AXFR, apex excluded."""
    out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), "-y", key, zone, "AXFR",
                          "+noall", "+answer"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"AXFR {zone}: {out.stderr}")
    records = []
    for line in out.stdout.splitlines():
        if not line or line.startswith(";"):
            continue
        owner, _ttl, _cls, rtype, data = line.split(None, 4)
        owner = owner.rstrip(".").lower()
        if owner == zone:
            continue
        records.append((owner, rtype, data))
    return records


def serial(port, zone):
    """The zone's SOA serial, or None."""
    return serials(port, [zone])[zone]


def serials(port, zones):
    """{zone: SOA serial or None} of many zones, in one kdig run."""
    argv = ["kdig", "@127.0.0.1", "-p", str(port), "+time=2", "+retry=1"]
    for z in zones:
        argv += [z, "SOA"]
    out = subprocess.run(argv + ["+noall", "+answer"], capture_output=True, text=True,
                         timeout=120).stdout
    got = dict.fromkeys(zones)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[3] == "SOA":
            got[parts[0].rstrip(".").lower()] = int(parts[6])
    return got


class Unbound:
    """Unbound from examples/knot/unbound.conf on 127.0.0.1:port, loading the
    RPZ zone from the primary; `local_data` gives names it answers itself."""

    def __init__(self, root, port, primary_port, local_data=()):
        self.port = port
        self.dir = os.path.join(root, "unbound")
        os.makedirs(self.dir, exist_ok=True)
        self.logfile = os.path.join(self.dir, "unbound.log")
        text = open(os.path.join(EXAMPLES, "unbound.conf")).read()
        text = rewrite(text, [
            ("interface: 192.0.2.54", "interface: 127.0.0.1"),
            ("port: 53", f"port: {port}"),
            ("192.0.2.1@5300", f"127.0.0.1@{primary_port}"),
            ("allow-notify: 192.0.2.1", "allow-notify: 127.0.0.1"),
            ("/var/lib/unbound/", self.dir + "/"),
        ], "examples/knot/unbound.conf")
        extra = ["    username: \"\"", f"    directory: \"{self.dir}\"", "    chroot: \"\"",
                 f"    pidfile: \"{self.dir}/unbound.pid\"", "    use-syslog: no",
                 f"    logfile: \"{self.logfile}\"", "    verbosity: 1",
                 "    do-not-query-localhost: no"]
        text = text.replace("server:\n", "server:\n" + "\n".join(extra) + "\n", 1)
        # The names it answers without the Internet: an authoritative zone
        # used for recursion (local-data would be answered before RPZ).
        for tld in sorted({name.rsplit(".", 1)[1] for name, _ in local_data}):
            zonefile = os.path.join(self.dir, f"{tld}.zone")
            with open(zonefile, "w") as f:
                f.write(f"$ORIGIN {tld}.\n@ 60 SOA ns.{tld}. h.{tld}. 1 60 60 600 60\n"
                        f"@ 60 NS ns.{tld}.\nns 60 A 127.0.0.1\n")
                for name, addr in local_data:
                    if name.endswith("." + tld):
                        f.write(f"{name}. 60 A {addr}\n")
            text += (f"\nauth-zone:\n    name: \"{tld}.\"\n    zonefile: \"{zonefile}\"\n"
                     "    for-upstream: yes\n    for-downstream: no\n    fallback-enabled: no\n")
        self.conf = os.path.join(self.dir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        check = subprocess.run(["unbound-checkconf", self.conf], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"unbound-checkconf: {check.stdout}{check.stderr}")
        self.proc = None

    def start(self):
        self.proc = spawn(["unbound", "-d", "-c", self.conf], os.path.join(self.dir, "stderr"))
        wait_port(self.port)
        log(f"unbound on 127.0.0.1:{self.port}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def log(self):
        try:
            return open(self.logfile, errors="replace").read()
        except OSError:
            return ""


def wait_for(fn, timeout=10, step=0.05):
    """Polls fn() until it returns a true value; returns (value, seconds)."""
    start = time.time()
    value = fn()
    while not value and time.time() - start < timeout:
        time.sleep(step)
        value = fn()
    return value, time.time() - start

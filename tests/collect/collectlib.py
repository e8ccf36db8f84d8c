# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the exigrey-collect integration tests.

Each test gets its own temporary directory (removed at exit unless
EXIGREY_TEST_KEEP=1), free ports on 127.0.0.1 only, and every process it
starts is killed at exit, whatever happens. Failures are collected with
check() and reported together; the process exit status is 1 if any failed.

The collector binary is the first command-line argument of every test.
"""

import atexit
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import eximlib  # noqa: E402
import ports  # noqa: E402

FAILURES = []
_PROCS = []
_TMP = []
NAME = os.path.splitext(os.path.basename(sys.argv[0]))[0]

# The zones our rbldnsd serves (the rbldnsd command line of examples/rbldnsd).
BL, DBL, WL, DWL = "bl.exigrey.test", "dbl.exigrey.test", "wl.exigrey.test", "dwl.exigrey.test"


def log(msg):
    print(f"[{NAME}] {msg}", flush=True)


def check(what, cond, detail=""):
    if cond:
        log(f"ok: {what}")
    else:
        log(f"FAIL: {what} {detail}")
        FAILURES.append(what)
    return cond


def expect(what, want, got):
    return check(what, want == got, f"(want {want!r}, got {got!r})")


def skip_or_fail(why):
    if os.environ.get("CI"):
        log(f"FAIL: {why} (required in CI)")
        sys.exit(1)
    log(f"SKIP: {why}")
    sys.exit(77)


def finish():
    if FAILURES:
        log(f"{len(FAILURES)} check(s) failed: {FAILURES}")
        sys.exit(1)
    log("all checks passed")
    sys.exit(0)


def _cleanup():
    for p in _PROCS:
        if p.poll() is None:
            p.kill()
    for p in _PROCS:
        try:
            p.wait(timeout=5)
        except Exception:
            pass
    for d in _TMP:
        if os.environ.get("EXIGREY_TEST_KEEP"):
            log(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def tempdir():
    d = tempfile.mkdtemp(prefix=f"exigrey-{NAME}-")
    os.chmod(d, 0o755)  # rbldnsd runs as its own user and must read the files
    _TMP.append(d)
    return d


def free_port():
    """A 127.0.0.1 port free for TCP and UDP and claimed by no other test
    (tests/support/ports.py says why bind-to-0 is not enough)."""
    return ports.free_port()


def wait_port(port, timeout=10):
    """Until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def percentile(values, p):
    """The p-th percentile, nearest rank."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def spawn(argv, logfile, **kw):
    out = open(logfile, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
    _PROCS.append(p)
    return p


def raise_fd_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes(pid, field="VmRSS"):
    """A memory figure of /proc/PID/status in bytes: VmRSS (all resident
    memory), or RssAnon (private memory: heap, stacks; not the file-backed
    LMDB maps, which grow with the data a process reads)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def write_exim_conf(root, acls, connect=True, rcpt=False):
    """A private Exim configuration under `root` (tests/support/eximlib.py)
    with the given `begin acl` section. Returns its path."""
    text = eximlib.main_section(
        root,
        extra=(("acl_smtp_connect = acl_check_connect\n" if connect else "")
               + ("acl_smtp_rcpt = acl_check_rcpt\n" if rcpt else "")))
    return eximlib.install_config(os.path.join(root, "exim.conf"), text + "\nbegin acl\n" + acls)


class Collector:
    """An exigrey-collect on free ports with its own state and rbldnsd dirs."""

    def __init__(self, binary, root, *extra, state=None, rbldnsd_dir=None, port=None):
        self.binary = binary
        self.root = root
        self.state = state or os.path.join(root, "state")
        # rbldnsd_dir=False: no rbldnsd files (publishing by DNS UPDATE only).
        self.rbldnsd_dir = None if rbldnsd_dir is False else (
            rbldnsd_dir or os.path.join(root, "rbldnsd"))
        if self.rbldnsd_dir:
            os.makedirs(self.rbldnsd_dir, exist_ok=True)
            os.chmod(self.rbldnsd_dir, 0o755)
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.extra = list(extra)
        self.logfile = os.path.join(root, "collect.log")
        self.proc = None

    def argv(self):
        return [self.binary, "--plain", f"127.0.0.1:{self.port}",
                "--metrics", f"127.0.0.1:{self.metrics_port}",
                "--state", self.state] + (
                    ["--rbldnsd-dir", self.rbldnsd_dir] if self.rbldnsd_dir else []) + self.extra

    def start(self, timeout=10):
        self.proc = spawn(self.argv(), self.logfile)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.metrics()
                # The first publish is out (split or not: rbldnsd_shards).
                first = os.path.join(self.rbldnsd_dir or "", "black.ip4")
                if not self.rbldnsd_dir or os.path.exists(first) or os.path.exists(first + ".0"):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("collector did not start:\n" + self.log())

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def metrics_text(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def metrics(self):
        out = {}
        for line in self.metrics_text().splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    def metric(self, key):
        return self.metrics().get(key, 0.0)

    def wait_metric(self, key, at_least, timeout=10):
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            value = self.metric(key)
            if value >= at_least:
                return value
            time.sleep(0.02)
        return value

    def send(self, data, source="127.0.0.1", wait_close=True, timeout=5):
        """One connection from `source`: sends `data`, half-closes, waits for EOF."""
        s = socket.socket()
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.port))
        if isinstance(data, str):
            data = data.encode()
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            if wait_close:
                while s.recv(4096):
                    pass
        except OSError:
            pass  # the collector may close an abusive connection mid-send
        finally:
            s.close()

    def dump(self):
        r = subprocess.run([self.binary, "--dump", "--state", self.state] + self.policy_flags(),
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"--dump failed: {r.stderr}")
        return r.stdout

    def policy_flags(self):
        out, it = [], iter(self.extra)
        for a in it:
            if a in ("--min-reporters", "--ttl", "--decay", "--whitelist"):
                out += [a, next(it)]
        return out

    def file(self, name):
        with open(os.path.join(self.rbldnsd_dir, name)) as f:
            return f.read()


def rev4(addr):
    return ".".join(reversed(addr.split(".")))


def rev6(addr):
    import ipaddress
    full = ipaddress.IPv6Address(addr).exploded.replace(":", "")
    return ".".join(reversed(full))


def qname(subject, zone):
    if re.fullmatch(r"[0-9.]+", subject):
        return f"{rev4(subject)}.{zone}"
    if ":" in subject:
        return f"{rev6(subject)}.{zone}"
    return f"{subject}.{zone}"


EXAMPLE_RBLDNSD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "examples", "rbldnsd", "run-rbldnsd.sh")


def free_udp_port():
    """A port for a UDP server (rbldnsd, a name server): free_port() checks
    UDP as well, so this is the same; the name says what the caller needs."""
    return ports.free_port()


class Rbldnsd:
    """The Debian rbldnsd on a free 127.0.0.1 port, started by the shipped
    examples/rbldnsd/run-rbldnsd.sh (zones bl/dbl/wl/dwl.exigrey.test)."""

    def __init__(self, root, data_dir):
        if not shutil.which("rbldnsd"):
            skip_or_fail("rbldnsd not installed (apt-get install rbldnsd)")
        if not shutil.which("dig"):
            skip_or_fail("dig not installed (apt-get install dnsutils)")
        self.logfile = os.path.join(root, "rbldnsd.log")
        # Between choosing a port and rbldnsd binding it, another process
        # (any UDP client of a parallel test) may take it: rbldnsd then exits
        # "unable to bind ... Address already in use". That race is in the
        # test's choice of port, not in what is tested: choose again.
        for _ in range(5):
            self.port = free_udp_port()
            argv = ["/bin/sh", EXAMPLE_RBLDNSD, data_dir, f"127.0.0.1/{self.port}",
                    "exigrey.test"]
            self.proc = spawn(argv, self.logfile)
            deadline = time.time() + 10
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.query(f"2.0.0.127.{BL}")[0] == "NOERROR":
                    return
                time.sleep(0.1)
            else:
                raise RuntimeError("rbldnsd did not answer:\n" + open(self.logfile).read())
            log = open(self.logfile).read()
            if "Address already in use" not in log:
                raise RuntimeError("rbldnsd exited:\n" + log)
        raise RuntimeError("rbldnsd found no free port in 5 tries:\n" + log)

    def query(self, name, rrtype="A"):
        """(status, [answers]) for one query."""
        r = subprocess.run(["dig", "+time=1", "+tries=1", "+noall", "+comments", "+answer",
                            "-p", str(self.port), "@127.0.0.1", name, rrtype],
                           capture_output=True, text=True, timeout=10)
        m = re.search(r"status: (\w+)", r.stdout)
        status = m.group(1) if m else "TIMEOUT"
        answers = []
        for line in r.stdout.splitlines():
            if line and not line.startswith(";"):
                parts = line.split(None, 4)
                if len(parts) == 5 and parts[3] == rrtype:
                    answers.append(parts[4])
        return status, answers

    def a(self, subject, zone=BL):
        status, answers = self.query(qname(subject, zone))
        return answers[0] if status == "NOERROR" and answers else status

    def txt(self, subject, zone=BL):
        return self.query(qname(subject, zone), "TXT")[1]

    def wait_for(self, subject, want, zone=BL, timeout=5.0, interval=0.02):
        """Polls until the A answer is `want` ('127.0.0.2' or 'NXDOMAIN');
        returns the seconds it took, or None."""
        start = time.time()
        while time.time() - start < timeout:
            if self.a(subject, zone) == want:
                return time.time() - start
            time.sleep(interval)
        return None


def signed(header, body, secret, tamper=None):
    """header + body + the MAC line (docs/protocol.md); `tamper`: the index
    of a body byte to flip after signing."""
    mac = hmac.new(secret.encode(), header + body, hashlib.sha256).hexdigest().encode()
    if tamper is not None:
        body = bytearray(body)
        body[tamper] ^= 1
        body = bytes(body)
    return header + body + b"MAC " + mac + b"\n"


def frame(reporter, secret, items, sent=None, tamper=None):
    """A signed batch as docs/protocol.md defines it; items: (id, verb, subject, time)."""
    body = "".join(f"{i} {v} {s} {t}\n" for i, v, s, t in items).encode()
    header = (f"EXIGREY/1 BATCH {reporter} {items[-1][0]} {int(sent or time.time())} "
              f"{len(items)} {len(body)}\n").encode()
    return signed(header, body, secret, tamper)


def exchange(port, data, timeout=5):
    """Sends one frame on a new connection; returns the answer line ('' if closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.decode(errors="replace").strip()

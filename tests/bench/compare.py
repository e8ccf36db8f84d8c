#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""exigrey side by side with its peers, in one run on one machine.

Run through tests/bench/compare.sh (which installs the packages and builds);
this is the driver. As root. Variants:

  raw LMDB         the same transactions as decide() in a C++ loop (the limit)
  exigrey core     exigrey::decide() in-process (Google Benchmark, bench_core)
  exigrey/Exim     ${dlfunc{libexigrey.so}{unseen}{KEY}{5m}} in `exim -bh` sessions
  seen             Exim 4.96's `defer !seen = -5m / key=KEY`
  greylistd        Debian's greylistd through ${readsocket} on a private unix socket
  postgrey         Debian's postgrey --exim through ${readsocket} on a private socket
  report           ${dlfunc{libexigrey.so}{report}{black}{IP}}: one durable outbox append

Exim variants are timed as whole `exim -bh` sessions with many RCPTs; the
cost per decision is (session - baseline session) / RCPTs, with two
baselines: no condition (`accept`) and a no-op condition that expands the same
key and always defers. Rounds alternate the variants; the median over rounds
of each round's difference.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import eximlib  # noqa: E402  (the private-Exim set-up every Python test shares)

EXIM = os.environ.get("EXIM", eximlib.EXIM)
EXIM_USER = eximlib.EXIM_USER
KEY = "<$sender_address>:<$local_part@$domain>/$sender_host_address"
SEEN_KEY = "<$sender_address>:<$local_part@$domain>:$sender_host_address"

# name: (label, exim macro, exigrey sync or None, expected RCPT reply)
EXIM_VARIANTS = {
    "baseline": ("no condition (accept)", None, None, "250"),
    "noop": ("no-op condition (defer)", "VARIANT_NOOP", None, "451"),
    "exigrey-precious": ("exigrey via Exim, sync=precious (default)", "VARIANT_EXIGREY", "precious",
                         "451"),
    "exigrey-meta": ("exigrey via Exim, sync=meta", "VARIANT_EXIGREY", "meta", "451"),
    "exigrey-none": ("exigrey via Exim, sync=none", "VARIANT_EXIGREY", "none", "451"),
    "seen": ("Exim seen", "VARIANT_SEEN", None, "451"),
    "greylistd": ("greylistd via readsocket", "VARIANT_GREYLISTD", None, "451"),
    "postgrey": ("postgrey via readsocket", "VARIANT_POSTGREY", None, "451"),
    "report": ("exigrey report via Exim", "VARIANT_REPORT", "precious", "451"),
}


def log(*a):
    print("[compare]", *a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw).stdout.strip()


# ---------------------------------------------------------------- machine


def machine():
    lscpu = sh("lscpu")
    pick = {}
    for line in lscpu.splitlines():
        k, _, v = line.partition(":")
        pick[k.strip()] = v.strip()
    disk = sh("df -T /tmp | awk 'NR==2 {print $1\" \"$2}'")
    dev = disk.split()[0] if disk else ""
    model = sh(f"lsblk -ndo MODEL,ROTA,SIZE {dev} 2>/dev/null") if dev else ""
    virt = " / ".join(x for x in (pick.get("Hypervisor vendor", ""), pick.get("Virtualization type", ""),
                                  sh("systemd-detect-virt --container 2>/dev/null")) if x and x != "none")
    return {
        "cpu": pick.get("Model name", "?"),
        "cpus": pick.get("CPU(s)", "?"),
        "threads_per_core": pick.get("Thread(s) per core", "?"),
        "caches": ", ".join(
            f"{k.split()[0]} {pick[k]}" for k in ("L1d cache", "L2 cache", "L3 cache") if k in pick
        ),
        "virt": virt,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "disk": f"{disk} {model}".strip(),
        "exim": sh(f"{EXIM} -bV 2>/dev/null | head -n 1"),
        "greylistd": sh("dpkg-query -W -f '${Version}' greylistd"),
        "postgrey": sh("dpkg-query -W -f '${Version}' postgrey"),
        "lmdb": sh("dpkg-query -W -f '${Version}' liblmdb0"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


class LoadSampler:
    """Every 5 s: the 1-minute load average and how many compiler or linker
    processes (others' builds: cc1plus, cc1, ld, lto) are running."""

    def __init__(self):
        import threading
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(5):
            busy = 0
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        comm = open(f"/proc/{pid}/comm").read().strip()
                    except OSError:
                        continue
                    busy += comm in ("cc1plus", "cc1", "ld", "collect2", "lto1")
            self.samples.append((float(loadavg()[0]), busy))

    def summary(self):
        self.stop.set()
        if not self.samples:
            return "no samples"
        loads = sorted(x for x, _ in self.samples)
        return (f"{len(self.samples)} samples every 5 s: 1-min load min {loads[0]:.1f}, "
                f"median {statistics.median(loads):.1f}, max {loads[-1]:.1f}; a compiler or "
                f"linker of someone else's build running in {sum(1 for _, b in self.samples if b)}")


# ---------------------------------------------------------------- setup


class Lab:
    """A private Exim instance, greylistd and postgrey, all under one temp dir."""

    def __init__(self, build, plugin):
        self.t = tempfile.mkdtemp(prefix="exigrey-compare-")
        os.chmod(self.t, 0o755)
        self.procs = []
        eximlib.make_dirs(f"{self.t}/spool", f"{self.t}/log")
        self.plugin = f"{self.t}/libexigrey.so"
        shutil.copy(plugin, self.plugin)
        os.chmod(self.plugin, 0o644)
        self.conf = f"{self.t}/exigrey.conf"
        self.set_sync("precious")
        self.gl_sock = f"{self.t}/greylistd/socket"
        self.pg_sock = f"{self.t}/postgrey/socket"
        self.write_exim_conf()

    def set_sync(self, mode):
        with open(self.conf, "w") as f:
            f.write(f"sync = {mode}\n")
        os.chmod(self.conf, 0o644)

    def write_exim_conf(self):
        t = self.t
        pg_req = (
            r"request=smtpd_access_policy\nclient_address=$sender_host_address\n"
            r"client_name=unknown\nsender=$sender_address\nrecipient=$local_part@$domain\n\n"
        )
        conf = eximlib.main_section(t, extra="""smtp_accept_max = 100
acl_smtp_rcpt = acl_check_rcpt
recipients_max = 0
""") + f"""
begin acl
acl_check_rcpt:
.ifdef VARIANT_NOOP
  defer condition = ${{if eq{{{KEY}}}{{}}{{no}}{{yes}}}}
.endif
.ifdef VARIANT_SEEN
  defer !seen = -5m / key={SEEN_KEY}
.endif
.ifdef VARIANT_EXIGREY
  defer condition = ${{dlfunc{{{self.plugin}}}{{unseen}}{{{KEY}}}{{5m}}}}
.endif
.ifdef VARIANT_GREYLISTD
  defer condition = ${{readsocket{{{self.gl_sock}}}{{--grey $sender_host_address $sender_address $local_part@$domain}}{{5s}}{{}}{{false}}}}
.endif
.ifdef VARIANT_POSTGREY
  defer condition = ${{if match{{${{readsocket{{{self.pg_sock}}}{{{pg_req}}}{{5s}}{{}}{{action=DUNNO}}}}}}{{\\N^action=DEFER\\N}}}}
.endif
.ifdef VARIANT_REPORT
  defer condition = ${{dlfunc{{{self.plugin}}}{{report}}{{black}}{{$sender_host_address}}}}
.endif
  accept
"""
        self.exim_conf = eximlib.install_config(f"{t}/exim.conf", conf)

    def exim_cmd(self, macro, *args, wrapper=(), exim=None):
        cmd = ["env", f"EXIGREY_CONFIG={self.conf}", *wrapper, exim or EXIM, "-C", self.exim_conf]
        if macro:
            cmd.append(f"-D{macro}")
        return cmd + list(args)

    def start_greylistd(self):
        d = f"{self.t}/greylistd"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/config", "w") as f:
            f.write(
                f"""[timeouts]
retryMin     = 300
retryMax     = 28800
expire       = 5184000
[socket]
path         = {self.gl_sock}
mode         = 0666
[data]
update       = 600
statefile    = {d}/states
tripletfile  = {d}/triplets
savetriplets = true
singlecheck  = false
singleupdate = false
"""
            )
        shutil.chown(d, "greylist", "greylist")
        p = subprocess.Popen(
            ["runuser", "-u", "greylist", "--", "/usr/sbin/greylistd", f"{d}/config"],
            stdout=subprocess.DEVNULL,
            stderr=open(f"{d}/stderr", "w"),
        )
        self.procs.append(p)
        self.wait_socket(self.gl_sock, p, "greylistd")

    def start_postgrey(self):
        d = f"{self.t}/postgrey"
        os.makedirs(d, exist_ok=True)
        shutil.chown(d, "postgrey", "postgrey")
        p = subprocess.Popen(
            [
                "/usr/sbin/postgrey", f"--unix={self.pg_sock}", "--socketmode=0666",
                f"--dbdir={d}", "--exim", "--delay=300", "--user=postgrey",
                "--group=postgrey",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(f"{self.t}/postgrey.stderr", "w"),
        )
        self.procs.append(p)
        self.wait_socket(self.pg_sock, p, "postgrey")

    @staticmethod
    def wait_socket(path, proc, name):
        for _ in range(200):
            if proc.poll() is not None:
                sys.exit(f"compare: {name} exited at start (code {proc.returncode})")
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"compare: {name} does not listen on {path}")

    def close(self, keep=False):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if keep:
            log(f"kept {self.t}")
        else:
            shutil.rmtree(self.t, ignore_errors=True)


# ---------------------------------------------------------------- Exim sessions


def session_file(lab, name, n, repeat, ip_tag):
    """Writes an SMTP session: HELO, MAIL, n RCPTs repeat times, QUIT."""
    rcpts = "".join(f"RCPT TO:<r{i}-{name}@example.test>\r\n" for i in range(n))
    path = f"{lab.t}/s-{name}-{repeat}"
    with open(path, "w") as f:
        f.write(f"HELO bench.test\r\nMAIL FROM:<sender-{ip_tag}@bench.test>\r\n")
        f.write(rcpts * repeat)
        f.write("QUIT\r\n")
    return path


def start_session(lab, variant, path, ip):
    macro = EXIM_VARIANTS[variant][1]
    out = open(path + ".out", "w")
    return subprocess.Popen(
        lab.exim_cmd(macro, "-bh", ip), stdin=open(path), stdout=out, stderr=subprocess.DEVNULL
    )


def check(path, variant, rcpts):
    want = EXIM_VARIANTS[variant][3]
    got = sum(1 for line in open(path + ".out", errors="replace") if line.startswith(want + " "))
    if want == "250":
        got -= 2  # HELO and MAIL
    if got != rcpts:
        sys.exit(f"compare: {variant}: {got} of {rcpts} RCPTs got {want} ({path}.out)")


def run_parallel(lab, variant, files, rcpts_each):
    """Runs the sessions at once; returns wall seconds from first start to last end."""
    if EXIM_VARIANTS[variant][2]:
        lab.set_sync(EXIM_VARIANTS[variant][2])
    t0 = time.perf_counter()
    ps = [start_session(lab, variant, f, ip) for f, ip in files]
    for p in ps:
        p.wait()
    dt = time.perf_counter() - t0
    for f, _ in files:
        check(f, variant, rcpts_each)
    return dt


def single_process(lab, n, repeat, rounds, variants):
    """Per-decision cost in one exim -bh session; medians over rounds."""
    first = {v: [] for v in variants}
    again = {v: [] for v in variants}
    for r in range(rounds):
        for v in variants:
            name = f"{v}-r{r}"
            f1 = session_file(lab, name, n, 1, name)
            first[v].append(run_parallel(lab, v, [(f1, "10.9.8.7")], n))
            if v != "report":
                f2 = session_file(lab, name, n, repeat, name)
                again[v].append(run_parallel(lab, v, [(f2, "10.9.8.7")], n * repeat))
        log(f"single-process round {r + 1}/{rounds} done (load {' '.join(loadavg())})")
    med_first = {v: statistics.median(x) for v, x in first.items()}
    med_again = {v: statistics.median(x) for v, x in again.items() if x}
    res = {}

    def paired(xs, bs, count):
        # The median of each round's difference: a slow moment of the machine
        # shifts a round's variant and baseline sessions together.
        return statistics.median(x - b for x, b in zip(xs, bs)) / count * 1e6

    for v in variants:
        row = {"first_s": med_first[v], "first_all": first[v]}
        for base in ("baseline", "noop"):
            row[f"first_us_{base}"] = paired(first[v], first[base], n)
            if v in med_again:
                row[f"again_us_{base}"] = paired(again[v], again[base], n * repeat)
        if v in med_again:
            row["again_s"] = med_again[v]
            row["again_all"] = again[v]
        res[v] = row
    return res


def core_keys_factor(quick):
    return 2 if quick else 20


def concurrency(lab, levels, n_each, repeat, variants, build, quick, rounds):
    """Aggregate decisions/s with P exim -bh sessions (or P processes) at once;
    the median of `rounds` runs, the variants taking turns in each round."""
    runs = {}
    for r in range(rounds):
        for p in levels:
            for v in variants:
                files1, files2 = [], []
                for i in range(p):
                    name = f"{v}-p{p}-{i}-r{r}"
                    ip = f"10.{p}.{i // 250}.{i % 250 + 1}"
                    files1.append((session_file(lab, name, n_each, 1, name), ip))
                    files2.append((session_file(lab, name, n_each, repeat, name), ip))
                t1 = run_parallel(lab, v, files1, n_each)
                t2 = run_parallel(lab, v, files2, n_each * repeat)
                runs.setdefault((v, p), []).append((p * n_each / t1, p * n_each * repeat / t2))
            for impl in ("raw", "exigrey"):
                for sync in ("meta", "none") + (("precious",) if impl == "exigrey" else ()):
                    out = sh(
                        f"{build}/tests/bench/exigrey_bench_procs --impl {impl} --sync {sync} "
                        f"--procs {p} --keys {n_each * core_keys_factor(quick)} --repeat {repeat} --dir /tmp"
                    )
                    m = re.search(r"first_dps=(\d+) again_dps=(\d+)", out)
                    if not m:
                        sys.exit(f"compare: exigrey_bench_procs failed: {out}")
                    runs.setdefault((f"core-{impl}-{sync}", p), []).append(
                        (float(m.group(1)), float(m.group(2))))
            log(f"concurrency round {r + 1}/{rounds}, {p} processes done (load {' '.join(loadavg())})")
    return {k: (statistics.median(a for a, _ in x), statistics.median(b for _, b in x))
            for k, x in runs.items()}


# ---------------------------------------------------------------- in-process


def bench_core(build, quick):
    args = [
        f"{build}/tests/bench/exigrey_bench_core",
        "--benchmark_filter=^(decide/[a-z_]+/[a-z]+/(exigrey|raw)|report/outbox_append)/real_time$",
        "--benchmark_format=json",
    ]
    if quick:
        args += ["--benchmark_min_time=0.05", "--exigrey_items=20000"]
    else:
        args += [
            "--benchmark_repetitions=5",
            "--benchmark_enable_random_interleaving=true",
            "--benchmark_report_aggregates_only=true",
        ]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"compare: exigrey_bench_core failed:\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout)
    res = {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"]).removesuffix("/real_time")
        if quick or b.get("aggregate_name") == "median":
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
            res[name] = b["real_time"] * scale  # microseconds, wall
            res[name + "#cpu"] = b["cpu_time"] * scale  # without the wait for the disk
    return res


# ---------------------------------------------------------------- first call


def first_call(lab, build, rounds):
    env = dict(os.environ, EXIGREY_CONFIG=lab.conf)
    lab.set_sync("precious")  # the default
    d = tempfile.mkdtemp(prefix="exigrey-first-")
    # The libraries the exim binary links are loaded before the fork, so the
    # dlopen() measured loads what Exim's would: the module and what it needs
    # beyond Exim's own (libcrypto, for one, Exim has already).
    preload = ":".join(
        f for f in re.findall(r"=> (/\S+)", sh(f"ldd {EXIM}")) if os.path.exists(f)
    )
    out = subprocess.run(
        [f"{build}/tests/bench/exigrey_first_call", lab.plugin, d, str(rounds), preload],
        capture_output=True, text=True, env=env,
    )
    shutil.rmtree(d, ignore_errors=True)
    if out.returncode != 0:
        sys.exit(f"compare: exigrey_first_call failed: {out.stderr}")
    res = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", out.stdout)}
    # The same through real Exim: `exim -be` with one ${dlfunc} call (a too-early
    # decision) against one no-op expansion, alternating; medians of wall time.
    key = "<s@bench.test>:<r@example.test>/10.1.2.3"
    exp = {
        "noop": f"${{if eq{{{key}}}{{}}{{no}}{{yes}}}}",
        "exigrey": f"${{dlfunc{{{lab.plugin}}}{{unseen}}{{{key}}}{{5m}}}}",
    }
    subprocess.run(lab.exim_cmd(None, "-be", exp["exigrey"]), capture_output=True)
    times = {k: [] for k in exp}
    for _ in range(rounds):
        for k, e in exp.items():
            t0 = time.perf_counter()
            o = subprocess.run(lab.exim_cmd(None, "-be", e), capture_output=True, text=True)
            times[k].append(time.perf_counter() - t0)
            if o.stdout.strip() != "yes":
                sys.exit(f"compare: exim -be {e}: {o.stdout} {o.stderr}")
    res["exim_be_noop_ms"] = statistics.median(times["noop"]) * 1e3
    res["exim_be_exigrey_ms"] = statistics.median(times["exigrey"]) * 1e3
    res["exim_be_diff_us"] = (res["exim_be_exigrey_ms"] - res["exim_be_noop_ms"]) * 1e3
    return res


# ---------------------------------------------------------------- profile


def callgrind_functions(path):
    """Inclusive Ir of the functions we split the cost by."""
    out = sh(f"callgrind_annotate --inclusive=yes --threshold=100 {path} 2>/dev/null")
    want = {
        "unseen": r"exim_shim\.cpp:unseen ",
        "decide": r"greylist\.cpp:exigrey::decide\(",
        "dlsym": r":dlsym@@GLIBC",
        "string_copy": r"\?\?\?:string_copy_function ",
    }
    res = {k: 0 for k in want}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(", line)
        if not m or "=>" in line:
            continue
        for k, pat in want.items():
            if re.search(pat, line) and res[k] == 0:
                res[k] = int(m.group(1).replace(",", ""))
    return res


def profile(lab, n, repeat):
    """Instructions per RCPT under callgrind, per variant and decision kind.

    Exim is setuid root, which valgrind refuses: a non-setuid copy runs
    instead (as root, which `exim -C` needs anyway). Exim gives up root for
    Debian-exim during the session, so callgrind's output file is made
    writable for it beforehand."""
    exim = f"{lab.t}/exim4-nosuid"
    shutil.copy(EXIM, exim)
    os.chmod(exim, 0o755)
    res = {}
    for v in ("baseline", "noop", "exigrey-precious", "exigrey-meta", "exigrey-none", "seen",
              "greylistd", "postgrey"):
        if EXIM_VARIANTS[v][2]:
            lab.set_sync(EXIM_VARIANTS[v][2])
        name = f"prof-{v}"
        row = {}
        for kind, rep_n in (("first", 1), ("again", repeat)):
            f = session_file(lab, name, n, rep_n, name)
            out = f"{lab.t}/callgrind.{v}.{kind}"
            open(out, "w").close()
            os.chmod(out, 0o666)
            cmd = lab.exim_cmd(EXIM_VARIANTS[v][1], "-bh", "10.9.8.7", exim=exim,
                               wrapper=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
            subprocess.run(cmd, stdin=open(f), stdout=open(f + ".out", "w"), stderr=subprocess.DEVNULL)
            check(f, v, n * rep_n)
            total = int(re.search(r"^totals: (\d+)", open(out).read(), re.M).group(1))
            row[kind] = {"total": total / (n * rep_n), **{
                k: x / (n * rep_n) for k, x in callgrind_functions(out).items()}}
        res[v] = row
        log(f"profile {v} done")
    return res


def perf_shares(lab, n, repeat, freq=10000):
    """Where the time of an `exim -bh` session goes, by shared object (perf
    record, cycles sampled at `freq` Hz): microseconds per RCPT."""
    groups = {
        "exim4": "Exim", "libc.so.6": "libc", "ld-linux-x86-64.so.2": "ld.so",
        "[kernel.kallsyms]": "kernel", "libexigrey.so": "exigrey", "liblmdb.so.0.0.0": "LMDB",
        "libdb-5.3.so": "Berkeley DB",
    }
    res = {}
    for v in ("noop", "exigrey-precious", "exigrey-meta", "exigrey-none", "seen", "greylistd"):
        if EXIM_VARIANTS[v][2]:
            lab.set_sync(EXIM_VARIANTS[v][2])
        name = f"perf-{v}"
        row = {}
        for kind, rep_n in (("first", 1), ("again", repeat)):
            f = session_file(lab, name, n, rep_n, name)
            data = f"{lab.t}/perf.{v}.{kind}"
            cmd = ["perf", "record", "-q", "-F", str(freq), "-o", data, "--"] + lab.exim_cmd(
                EXIM_VARIANTS[v][1], "-bh", "10.9.8.7")
            subprocess.run(cmd, stdin=open(f), stdout=open(f + ".out", "w"), stderr=subprocess.DEVNULL)
            check(f, v, n * rep_n)
            out = sh(f"perf report -i {data} --sort dso -n --stdio 2>/dev/null")
            shares = {}
            for line in out.splitlines():
                m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\S+)", line)
                if m:
                    g = groups.get(m.group(2), "other")
                    shares[g] = shares.get(g, 0) + int(m.group(1)) / freq / (n * rep_n) * 1e6
            row[kind] = shares
        res[v] = row
    return res


# ---------------------------------------------------------------- output


def fmt_us(x):
    if x is None:
        return ""
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_rate(us):
    return f"{1e6 / us:,.0f}" if us and us > 0 else "n/a"


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b and b > 0 and a > 0 else "n/a"


def tables(single, core, first, conc, levels, meta, prof=None, perf=None):
    L = []
    p = L.append
    p(f"load average at start {meta['load_start']}, at end {meta['load_end']}; {meta['load_samples']}")
    p("")
    p("### One decision, one process")
    p("")
    p("Microseconds per decision (Exim rows: session minus the no-condition baseline / minus")
    p("the no-op-condition baseline); decisions/s = 1e6 / the first figure; ratio = the")
    p("variant's cost / exigrey's on the same layer (in-process: same sync mode; through")
    p("Exim: exigrey with the default sync=precious), by the same baseline.")
    p("")
    p("| variant | first sight µs | first sight decisions/s | ratio to exigrey | too early µs | too early decisions/s | ratio to exigrey |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for sync in ("full", "meta", "none", "precious"):
        for impl, label in (("raw", "raw LMDB (the limit)"), ("exigrey", "exigrey in-process")):
            nf = core.get(f"decide/new/{sync}/{impl}")
            ne = core.get(f"decide/too_early/{sync}/{impl}")
            ef = core.get(f"decide/new/{sync}/exigrey")
            ee = core.get(f"decide/too_early/{sync}/exigrey")
            if nf is None:
                continue
            p(f"| {label}, sync={sync} | {fmt_us(nf)} | {fmt_rate(nf)} | {ratio(nf, ef)} | "
              f"{fmt_us(ne)} | {fmt_rate(ne)} | {ratio(ne, ee)} |")
    ref = single["exigrey-precious"]
    for v in ("exigrey-precious", "exigrey-meta", "exigrey-none", "seen", "greylistd", "postgrey"):
        r = single[v]
        p(f"| {EXIM_VARIANTS[v][0]} | {fmt_us(r['first_us_baseline'])} / {fmt_us(r['first_us_noop'])} | "
          f"{fmt_rate(r['first_us_baseline'])} | {ratio(r['first_us_baseline'], ref['first_us_baseline'])} / "
          f"{ratio(r['first_us_noop'], ref['first_us_noop'])} | "
          f"{fmt_us(r['again_us_baseline'])} / {fmt_us(r['again_us_noop'])} | {fmt_rate(r['again_us_baseline'])} | "
          f"{ratio(r['again_us_baseline'], ref['again_us_baseline'])} / {ratio(r['again_us_noop'], ref['again_us_noop'])} |")
    nb = single["noop"]
    p("")
    p(f"Exim's own cost of a condition that defers (no-op minus no condition): "
      f"{fmt_us(nb['first_us_baseline'])} µs first sight, {fmt_us(nb['again_us_baseline'])} µs too early. "
      f"Session medians (s): " + ", ".join(
          f"{v} {single[v]['first_s']:.3f}" + (f"/{single[v]['again_s']:.3f}" if 'again_s' in single[v] else "")
          for v in single))
    p("")
    p("### Other paths in-process (µs), and report")
    p("")
    p("Wall time, and in brackets CPU time (which leaves out the wait for fdatasync, the")
    p("part of a synced commit that varies most with the neighbours' disk use).")
    p("")
    p("| path | sync | raw LMDB | exigrey | exigrey / raw |")
    p("|---|---|---:|---:|---:|")
    for path in ("whitelisted", "too_early", "new", "pass"):
        for sync in ("full", "meta", "none", "precious"):
            r = core.get(f"decide/{path}/{sync}/raw")
            e = core.get(f"decide/{path}/{sync}/exigrey")
            if r is None:
                continue
            rc = core.get(f"decide/{path}/{sync}/raw#cpu")
            ec = core.get(f"decide/{path}/{sync}/exigrey#cpu")
            p(f"| {path} | {sync} | {fmt_us(r)} ({fmt_us(rc)}) | {fmt_us(e)} ({fmt_us(ec)}) | "
              f"{e / r:.2f} ({ec / rc:.2f}) |")
    rep = single.get("report")
    p("")
    p(f"report: in-process `Outbox::append` {fmt_us(core.get('report/outbox_append'))} µs; through Exim "
      f"{fmt_us(rep['first_us_baseline'])} µs minus no condition, {fmt_us(rep['first_us_noop'])} µs minus the no-op "
      f"(one fully synced outbox commit per call).")
    p("")
    p("### First call in a new process")
    p("")
    p("| measure | µs |")
    p("|---|---:|")
    p(f"| dlopen(libexigrey.so, RTLD_LAZY) + dlsym in a C process that has Exim's libraries loaded | {fmt_us(first['dlopen_us'])} |")
    p(f"| first call (settings, directory, LMDB open, reader check, decision) | {fmt_us(first['first_call_us'])} |")
    p(f"| the same call again (steady state) | {fmt_us(first['steady_call_us'])} |")
    p(f"| **first call beyond the decision** (first - steady) | **{fmt_us(first['first_minus_steady_us'])}** |")
    p(f"| dlopen + first call beyond the decision | {fmt_us(first['dlopen_us'] + first['first_minus_steady_us'])} |")
    p(f"| `exim -be` one ${{dlfunc}} call vs one no-op expansion, whole process (median {first['exim_be_noop_ms']:.2f} ms vs {first['exim_be_exigrey_ms']:.2f} ms) | {fmt_us(first['exim_be_diff_us'])} |")
    p("")
    if prof:
        p("### Instructions per RCPT (callgrind, `exim -bh`)")
        p("")
        p("Instructions (Ir) per RCPT, first sight / too early, whole Exim session; kernel time")
        p("(system calls: seen's file opening and locking, the readsockets' connects, the")
        p("fdatasyncs) is not counted. For exigrey: `unseen` = the plugin's entry point and all")
        p("below it, `decide()` = core + LMDB, Exim's dispatch = the rest of the difference to")
        p("the no-op condition (expanding the ${dlfunc} arguments, dlsym(), copying the answer).")
        p("")
        p("| variant | total | minus no condition | minus no-op |")
        p("|---|---:|---:|---:|")
        for v, row in prof.items():
            cells = []
            for base in (None, "baseline", "noop"):
                parts = []
                for kind in ("first", "again"):
                    x = row[kind]["total"] - (prof[base][kind]["total"] if base else 0)
                    parts.append(f"{x:,.0f}")
                cells.append(" / ".join(parts))
            p(f"| {EXIM_VARIANTS[v][0]} | " + " | ".join(cells) + " |")
        p("")
        p("| exigrey via Exim (sync=precious), Ir per RCPT | first sight | too early |")
        p("|---|---:|---:|")
        e, nb = prof["exigrey-precious"], prof["noop"]
        line = lambda label, f: p(f"| {label} | {f('first'):,.0f} | {f('again'):,.0f} |")
        line("over the no-op condition", lambda k: e[k]["total"] - nb[k]["total"])
        line("plugin: `unseen` inclusive", lambda k: e[k]["unseen"])
        line("  of which core `decide()` (LMDB included)", lambda k: e[k]["decide"])
        line("  of which plugin glue (arguments, settings, store handle, answer)", lambda k: e[k]["unseen"] - e[k]["decide"])
        line("Exim's ${dlfunc} dispatch (the rest)", lambda k: e[k]["total"] - nb[k]["total"] - e[k]["unseen"])
        line("  of which dlsym()", lambda k: e[k]["dlsym"])
        line("  of which string_copy of the answer", lambda k: e[k]["string_copy"])
        line("seen over the no-op condition", lambda k: prof["seen"][k]["total"] - nb[k]["total"])
        p("")
    if perf:
        groups = ["Exim", "libc", "ld.so", "kernel", "exigrey", "LMDB", "Berkeley DB", "other"]
        p("### Time by shared object (perf, `exim -bh`)")
        p("")
        p("Microseconds per RCPT from `perf record` samples (cycles), first sight / too early;")
        p("a sampling profile of the Exim process only (not of the greylistd daemon), so each")
        p("figure is about ±0.1 µs. ld.so is Exim's own start-up linking plus dlsym(); the")
        p("kernel column holds the system calls (seen's opens and locks, the sockets, the")
        p("syncs; the wait for the disk itself is off the CPU and not counted).")
        p("")
        p("| variant | " + " | ".join(groups) + " | total |")
        p("|---|" + "---:|" * (len(groups) + 1))
        for v, row in perf.items():
            cells = []
            for g in groups + ["total"]:
                f_ = sum(row["first"].values()) if g == "total" else row["first"].get(g, 0)
                a_ = sum(row["again"].values()) if g == "total" else row["again"].get(g, 0)
                cells.append(f"{f_:.2f} / {a_:.2f}")
            p(f"| {EXIM_VARIANTS[v][0]} | " + " | ".join(cells) + " |")
        p("")
    p("### Concurrency: aggregate decisions/s (first sight / too early)")
    p("")
    pp = meta["params"]
    p(f"P sessions (Exim rows: `exim -bh` processes with their own RCPTs, {pp['rcpts_per_process']} new ones, then")
    p(f"the same {pp['conc_repeat']} times over) or P forked processes (in-process rows: "
      f"{pp['rcpts_per_process'] * pp['core_keys_factor']} keys each) started together;")
    p("decisions of all of them / wall time from the first start to the last end; median")
    p(f"of {pp['conc_rounds']} rounds. Exim rows include Exim's own work per process and per RCPT (the")
    p("no-condition row is that ceiling).")
    p("")
    names = [v for v, _ in conc if True]
    order = []
    for v, _ in conc:
        if v not in order:
            order.append(v)
    p("| variant | " + " | ".join(f"{lv} proc" for lv in levels) + " |")
    p("|---|" + "---:|" * len(levels))
    for v in order:
        label = EXIM_VARIANTS[v][0] if v in EXIM_VARIANTS else {
            "core-raw-meta": "raw LMDB in-process, sync=meta",
            "core-raw-none": "raw LMDB in-process, sync=none",
            "core-exigrey-meta": "exigrey in-process, sync=meta",
            "core-exigrey-none": "exigrey in-process, sync=none",
            "core-exigrey-precious": "exigrey in-process, sync=precious",
            "core-raw-precious": "raw LMDB in-process, no sync",
        }[v]
        cells = []
        for lv in levels:
            a, b = conc[(v, lv)]
            cells.append(f"{a:,.0f} / {b:,.0f}")
        p(f"| {label} | " + " | ".join(cells) + " |")
    del names
    return "\n".join(L)


def plot(conc, levels, outdir):
    order = []
    for v, _ in conc:
        if v not in order:
            order.append(v)
    dat = f"{outdir}/concurrency.dat"
    with open(dat, "w") as f:
        f.write("# procs " + " ".join(f"{v}-first {v}-again" for v in order) + "\n")
        for lv in levels:
            f.write(f"{lv} " + " ".join(f"{conc[(v, lv)][0]:.0f} {conc[(v, lv)][1]:.0f}" for v in order) + "\n")
    labels = {
        "baseline": "Exim, no condition",
        "noop": "Exim, no-op condition",
        "exigrey-precious": "exigrey via Exim (precious)",
        "exigrey-meta": "exigrey via Exim (meta)",
        "exigrey-none": "exigrey via Exim (none)",
        "seen": "Exim seen",
        "greylistd": "greylistd",
        "postgrey": "postgrey",
        "core-raw-meta": "raw LMDB (meta)",
        "core-raw-none": "raw LMDB (none)",
        "core-exigrey-meta": "exigrey core (meta)",
        "core-exigrey-none": "exigrey core (none)",
        "core-exigrey-precious": "exigrey core (precious)",
    }
    colors = {
        "baseline": "#000000", "noop": "#777777", "exigrey-meta": "#d62728",
        "exigrey-none": "#ff9896", "seen": "#1f77b4", "greylistd": "#2ca02c",
        "postgrey": "#9467bd", "core-raw-meta": "#8c564b", "core-raw-none": "#c49c94",
        "core-exigrey-meta": "#ff7f0e", "core-exigrey-none": "#ffbb78",
        "exigrey-precious": "#e31a1c", "core-exigrey-precious": "#fd8d3c",
    }

    def plots(col):
        return ", ".join(
            f"'concurrency.dat' using 1:{2 + 2 * i + col} with linespoints lw 2 pt {i + 1} "
            f"lc rgb '{colors[v]}' dt {2 if v.startswith('core-') else 1} title '{labels[v]}'"
            for i, v in enumerate(order)
        )
    gp = f"""set terminal pngcairo size 1400,650 font ',10'
set output 'concurrency.png'
set multiplot layout 1,2 title 'exigrey and peers: aggregate decisions/s vs concurrent processes (2 vCPUs)'
set logscale xy
set xrange [0.8:45]
set xtics ({', '.join(str(lv) for lv in levels)})
set xlabel 'concurrent processes'
set ylabel 'decisions/s (log)'
set grid
set key outside bottom center horizontal maxrows 4 font ',8'
set title 'first sight (a new record: write)'
plot {plots(0)}
set title 'too early (retry before the delay: read)'
plot {plots(1)}
unset multiplot
"""
    with open(f"{outdir}/concurrency.gp", "w") as f:
        f.write(gp)
    # Run in outdir: the script names its files relatively, so it stays valid there.
    r = subprocess.run(["gnuplot", "concurrency.gp"], capture_output=True, text=True, cwd=outdir)
    if r.returncode != 0:
        # pngcairo is not in every gnuplot build; fall back to the plain png terminal
        gp = gp.replace("pngcairo size 1400,650 font ',10'", "png size 1400,650")
        with open(f"{outdir}/concurrency.gp", "w") as f:
            f.write(gp)
        subprocess.run(["gnuplot", "concurrency.gp"], check=True, cwd=outdir)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="directory for results.json, results.md and the plot")
    ap.add_argument("--keep", action="store_true", help="keep the lab directory")
    ap.add_argument("--only", default="single,core,first,profile,perf,conc",
                    help="comma list of parts: single core first profile perf conc")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    parts = set(a.only.split(","))
    if a.quick:
        n, repeat, rounds, levels, n_each, c_repeat, first_rounds = 200, 2, 1, [1, 2, 8, 32], 40, 2, 20
    else:
        n, repeat, rounds, levels, n_each, c_repeat, first_rounds = 5000, 4, 7, [1, 2, 8, 32], 300, 2, 300
    outdir = a.out or (tempfile.mkdtemp(prefix="exigrey-compare-out-") if a.quick else None)
    if outdir is None:
        sys.exit("compare: --out DIR is needed for a full run")
    os.makedirs(outdir, exist_ok=True)
    meta = machine()
    meta["load_start"] = " ".join(loadavg())
    meta["command"] = " ".join(sys.argv)
    meta["params"] = dict(rcpts=n, repeat=repeat, rounds=rounds, levels=levels,
                          rcpts_per_process=n_each, conc_repeat=c_repeat, first_rounds=first_rounds,
                          conc_rounds=1 if a.quick else 3, core_keys_factor=core_keys_factor(a.quick))
    log(f"machine: {meta}")
    sampler = LoadSampler()
    lab = Lab(build, f"{build}/plugin/libexigrey.so")
    results = {"machine": meta}
    try:
        lab.start_greylistd()
        lab.start_postgrey()
        if "core" in parts:
            log("in-process: exigrey_bench_core")
            results["core"] = bench_core(build, a.quick)
        if "single" in parts:
            log(f"single process: {n} RCPTs, retries x{repeat}, {rounds} rounds")
            results["single"] = single_process(lab, n, repeat, rounds, list(EXIM_VARIANTS))
        if "first" in parts:
            log("first call in a new process")
            results["first"] = first_call(lab, build, first_rounds)
        if "profile" in parts and shutil.which("valgrind"):
            log("callgrind profile of exim -bh sessions")
            results["profile"] = profile(lab, 200 if a.quick else 2000, 2)
        if "perf" in parts and shutil.which("perf"):
            log("perf: time by shared object in exim -bh sessions")
            results["perf"] = perf_shares(lab, 500 if a.quick else 5000, 4)
        if "conc" in parts:
            log(f"concurrency {levels}, {n_each} RCPTs per process")
            conc_variants = ["baseline", "exigrey-precious", "exigrey-meta", "exigrey-none", "seen",
                             "greylistd", "postgrey"]
            conc = concurrency(lab, levels, n_each, c_repeat, conc_variants, build, a.quick,
                               meta["params"]["conc_rounds"])
            results["conc"] = {f"{v}@{p}": x for (v, p), x in conc.items()}
    finally:
        lab.close(a.keep)
    meta["load_end"] = " ".join(loadavg())
    meta["load_samples"] = sampler.summary()
    with open(f"{outdir}/results.json", "w") as f:
        json.dump(results, f, indent=1)
    if parts >= {"single", "core", "first", "conc"}:
        text = tables(results["single"], results["core"], results["first"], conc, levels, meta,
                      results.get("profile"), results.get("perf"))
        plot(conc, levels, outdir)
        with open(f"{outdir}/results.md", "w") as f:
            f.write(text + "\n")
        print(text)
        print(f"\nresults: {outdir}/results.json, {outdir}/results.md, plot {outdir}/concurrency.png")
    else:
        print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The crash-state explorer: what an operating-system crash or power cut can
leave of a store, opened with the real code after a "reboot".

In the spirit of ALICE (Pillai et al., OSDI 2014) and CrashMonkey (Mohan et
al., OSDI 2018): a real workload (crash_tool workload: three processes in
three boots, with a crash, a recovery, a clean stop and a reopen) runs under
record_io.so, which records every write, sync and directory change of the
store's files. From that trace this script builds the disk images a crash
could leave at each point, and opens each one with `crash_tool check` as a
new process of a new boot:

  * a file's writes since its last fsync/fdatasync (or O_DSYNC write) may
    each be on disk or not, and a write may be torn at 512-byte sectors;
    later writes of the same bytes win when both made it;
  * creations, renames and removals reach the disk in order, all of them
    once the directory was synced, any prefix of the rest otherwise;
  * a file whose creation did not reach the disk is not there.

Per crash point it tries: everything written, nothing since the last syncs,
and --samples random choices, each opened in a new boot; and everything
written opened in the same boot, as after every process was killed (LMDB's
own rules, no recovery). Identical images
are opened once. It counts states, crashes of the checker (must be 0), wrong
answers (a precious record lost, or garbage answered as data: must be 0),
errors (the store could not be opened without an admin: must be 0) and
automatic recoveries.

  explore.py --tool crash_tool --shim record_io.so [--sync precious|none]
             [--rounds N] [--samples K] [--points all|syncs|N] [--seconds S]
             [--variant sound|no-recovery|keep-unsynced] [--expect clean|caught]
             [--jobs J] [--work DIR] [--json]

--variant no-recovery opens the images with recovery turned off, and
keep-unsynced records a workload whose keep file is never synced: both are
deliberately broken, and --expect caught makes the run succeed only if the
explorer finds wrong answers, crashes or errors there. Exit 0 when the
outcome is the expected one, 1 otherwise, 2 on a usage or set-up error.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

OP_CREATE, OP_WRITE, OP_SYNC, OP_TRUNC, OP_RENAME, OP_UNLINK, OP_MARK = range(1, 8)
SECTOR = 512
BOOT = "boot-after-crash"


def record(args, work):
    """Runs the workload's three phases under the recording shim."""
    data = os.path.join(work, "dir")
    os.makedirs(data)
    trace = os.path.join(work, "trace")
    model = os.path.join(work, "model")
    boot = os.path.join(work, "boot_id")
    open(model, "w").close()
    # A sanitizer build's runtime must come first in the preload list.
    ldd = subprocess.run(["ldd", args.tool], capture_output=True, text=True).stdout.split("\n")
    runtimes = [w[2] for w in (ln.split() for ln in ldd)
                if len(w) > 2 and w[0].startswith(("libasan.so", "libubsan.so"))]
    env = dict(os.environ, LD_PRELOAD=" ".join(runtimes + [os.path.abspath(args.shim)]),
               CRASH_DIR=data, CRASH_TRACE=trace, ASAN_OPTIONS="detect_leaks=0")
    if args.variant == "keep-unsynced":
        env["CRASH_DROP_SYNC"] = ".keep"
    for phase in "abc":
        r = subprocess.run([args.tool, "workload", data, boot, model, phase, "--sync", args.sync,
                            "--rounds", str(args.rounds)], env=env, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            sys.exit(f"explore: workload phase {phase} failed ({r.returncode}): {r.stderr.strip()}")
    written = set()
    with open(model) as f:
        for line in f:
            tag, _, name = line.strip().partition(" ")
            if tag == "written":
                written.add(name)
    return data, trace, written


def parse(trace, data_dir):
    ops = []
    with open(trace, "rb") as f:
        blob = f.read()
    pos = 0
    prefix = data_dir.rstrip("/") + "/"
    while pos + 24 <= len(blob):
        op, _pid, offset, length, l1, l2 = struct.unpack_from("<IIQIHH", blob, pos)
        pos += 24
        p1 = blob[pos:pos + l1].decode()
        pos += l1
        p2 = blob[pos:pos + l2].decode()
        pos += l2
        payload = blob[pos:pos + length]
        pos += length
        name = lambda p: p[len(prefix):] if p.startswith(prefix) else ("" if p else None)
        ops.append((op, offset, name(p1) if p1 != data_dir else ".", name(p2), payload))
    return ops


class Model:
    """Inodes, their data operations, and the directory's operations, with
    the durability each sync gives, indexed by trace position."""

    def __init__(self, ops):
        self.ops = ops
        self.names = {}           # current name -> inode
        self.next_inode = 0
        self.data = {}            # inode -> [(op index, kind, offset, payload)]
        self.dirops = []          # [(op index, kind, a, b, inode)]
        self.synced_data = {}     # inode -> list of (op index of sync, count of data ops durable)
        self.dir_syncs = []       # [(op index, count of dir ops durable)]
        self.marks = []           # [(op index, text)]
        for i, (op, offset, a, b, payload) in enumerate(ops):
            if op == OP_MARK:
                for line in payload.decode().splitlines():
                    self.marks.append((i, line))
            elif op == OP_CREATE:
                ino = self.next_inode
                self.next_inode += 1
                self.names[a] = ino
                self.data[ino] = []
                self.dirops.append((i, "create", a, None, ino))
            elif op in (OP_WRITE, OP_TRUNC):
                ino = self.inode_of(a)
                self.data[ino].append((i, op, offset, payload))
            elif op == OP_SYNC:
                if a == ".":
                    self.dir_syncs.append((i, len(self.dirops)))
                else:
                    ino = self.inode_of(a)
                    self.synced_data.setdefault(ino, []).append((i, len(self.data[ino])))
            elif op == OP_RENAME:
                ino = self.names.pop(a, None) if a else None
                if ino is None:
                    ino = self.new_inode()
                self.names[b] = ino
                self.dirops.append((i, "rename", a, b, ino))
            elif op == OP_UNLINK:
                ino = self.names.pop(a, None)
                self.dirops.append((i, "unlink", a, None, ino))

    def new_inode(self):
        ino = self.next_inode
        self.next_inode += 1
        self.data[ino] = []
        return ino

    def inode_of(self, name):
        if name not in self.names:  # existed before the trace (not expected)
            self.names[name] = self.new_inode()
        return self.names[name]

    def durable_count(self, ino, point):
        n = 0
        for i, count in self.synced_data.get(ino, []):
            if i < point:
                n = count
        return n

    def dir_durable(self, point):
        n = 0
        for i, count in self.dir_syncs:
            if i < point:
                n = count
        return n

    def boot_at(self, point):
        """The boot the workload was in just before op `point` (None before it began)."""
        boot = None
        for i, line in self.marks:
            if i >= point:
                break
            if line.startswith("opening "):
                boot = "boot-" + line.split()[1]
        return boot

    def facts(self, point):
        """The workload's promises in force for a crash just before op `point`."""
        must, every = [], []
        for i, line in self.marks:
            if i >= point:
                break
            word, _, rest = line.partition(" ")
            if word == "must":
                must = rest.split()
            elif word == "all":
                every = rest.split()
            elif word == "opening":
                every = []
        return [("P", n) for n in must] + [("E", n) for n in every if n not in must]


def image(model, point, rng, mode):
    """The files a crash just before op `point` may leave: {name: bytes}."""
    dir_total = sum(1 for d in model.dirops if d[0] < point)
    dir_min = model.dir_durable(point)
    if mode == "all":
        dir_n = dir_total
    elif mode == "none":
        dir_n = dir_min
    else:
        dir_n = rng.randint(dir_min, dir_total)
    names = {}
    for _i, kind, a, b, ino in model.dirops[:dir_n]:
        if kind == "create":
            names[a] = ino
        elif kind == "rename":
            if a:
                names.pop(a, None)
            names[b] = ino
        elif kind == "unlink":
            names.pop(a, None)
    files = {}
    for name, ino in names.items():
        if name == "crash-marks":
            continue
        ops = [d for d in model.data[ino] if d[0] < point]
        durable = model.durable_count(ino, point)
        content = bytearray()
        for k, (_i, kind, offset, payload) in enumerate(ops):
            torn = None
            if k >= durable:
                if mode == "none":
                    continue
                if mode == "random":
                    if rng.random() < 0.5:
                        continue
                    if rng.random() < 0.3 and len(payload) > SECTOR:
                        torn = [rng.random() < 0.5 for _ in range((len(payload) + SECTOR - 1) // SECTOR)]
            if kind == OP_TRUNC:
                if offset < len(content):
                    del content[offset:]
                else:
                    content.extend(bytes(offset - len(content)))
                continue
            end = offset + len(payload)
            if end > len(content):
                content.extend(bytes(end - len(content)))
            if torn is None:
                content[offset:end] = payload
            else:
                for s, keep in enumerate(torn):
                    if keep:
                        lo = s * SECTOR
                        hi = min(lo + SECTOR, len(payload))
                        content[offset + lo:offset + hi] = payload[lo:hi]
        files[name] = bytes(content)
    return files


def points(model, how, rng):
    n = len(model.ops)
    interesting = sorted({i + 1 for i, op in enumerate(model.ops)
                          if op[0] in (OP_SYNC, OP_RENAME, OP_UNLINK, OP_CREATE, OP_MARK)} |
                         {i for i, op in enumerate(model.ops) if op[0] in (OP_SYNC, OP_RENAME)})
    if how == "all":
        return list(range(n + 1))
    if how == "syncs":
        return [p for p in interesting if 0 <= p <= n]
    k = int(how)
    rest = sorted(set(range(n + 1)) - set(interesting))
    return sorted(set(interesting) | set(rng.sample(rest, min(k, len(rest)))))


def check(args, work, files, facts, written_file, index, boot_id=BOOT):
    state = os.path.join(work, f"state-{index}")
    os.makedirs(state)
    try:
        for name, content in files.items():
            with open(os.path.join(state, name), "wb") as f:
                f.write(content)
        facts_file = os.path.join(state, "..", f"facts-{index}")
        with open(facts_file, "w") as f:
            for kind, name in facts:
                f.write(f"{kind} {name}\n")
        boot = os.path.join(work, f"boot-{index}")
        with open(boot, "w") as f:
            f.write(boot_id + "\n")
        cmd = [args.tool, "check", state, boot, facts_file, written_file, "--sync", args.sync]
        if args.variant == "no-recovery":
            cmd.append("--no-recovery")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "error", "the checker hung for 60 s"
        out = r.stdout.strip()
        if r.returncode < 0:
            return "crash", f"signal {-r.returncode}: {r.stderr.strip()[-200:]}"
        if r.returncode == 0:
            return ("recovered" if out.endswith("recovered=1") else "ok"), out
        if r.returncode == 1:
            return "wrong", out
        return "error", out or r.stderr.strip()[-200:]
    finally:
        shutil.rmtree(state, ignore_errors=True)
        for extra in (f"facts-{index}", f"boot-{index}"):
            try:
                os.unlink(os.path.join(work, extra))
            except FileNotFoundError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--sync", default="precious", choices=["precious", "none"])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--points", default="syncs")
    ap.add_argument("--seconds", type=float, default=0, help="stop trying new states after this")
    ap.add_argument("--variant", default="sound", choices=["sound", "no-recovery", "keep-unsynced"])
    ap.add_argument("--expect", default="clean", choices=["clean", "caught"])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--min-states", type=int, default=100,
                    help="fail if fewer distinct states were opened")
    ap.add_argument("--work")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for path in (args.tool, args.shim):
        if not os.path.exists(path):
            sys.exit(f"explore: {path} does not exist")
    work = args.work or tempfile.mkdtemp(prefix="exigrey-crash-")
    os.makedirs(work, exist_ok=True)
    started = time.monotonic()
    rng = random.Random(args.seed)
    try:
        data_dir, trace, written = record(args, work)
        written_file = os.path.join(work, "written")
        with open(written_file, "w") as f:
            f.write("\n".join(sorted(written)) + "\n")
        ops = parse(trace, data_dir)
        model = Model(ops)
        plan = []
        for p in points(model, args.points, rng):
            plan.append((p, "all"))
            plan.append((p, "none"))
            plan.extend((p, "random") for _ in range(args.samples))
            # Every process killed at once, the machine up: the same boot, no
            # recovery, and LMDB's own rules must give a sound store.
            if model.boot_at(p):
                plan.append((p, "killed"))
        counts = dict(states=0, distinct=0, ok=0, recovered=0, wrong=0, crash=0, error=0)
        failures = []
        seen = set()
        deadline = started + args.seconds if args.seconds > 0 else None

        def jobs():
            for n, (p, mode) in enumerate(plan):
                if deadline and time.monotonic() > deadline:
                    return
                files = image(model, p, rng, "all" if mode == "killed" else mode)
                facts = model.facts(p)
                boot = model.boot_at(p) if mode == "killed" else BOOT
                digest = hashlib.sha256(repr((sorted(files.items()), facts, boot)).encode()).digest()
                counts["states"] += 1
                if digest in seen:
                    continue
                seen.add(digest)
                counts["distinct"] += 1
                yield n, p, mode, files, facts, boot

        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            pending = set()
            for n, p, mode, files, facts, boot in jobs():
                pending.add(pool.submit(
                    lambda a: (a, check(args, work, a[3], a[4], written_file, a[0], a[5])),
                    (n, p, mode, files, facts, boot)))
                if len(pending) >= args.jobs * 4:
                    done, pending = concurrent.futures.wait(pending, return_when="FIRST_COMPLETED")
                    for fut in done:
                        (n2, p2, mode2, _f, _x, _b), (verdict, text) = fut.result()
                        counts[verdict] += 1
                        if verdict in ("wrong", "crash", "error") and len(failures) < 10:
                            failures.append(f"op {p2}/{len(ops)} ({mode2}): {verdict}: {text}")
            for fut in concurrent.futures.as_completed(pending):
                (n2, p2, mode2, _f, _x, _b), (verdict, text) = fut.result()
                counts[verdict] += 1
                if verdict in ("wrong", "crash", "error") and len(failures) < 10:
                    failures.append(f"op {p2}/{len(ops)} ({mode2}): {verdict}: {text}")
        counts["ops"] = len(ops)
        counts["seconds"] = round(time.monotonic() - started, 1)
        bad = counts["wrong"] + counts["crash"] + counts["error"]
        outcome_ok = bad == 0 if args.expect == "clean" else bad > 0
        if counts["distinct"] < args.min_states:
            failures.append(f"only {counts['distinct']} distinct states, fewer than {args.min_states}")
            outcome_ok = False
        summary = (f"explore: {args.variant}, sync={args.sync}: {counts['ops']} recorded ops, "
                   f"{counts['states']} crash states ({counts['distinct']} distinct) in "
                   f"{counts['seconds']} s: {counts['ok']} sound, {counts['recovered']} recovered, "
                   f"{counts['wrong']} wrong answers, {counts['crash']} crashes, "
                   f"{counts['error']} errors")
        if args.json:
            print(json.dumps(dict(counts, variant=args.variant, sync=args.sync,
                                  failures=failures, outcome_ok=outcome_ok)))
        else:
            print(summary)
            for f in failures:
                print("  " + f)
            if args.expect == "caught":
                print("explore: the broken variant was " + ("caught" if bad else "NOT caught"))
        return 0 if outcome_ok else 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of the built `exigrey` binary.

Stores are written by core's decide() through tests/cli/grey_writer (the way
the Exim plugin writes them) or by exigrey itself. Outputs and exit statuses
are compared exactly. Run by ctest (tests/cli/CMakeLists.txt) with EXIGREY,
GREY_WRITER, EXIGREY_CONFIG and TZ=UTC in the environment; one argument
selects the test class, e.g. `test_cli.py -v Query`.
"""
import calendar
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

EXIGREY = os.environ["EXIGREY"]
WRITER = os.environ["GREY_WRITER"]
T0 = 1700000000  # 2023-11-14 22:13:20 UTC
DAY = 86400
HERE = os.path.dirname(os.path.abspath(__file__))


def escape(key: bytes) -> str:
    """The dump escaping (docs/internals-dump.md), for grey_writer keys."""
    if key == b"":
        return "-"
    if key == b"-":
        return "%2D"
    return "".join(chr(c) if 0x20 < c < 0x7F and c != 0x25 else "%%%02X" % c for c in key)


def run(args, stdin=None, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(args, input=stdin, capture_output=True, env=full_env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode(
        "utf-8", "surrogateescape")


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="exigrey-cli-")
        self.db = os.path.join(self.dir, "seen")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def grey(self, *args, stdin=None, env=None):
        """Runs exigrey on this test's directory; returns (status, stdout, stderr)."""
        return run([EXIGREY, "--dir", self.dir, *args], stdin=stdin, env=env)

    def ok(self, *args, stdin=None, env=None):
        rc, out, err = self.grey(*args, stdin=stdin, env=env)
        self.assertEqual((rc, err), (0, ""), f"exigrey {' '.join(args)}: {out}")
        return out

    def fails(self, status, *args, stdin=None, env=None):
        """Runs exigrey expecting `status`; returns the one-line error."""
        rc, out, err = self.grey(*args, stdin=stdin, env=env)
        self.assertEqual(rc, status, f"exigrey {' '.join(args)}: {out!r} {err!r}")
        self.assertRegex(err, r"^exigrey: [^\n]+\n$")
        return err

    def decide(self, calls, db=None):
        """Runs core's decide() for (now, delay, key-bytes) triples; returns the answers."""
        text = "".join(f"{now} {delay} {escape(key)}\n" for now, delay, key in calls)
        rc, out, err = run([WRITER, "script", db or self.db], stdin=text.encode())
        self.assertEqual((rc, err), (0, ""))
        return out.splitlines()

    def sample(self):
        """The store most tests read: two passes whitelisted x and y."""
        answers = self.decide([
            (T0, 600, b"a->b/x"),
            (T0 + 600, 600, b"a->b/y"),
            (T0 + 10, 600, b"c->d/1.2.3.4"),
            (T0 + 20, 600, b"e->f"),
            (T0 + 30, 600, b"with space\nnl/q"),
        ])
        self.assertEqual(answers, ["yes new", "no passed", "yes new", "yes new", "yes new"])


class Basics(Base):
    def test_version_and_help(self):
        self.assertEqual(run([EXIGREY, "--version"]), (0, "exigrey 0.1.0\n", ""))
        rc, out, err = run([EXIGREY, "--help"])
        self.assertEqual((rc, err), (0, ""))
        for cmd in ["list", "show", "check", "delete", "whitelist", "purge", "stats", "readers",
                    "outbox", "dump", "load", "verify"]:
            self.assertRegex(out, rf"\n  {cmd} ")
        for cmd in [["list"], ["show"], ["check"], ["delete"], ["whitelist"], ["whitelist", "add"],
                    ["whitelist", "del"], ["whitelist", "list"], ["purge"], ["stats"],
                    ["readers"], ["outbox"], ["dump"], ["load"], ["verify"]]:
            rc, out, err = run([EXIGREY, *cmd, "--help"])
            self.assertEqual((rc, err), (0, ""), cmd)
            self.assertIn("Usage: exigrey " + " ".join(cmd), out)

    def test_global_options_may_follow_the_command(self):
        self.sample()
        a = run([EXIGREY, "--dir", self.dir, "--json", "list", "c"])
        b = run([EXIGREY, "list", "c", "--json", "--dir", self.dir])
        self.assertEqual(a, b)
        self.assertEqual(a[1].count("\n"), 1)

    def test_db_names_and_paths(self):
        other = os.path.join(self.dir, "other")
        self.decide([(T0, 600, b"k")], db=other)
        expected = "ITEM  CREATED              USED                 COUNT  FIRST\n" \
                   "k     2023-11-14 22:13:20  2023-11-14 22:13:20      0\n"
        self.assertEqual(self.ok("--db", "other", "list"), expected)
        self.assertEqual(run([EXIGREY, "--db", other, "list"]), (0, expected, ""))
        p = subprocess.run([EXIGREY, "--db", "./other", "list"], cwd=self.dir, capture_output=True,
                           text=True)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, expected, ""))

    def test_default_directory_comes_from_exim(self):
        fake = os.path.join(self.dir, "fake-exim")
        with open(fake, "w") as f:
            f.write(f"#!/bin/sh\n[ \"$*\" = '-n -bP spool_directory' ] && echo {self.dir}/spool\n")
        os.chmod(fake, 0o755)
        rc, out, err = run([EXIGREY, "list"], env={"EXIGREY_EXIM": fake})
        self.assertEqual((rc, out, err),
                         (1, "", f"exigrey: store {self.dir}/spool/grey/seen does not exist\n"))
        # Without Exim: the Debian default, with a note.
        rc, out, err = run([EXIGREY, "--db", "no-such-db-xyz", "list"],
                           env={"EXIGREY_EXIM": "/nonexistent/exim"})
        self.assertEqual(rc, 1)
        self.assertEqual(err,
                         "exigrey: note: cannot ask Exim for its spool directory "
                         "($EXIGREY_EXIM is not an executable); using /var/spool/exim4/grey\n"
                         "exigrey: store /var/spool/exim4/grey/no-such-db-xyz does not exist\n")

    @unittest.skipUnless(shutil.which("exim", path="/usr/sbin:/usr/bin"), "Exim not installed")
    def test_default_directory_from_the_real_exim(self):
        spool = subprocess.run(["/usr/sbin/exim", "-n", "-bP", "spool_directory"],
                               capture_output=True, text=True).stdout.strip()
        rc, out, err = run([EXIGREY, "--db", "no-such-db-xyz", "list"])
        self.assertEqual((rc, err),
                         (1, f"exigrey: store {spool}/grey/no-such-db-xyz does not exist\n"))

    def test_settings_file(self):
        conf = os.path.join(self.dir, "exigrey.conf")
        with open(conf, "w") as f:
            f.write(f"directory = {self.dir}/fromconf\nsync = none\nmap_size = 1M\n")
        rc, out, err = run([EXIGREY, "--config", conf, "whitelist", "add", "1.2.3.4"])
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(os.path.exists(f"{self.dir}/fromconf/seen"))
        rc, out, err = run([EXIGREY, "whitelist", "list"], env={"EXIGREY_CONFIG": conf})
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("1.2.3.4", out)
        rc, out, err = run([EXIGREY, "--config", self.dir + "/missing.conf", "list"])
        self.assertEqual((rc, err), (2, f"exigrey: settings file {self.dir}/missing.conf does "
                                        "not exist\n"))

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_files_created_as_root_belong_to_exim(self):
        try:
            exim = pwd.getpwnam("Debian-exim")
        except KeyError:
            self.skipTest("no Debian-exim user")
        grey = os.path.join(self.dir, "grey")
        rc, out, err = run([EXIGREY, "--dir", grey, "whitelist", "add", "1.2.3.4"])
        self.assertEqual((rc, err), (0, ""))
        # The store, its lock, and (sync = precious) its crash marker and keep file.
        files = ["seen", "seen-lock", "seen.keep", "seen.keep-lock", "seen.state"]
        self.assertEqual(sorted(os.listdir(grey)), files)
        for path in [grey] + [grey + "/" + f for f in files]:
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid), (exim.pw_uid, exim.pw_gid), path)
        self.assertEqual(os.stat(grey).st_mode & 0o777, 0o750)
        # A reader creates only the lock file, and hands it over too.
        os.unlink(grey + "/seen-lock")
        rc, out, err = run([EXIGREY, "--dir", grey, "list", "-w"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(os.stat(grey + "/seen-lock").st_uid, exim.pw_uid)
        self.assertEqual(sorted(os.listdir(grey)), files)


class Query(Base):
    def test_list(self):
        self.sample()
        self.assertEqual(self.ok("list"),
                         "ITEM            CREATED              USED                 COUNT  FIRST\n"
                         "a->b            2023-11-14 22:13:20  2023-11-14 22:23:20      1\n"
                         "c->d            2023-11-14 22:13:30  2023-11-14 22:13:30      0  1.2.3.4\n"
                         "e->f            2023-11-14 22:13:40  2023-11-14 22:13:40      0\n"
                         "with space\\nnl  2023-11-14 22:13:50  2023-11-14 22:13:50      0  q\n")
        self.assertEqual(self.ok("list", "--epoch", "c"),
                         "ITEM  CREATED     USED        COUNT  FIRST\n"
                         "c->d  1700000010  1700000010      0  1.2.3.4\n")
        self.assertEqual(self.ok("list", "--json"),
                         '{"type":"item","name":"a->b","created":1700000000,"used":1700000600,'
                         '"count":1,"first":null}\n'
                         '{"type":"item","name":"c->d","created":1700000010,"used":1700000010,'
                         '"count":0,"first":"1.2.3.4"}\n'
                         '{"type":"item","name":"e->f","created":1700000020,"used":1700000020,'
                         '"count":0,"first":null}\n'
                         '{"type":"item","name":"with space\\nnl","created":1700000030,'
                         '"used":1700000030,"count":0,"first":"q"}\n')
        names = lambda out: [json.loads(l)["name"] for l in out.splitlines()]
        self.assertEqual(names(self.ok("list", "--json", "--waiting")),
                         ["c->d", "e->f", "with space\nnl"])
        self.assertEqual(names(self.ok("list", "--json", "--passed")), ["a->b"])
        self.assertEqual(names(self.ok("list", "--json", "--older-than", "1d")),
                         ["a->b", "c->d", "e->f", "with space\nnl"])
        self.assertEqual(self.ok("list", "--newer-than", "1d"), "")
        self.assertEqual(self.ok("list", "zzz"), "")
        self.assertEqual(self.ok("list", "--whitelist"),
                         "SUFFIX  CREATED              LAST USED\n"
                         "x       2023-11-14 22:23:20  2023-11-14 22:23:20\n"
                         "y       2023-11-14 22:23:20  2023-11-14 22:23:20\n")
        self.assertEqual(self.ok("list", "-w", "--json", "y"),
                         '{"type":"whitelist","suffix":"y","created":1700000600,'
                         '"last_used":1700000600}\n')

    def test_list_needs_a_store(self):
        self.assertEqual(self.fails(1, "list"), f"exigrey: store {self.db} does not exist\n")
        self.assertEqual(os.listdir(self.dir), [])  # nothing created

    def test_show(self):
        self.sample()
        self.assertEqual(self.ok("--epoch", "show", "a->b"),
                         "item     a->b\n"
                         "created  1700000000\n"
                         "used     1700000600\n"
                         "count    1\n"
                         "first    -\n"
                         "state    passed\n")
        out = self.ok("show", "c->d")
        self.assertRegex(out, r"^item     c->d\ncreated  2023-11-14 22:13:30 \(\d+w(\d+d)? ago\)\n")
        self.assertIn("\nfirst    1.2.3.4\nstate    waiting (never passed)\n", out)
        self.assertEqual(self.ok("show", "--json", "with space\nnl"),
                         '{"type":"item","name":"with space\\nnl","created":1700000030,'
                         '"used":1700000030,"count":0,"first":"q"}\n')
        self.assertEqual(self.ok("--epoch", "show", "-w", "x"),
                         "suffix     x\ncreated    1700000600\nlast used  1700000600\n")
        self.assertEqual(self.fails(1, "show", "a->b/x"),
                         f'exigrey: no item "a->b/x" in {self.db} (show takes the item without '
                         '/SUFFIX: try "a->b")\n')
        self.assertEqual(self.fails(1, "show", "nope"), f'exigrey: no item "nope" in {self.db}\n')
        self.assertEqual(self.fails(1, "show", "-w", "nope"),
                         f'exigrey: no whitelist entry "nope" in {self.db}\n')

    def test_check_is_the_verdict_and_changes_nothing(self):
        self.sample()
        before = self.ok("dump")
        at = lambda t: ["--at", str(t)]
        self.assertEqual(self.ok("check", "a->b/x", *at(T0 + 700)),
                         "no (whitelisted: the suffix x is whitelisted)\n")
        self.assertEqual(self.ok("check", "c->d/9.9.9.9", *at(T0 + 100)),
                         "yes (too-early: seen before; a retry passes in 8m30s)\n")
        self.assertEqual(self.ok("check", "c->d/9.9.9.9", *at(T0 + 610)),
                         "no (passed: the delay is over: it passes, 10m after its first "
                         "sighting)\n")
        self.assertEqual(self.ok("check", "c->d", "--delay", "1h30m", *at(T0 + 610)),
                         "yes (too-early: seen before; a retry passes in 1h20m)\n")
        self.assertEqual(self.ok("check", "new/z", *at(T0)),
                         "yes (new: first sighting: it would be recorded; a retry passes after "
                         "10m)\n")
        self.assertEqual(self.ok("check", "--json", "e->f", "--delay", "0", *at(T0 + 20)),
                         '{"key":"e->f","item":"e->f","suffix":null,"unseen":"no",'
                         '"verdict":"pass","reason":"passed","wait":0,"delayed":0,"at":1700000020}\n')
        # A record from the future (the clock was stepped back) is too early.
        self.assertEqual(self.ok("check", "e->f", "--delay", "0", *at(T0)),
                         "yes (too-early: seen before; a retry passes in 20s)\n")
        self.assertEqual(self.ok("dump"), before)
        # The same answers as decide() itself gives at those times.
        self.assertEqual(self.decide([(T0 + 100, 600, b"c->d/9.9.9.9"),
                                      (T0 + 610, 600, b"c->d/9.9.9.9")]),
                         ["yes too-early", "no passed"])

    def test_check_without_a_store(self):
        self.assertEqual(self.ok("check", "a/b"),
                         "yes (new: first sighting: it would be recorded; a retry passes after "
                         "10m)\n")
        self.assertEqual(os.listdir(self.dir), [])


class Edit(Base):
    def test_delete(self):
        self.sample()
        self.assertEqual(self.ok("delete", "a->b", "e->f"), "deleted item a->b\ndeleted item e->f\n")
        rc, out, err = self.grey("delete", "c->d", "nope")
        self.assertEqual((rc, out, err), (1, "deleted item c->d\n",
                                          f'exigrey: no item "nope" in {self.db}\n'))
        self.assertEqual([json.loads(l)["name"] for l in self.ok("list", "--json").splitlines()],
                         ["with space\nnl"])
        self.assertEqual(self.ok("delete", "--whitelist", "x"), "deleted whitelist entry x\n")
        self.assertEqual(self.ok("whitelist", "del", "y"), "deleted whitelist entry y\n")
        self.assertEqual(self.ok("list", "-w"), "")
        self.assertEqual(self.fails(1, "whitelist", "del", "y"),
                         f'exigrey: no whitelist entry "y" in {self.db}\n')

    def test_delete_needs_a_store_and_creates_none(self):
        self.assertEqual(self.fails(1, "delete", "k"), f"exigrey: store {self.db} does not exist\n")
        self.assertEqual(os.listdir(self.dir), [])

    def test_whitelist_add_takes_effect_for_decide(self):
        self.assertEqual(self.ok("whitelist", "add", "9.9.9.9", "8.8.8.8"),
                         "whitelisted 9.9.9.9\nwhitelisted 8.8.8.8\n")
        self.assertEqual(self.ok("whitelist", "add", "9.9.9.9"), "refreshed 9.9.9.9\n")
        self.assertEqual(self.ok("whitelist", "list", "9"),
                         self.ok("list", "--whitelist", "9"))
        self.assertEqual(self.ok("whitelist", "list", "--json", "9").count("\n"), 1)
        now = int(time.time())
        self.assertEqual(self.decide([(now, 600, b"s->r/9.9.9.9"), (now, 600, b"s->r/7.7.7.7")]),
                         ["no whitelisted", "yes new"])
        self.assertEqual(self.fails(2, "whitelist", "add", ""),
                         "exigrey: a whitelist suffix cannot be empty\n")


class Purge(Base):
    def setUp(self):
        super().setUp()
        self.now = int(time.time())
        self.decide([
            (T0, 600, b"old-1/x"),
            (T0 + 600, 600, b"old-1/y"),  # whitelists x and y, long ago
            (T0, 600, b"old-2"),
            (self.now - 40 * DAY, 600, b"old-3/z"),
            (self.now - 10 * DAY, 600, b"recent/r"),
            (self.now, 0, b"fresh/f"),
            (self.now, 0, b"fresh/f"),  # passes now: f is whitelisted now
        ])

    def purge(self, *args):
        """Runs purge with --epoch; checks the cutoff (now - 30d) and shows it as CUTOFF."""
        before = int(time.time())
        out = self.ok("--epoch", "purge", "--older-than", "30d", *args)
        after = int(time.time())
        cutoff = int(re.search(r" last used before (\d+) \(", out).group(1))
        self.assertTrue(before - 30 * DAY <= cutoff <= after - 30 * DAY, out)
        return out.replace(f" before {cutoff} (", " before CUTOFF (")

    def test_dry_run_then_purge(self):
        before = self.ok("dump")
        out = self.purge("--dry-run")
        self.assertEqual(out,
                         "would remove item old-1 (last used 1700000600)\n"
                         "would remove item old-2 (last used 1700000000)\n"
                         f"would remove item old-3 (last used {self.now - 40 * DAY})\n"
                         "would remove whitelist entry x (last used 1700000600)\n"
                         "would remove whitelist entry y (last used 1700000600)\n"
                         "purge: would remove 3 items and 2 whitelist entries last used before "
                         "CUTOFF (8 scanned, 0 write batches)\n")
        self.assertEqual(self.ok("dump"), before)
        self.assertEqual(self.purge(),
                         out.replace("would remove", "removed").replace(
                             "(8 scanned, 0 write batches)", "(8 scanned, 2 write batches)"))
        self.assertEqual([json.loads(l)["name"] for l in self.ok("list", "--json").splitlines()],
                         ["fresh", "recent"])
        self.assertEqual(self.ok("list", "-w", "--json").count('"suffix":"f"'), 1)
        self.assertEqual(self.purge("-q"),
                         "purge: removed 0 items and 0 whitelist entries last used before "
                         "CUTOFF (3 scanned, 0 write batches)\n")

    def test_json_and_quiet(self):
        out = self.ok("purge", "--older-than", "1w", "--json", "-q").splitlines()
        self.assertEqual(len(out), 1)
        s = json.loads(out[0])
        self.assertEqual((s["summary"], s["items"], s["whitelist"], s["dry_run"]),
                         ("purge", 4, 2, False))

    def test_large_purge_goes_in_batches(self):
        # 4500 old items written by core, removed in write batches of at most 1000.
        dump = "exigrey-dump 1\n" + "".join(f"item bulk-{i} {T0} {T0} 0 -\n" for i in range(4500)) \
            + "end 4500 0\n"
        self.ok("load", stdin=dump.encode())
        s = json.loads(self.ok("purge", "--older-than", "30d", "--json", "-q"))
        self.assertEqual(s["items"], 4503)
        self.assertGreaterEqual(s["batches"], 5)

    def test_purge_while_four_writers_decide(self):
        # 20000 old items; four processes decide (delay 0, real clock) on random
        # old keys and on fresh ones while purge runs. Whatever a writer used must
        # be there at the end, and no writer may fail.
        n_old = 20000
        dump = "exigrey-dump 1\n" + "".join(f"item old-{i} {T0} {T0} 0 -\n" for i in range(n_old)) \
            + f"end {n_old} 0\n"
        self.ok("load", stdin=dump.encode())
        logs = [os.path.join(self.dir, f"writer{i}.log") for i in range(4)]
        writers = [subprocess.Popen([WRITER, "hammer", self.db, "4000", str(i + 1), str(n_old),
                                     logs[i]], stderr=subprocess.PIPE) for i in range(4)]
        time.sleep(0.3)
        purges = []
        for _ in range(3):
            rc, out, err = self.grey("purge", "--older-than", "30d", "--json")
            self.assertEqual((rc, err), (0, ""))
            purges.append(out)
            time.sleep(0.2)
        for w in writers:
            _, err = w.communicate(timeout=60)
            self.assertEqual((w.returncode, err), (0, b""))
        touched = set()
        latencies = []
        for log in logs:
            with open(log) as f:
                for line in f:
                    key, reason, micros = line.split()
                    touched.add(key)
                    latencies.append(int(micros))
        self.assertGreater(len([k for k in touched if k.startswith("old-")]), 100)
        present = {json.loads(l)["name"] for l in self.ok("list", "--json").splitlines()}
        self.assertEqual(touched - present, set(), "used records were purged")
        removed = {json.loads(l)["name"] for out in purges for l in out.splitlines()
                   if '"removed":"item"' in l}
        # Everything old that nobody used is gone, and purge removed it.
        untouched_old = {f"old-{i}" for i in range(n_old)} - touched
        self.assertEqual(untouched_old & present, set())
        self.assertEqual(untouched_old - removed, set())
        latencies.sort()
        print(f"\n{len(latencies)} decisions during purge; p99 "
              f"{latencies[len(latencies) * 99 // 100]} us, max {latencies[-1]} us")


class Info(Base):
    def test_stats(self):
        self.sample()
        out = self.ok("stats")
        self.assertRegex(out,
                         rf"^store              {re.escape(self.db)}\n"
                         r"items              4 \(waiting 3, passed 1\)\n"
                         r"whitelist entries  2\n"
                         r"items created      2023-11-14 22:13:20 \.\. 2023-11-14 22:13:50\n"
                         r"items used         2023-11-14 22:13:30 \.\. 2023-11-14 22:23:20\n"
                         r"whitelist used     2023-11-14 22:23:20 \.\. 2023-11-14 22:23:20\n"
                         r"file size          \d+\.\d KiB\n"
                         r"map                \d+\.\d KiB used of 4\.0 GiB \(0\.0%\)\n"
                         r"reader slots       \d+ of 1024 in use\n"
                         r"sync               precious: open since [-0-9: ]+, boot [-0-9a-f]{8}\n"
                         r"keep file          3 records, last flush [-0-9: ]+\n"
                         r"last recovery      none\n$")
        s = json.loads(self.ok("stats", "--json"))
        self.assertEqual({k: s[k] for k in ["items", "waiting", "passed", "whitelist",
                                            "oldest_created", "newest_used", "max_readers",
                                            "sync", "marker", "keep_records", "unflushed",
                                            "last_recovery"]},
                         {"items": 4, "waiting": 3, "passed": 1, "whitelist": 2,
                          "oldest_created": T0, "newest_used": T0 + 600, "max_readers": 1024,
                          "sync": "precious", "marker": "open", "keep_records": 3,
                          "unflushed": 0, "last_recovery": None})
        self.assertGreater(s["map_size"], s["map_used"])
        self.assertGreater(s["file_size"], 0)

    def test_readers_shows_and_clears_stale_slots(self):
        self.sample()
        self.assertEqual(self.ok("readers"), "no reader slots in use\n")

        def hold():
            p = subprocess.Popen([WRITER, "hold", self.db], stdout=subprocess.PIPE)
            self.addCleanup(p.stdout.close)
            self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
            self.assertEqual(p.stdout.readline(), b"ready\n")
            return p

        # Two processes hold readers; one dies without releasing its slot. (The
        # other keeps the environment open: when the last user goes, the next
        # one to open resets the whole table.)
        dying, staying = hold(), hold()
        self.assertRegex(self.ok("readers"),
                         rf"^ *PID  THREAD +TXNID  STATE\n *{dying.pid}  [0-9a-f]+  \d+ +live\n"
                         rf" *{staying.pid}  [0-9a-f]+  \d+ +live\n$")
        dying.send_signal(signal.SIGKILL)
        dying.wait()
        out = self.ok("readers")
        self.assertRegex(out, rf"\n *{dying.pid}  [0-9a-f]+  \d+ +dead\n")
        self.assertRegex(out, rf"\n *{staying.pid}  [0-9a-f]+  \d+ +live\n")
        # Any other command clears the dead slot when it opens the store; stats
        # counts the live one and its own.
        self.assertEqual(json.loads(self.ok("stats", "--json"))["readers_used"], 2)
        self.assertEqual(len(self.ok("readers", "--json").splitlines()), 1)
        dying = hold()
        dying.send_signal(signal.SIGKILL)
        dying.wait()
        out = self.ok("readers", "--check")
        self.assertRegex(out, rf"^cleared 1 stale reader slot\n *PID  THREAD +TXNID  STATE\n"
                              rf" *{staying.pid}  [0-9a-f]+  \d+ +live\n$")
        self.assertEqual(self.ok("readers", "--check", "--json").splitlines()[0], '{"cleared":0}')

    def test_outbox_before_anything_was_reported(self):
        self.assertEqual(self.ok("outbox"),
                         f"outbox    {self.dir}/outbox (none yet: nothing reported)\n"
                         "pending   0 (black 0, white 0)\n"
                         "oldest    -\n"
                         "next seq  1\n"
                         "dropped   0\n")
        self.assertEqual(json.loads(self.ok("outbox", "--json"))["pending"], 0)

    def test_outbox_with_reports(self):
        outbox = os.path.join(self.dir, "outbox")
        for verb, subject, t in [("black", "192.0.2.1", T0 + 5), ("white", "example.org", T0),
                                 ("black", "2001:db8::1", T0 + 9)]:
            rc, out, err = run([WRITER, "report", outbox, verb, subject, str(t)])
            self.assertEqual((rc, err), (0, ""))
        self.assertEqual(self.ok("--epoch", "outbox"),
                         f"outbox    {outbox}\n"
                         "pending   3 (black 2, white 1)\n"
                         f"oldest    {T0}\n"
                         "next seq  4\n"
                         "dropped   0\n")
        self.assertEqual(self.ok("outbox", "--json"),
                         f'{{"outbox":"{outbox}","exists":true,"pending":3,"black":2,"white":1,'
                         f'"oldest":{T0},"next_seq":4,"dropped":0}}\n')


class Dump(Base):
    def store_with_every_kind_of_name(self):
        now = int(time.time())
        self.decide([
            (T0, 600, b"s->r/1.2.3.4"),
            (T0 + 600, 600, b"s->r/5.6.7.8"),
            (T0, 600, b"/only-suffix"),
            (T0, 600, b"-"),
            (T0, 600, b"bin\x00\n %\xff/x/sfx with blank"),
            (now, 600, b"L" * 700 + b"/" + b"S" * 600),
            (now, 600, "utf8 \u00e9\u4e2d/\u00e9".encode()),
        ])

    def test_dump_format(self):
        self.store_with_every_kind_of_name()
        out = self.ok("dump")
        lines = out.splitlines()
        self.assertEqual(lines[:4], ["exigrey-dump 1",
                                     "item - 1700000000 1700000000 0 only-suffix",
                                     "item %2D 1700000000 1700000000 0 -",
                                     "item bin%00%0A%20%25%FF 1700000000 1700000000 0 "
                                     "x/sfx%20with%20blank"])
        self.assertIn("item s->r 1700000000 1700000600 1 -", lines)
        self.assertIn("item utf8%20%C3%A9%E4%B8%AD", out)
        self.assertIn("item " + "L" * 700 + " ", out)
        self.assertEqual(lines[-3:], ["white 1.2.3.4 1700000600 1700000600",
                                      "white 5.6.7.8 1700000600 1700000600", "end 6 2"])

    def test_dump_then_load_reproduces_the_store(self):
        self.store_with_every_kind_of_name()
        self.ok("whitelist", "add", "w" * 900)  # a whitelist entry under a digest key
        dump = self.ok("dump")
        copy = os.path.join(self.dir, "copy")
        rc, out, err = run([EXIGREY, "--db", copy, "load"], stdin=dump.encode("utf-8",
                                                                               "surrogateescape"))
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, f"load: 6 items and 3 whitelist entries loaded into {copy} "
                              "(format exigrey)\n")
        rc, dump2, err = run([EXIGREY, "--db", copy, "dump"])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(dump2, dump)  # byte for byte
        # And the same set of records, byte for byte, as LMDB holds them.
        self.assertEqual(self.raw_records(self.db), self.raw_records(copy))
        # Loading from a file works the same.
        path = os.path.join(self.dir, "backup.txt")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(dump)
        third = os.path.join(self.dir, "third")
        rc, out, err = run([EXIGREY, "--db", third, "load", path])
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(self.raw_records(self.db), self.raw_records(third))

    def raw_records(self, path):
        if not shutil.which("mdb_dump"):
            self.skipTest("mdb_dump (lmdb-utils) not installed")
        p = subprocess.run(["mdb_dump", "-n", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        data = p.stdout.split("HEADER=END\n", 1)[1].split("DATA=END\n", 1)[0].splitlines()
        pairs = set(zip(data[0::2], data[1::2]))
        self.assertGreaterEqual(len(pairs), 10)
        return pairs

    def test_load_keeps_other_records(self):
        self.decide([(T0, 600, b"keep/a"), (T0, 600, b"replace/b")])
        self.assertEqual(self.ok("load", stdin=b"exigrey-dump 1\nitem replace 5 6 7 -\nend 1 0\n"),
                         f"load: 1 items and 0 whitelist entries loaded into {self.db} (format "
                         "exigrey)\n")
        self.assertEqual(self.ok("--epoch", "list"),
                         "ITEM     CREATED     USED        COUNT  FIRST\n"
                         "keep     1700000000  1700000000      0  a\n"
                         "replace  5           6               7\n")

    def test_bad_input(self):
        self.assertEqual(self.fails(3, "load", stdin=b"exigrey-dump 1\nitem a 1 2 3 -\n"),
                         "exigrey: stdin:2: the dump is truncated: it has no \"end\" line "
                         "(1 items and 0 whitelist entries were loaded before the error)\n")
        self.assertEqual(self.fails(3, "load", stdin=b"exigrey-dump 1\nitem a%zz 1 2 3 -\n"),
                         'exigrey: stdin:2: badly escaped name "a%zz"\n')
        self.assertEqual(self.fails(3, "load", stdin=b"something else\n"),
                         "exigrey: stdin:1: input format not recognised: the first line is "
                         "neither \"exigrey-dump 1\", a db_dump header (VERSION=3) nor an "
                         "exim_dumpdb seen record (use --format)\n")
        self.assertEqual(self.fails(1, "load", self.dir + "/nope"),
                         f"exigrey: {self.dir}/nope does not exist\n")
        self.assertEqual(self.ok("load", stdin=b""), f"load: 0 items and 0 whitelist entries "
                                                     f"loaded into {self.db} (format auto)\n")


def documented_perl_dump(db_file):
    """The Perl one-liner of docs/internals-dump.md, pointed at db_file."""
    doc = os.path.join(HERE, "..", "..", "docs", "internals-dump.md")
    with open(doc) as f:
        line = next(l for l in f if l.startswith("perl -MDB_File"))
    command, sep, rest = line.rpartition(" /var/spool/exim4/grey/seen")
    assert sep and rest.strip() == "> exim-grey.txt", line
    return ["bash", "-c", command + ' "$0"', db_file]


class Import(Base):

    def test_exim_grey_berkeley_db_file(self):
        # A Berkeley DB file as Exim::Grey (DB_File) writes it: NUL-terminated
        # keys and values, whitelist entries flagged "auto".
        bdb = os.path.join(self.dir, "grey.db")
        make = ("use DB_File; use Fcntl;"
                "tie my %h, 'DB_File', $ARGV[0], O_RDWR|O_CREAT, 0600, $DB_HASH or die $!;"
                "$h{\"a->b\\0\"} = \"1700000000 1700000600 1\\0\";"
                "$h{\"c->d\\0\"} = \"1700000010 1700000010 0 auto=1.2.3.4\\0\";"
                "$h{\"old style\\0\"} = \"1600000000 1600000100\\0\";"
                "$h{\"bin\\\\\\x01\\0\"} = \"5 6 0\\0\";"
                "$h{\"1.2.3.4\\0\"} = \"1700000600 1700000900 auto\\0\";"
                "$h{\"weird\\0\"} = \"what is this\\0\";")
        p = subprocess.run(["perl", "-e", make, bdb], capture_output=True, text=True)
        if p.returncode != 0 and "DB_File" in p.stderr:
            self.skipTest("Perl's DB_File is not installed")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The documented one-liner (docs/internals-dump.md) prints db_dump -p format.
        p = subprocess.run(documented_perl_dump(bdb), capture_output=True)
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        self.assertTrue(p.stdout.startswith(b"VERSION=3\nformat=print\n"))
        if shutil.which("db_dump"):  # the same text as Berkeley DB's own tool, if installed
            d = subprocess.run(["db_dump", "-p", bdb], capture_output=True)
            self.assertEqual(sorted(d.stdout.split(b"HEADER=END\n")[1].splitlines()),
                             sorted(p.stdout.split(b"HEADER=END\n")[1].splitlines()))
        rc, out, err = self.grey("load", stdin=p.stdout)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, f"load: 4 items and 1 whitelist entries loaded into {self.db} "
                              "(format exim-grey, 1 records skipped)\n")
        self.assertRegex(err, r'^exigrey: stdin:\d+: skipped a record in no known Exim::Grey '
                              r'layout: key "weird", value "what is this"\n$')
        self.assertEqual(self.ok("--epoch", "list"),
                         "ITEM       CREATED     USED        COUNT  FIRST\n"
                         "a->b       1700000000  1700000600      1\n"
                         "bin\\\\\\x01  5           6               0\n"
                         "c->d       1700000010  1700000010      0  1.2.3.4\n"
                         "old style  1600000000  1600000100      0\n")
        self.assertEqual(self.ok("--epoch", "list", "-w"),
                         "SUFFIX   CREATED     LAST USED\n1.2.3.4  1700000600  1700000900\n")
        # And the imported records decide as the original's did.
        self.assertEqual(self.decide([(T0 + 700, 600, b"a->b/9"), (T0 + 700, 600, b"x->y/1.2.3.4"),
                                      (T0 + 300, 600, b"c->d/8")]),
                         ["no passed", "no whitelisted", "yes too-early"])

    def test_exim_seen_fixed_sample(self):
        text = b"192.0.2.7_u@d.example\t22-Nov-2026 00:01:54\nwith space\ttab\t22-Nov-2026 00:01:56\n"
        self.assertEqual(self.ok("load", stdin=text),
                         f"load: 2 items and 0 whitelist entries loaded into {self.db} "
                         "(format exim-seen)\n")
        t = calendar.timegm((2026, 11, 22, 0, 1, 54))
        self.assertEqual(self.ok("--epoch", "list"),
                         "ITEM                   CREATED     USED        COUNT  FIRST\n"
                         f"192.0.2.7_u@d.example  {t}  {t}      0\n"
                         f"with space\\ttab        {t + 2}  {t + 2}      0\n")
        self.assertEqual(self.fails(3, "load", "--format", "exim-seen", stdin=b"no tab\n"),
                         'exigrey: stdin:1: expected "KEY<TAB>DD-Mon-YYYY HH:MM:SS" as '
                         'exim_dumpdb prints the seen database\n')

    @unittest.skipUnless(shutil.which("exim_dumpdb", path="/usr/sbin:/usr/bin") and
                         os.geteuid() == 0, "needs Exim and root")
    def test_exim_seen_database_from_a_real_exim(self):
        # Exim's own `seen` ACL condition writes the hints database; exim_dumpdb prints it.
        spool = os.path.join(self.dir, "spool")
        os.mkdir(spool)
        shutil.chown(self.dir, "Debian-exim", "Debian-exim")
        shutil.chown(spool, "Debian-exim", "Debian-exim")
        conf = os.path.join(self.dir, "exim.conf")
        with open(conf, "w") as f:
            f.write(f"spool_directory = {spool}\nprimary_hostname = test.example\n"
                    "acl_smtp_rcpt = acl_rcpt\nbegin acl\nacl_rcpt:\n"
                    "  warn seen = 5m / key=${sender_host_address}_$local_part@$domain\n"
                    "  accept\n")
        smtp = b"HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@d.example>\r\n" \
               b"RCPT TO:<v@d.example>\r\nQUIT\r\n"
        before = int(time.time())
        p = subprocess.run(["/usr/sbin/exim", "-C", conf, "-bh", "192.0.2.7"], input=smtp,
                           capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["/usr/sbin/exim_dumpdb", spool, "seen"], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout.splitlines()), 2, p.stdout)
        rc, out, err = self.grey("load", stdin=p.stdout)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("load: 2 items and 0 whitelist entries", out)
        items = {json.loads(l)["name"]: json.loads(l) for l in
                 self.ok("list", "--json").splitlines()}
        self.assertEqual(sorted(items), ["192.0.2.7_u@d.example", "192.0.2.7_v@d.example"])
        for it in items.values():
            self.assertTrue(before - 2 <= it["created"] <= time.time() + 1, it)
            self.assertEqual((it["used"], it["count"]), (it["created"], 0))


class Errors(Base):
    def test_usage_errors_exit_2_with_one_line(self):
        self.sample()
        cases = [
            ([], "exigrey: A subcommand is required (see 'exigrey --help')\n"),
            (["frobnicate"], None),
            (["check"], None),
            (["show"], None),
            (["purge"], None),
            (["whitelist"], None),
            (["list", "--waiting", "--passed"], None),
            (["check", "k", "--delay", "abc"], None),
            (["check", "k", "--at", "soon"], 'exigrey: --at "soon": expected Unix seconds\n'),
            (["purge", "--older-than", "10x"], None),
            (["purge", "--older-than", "-5"],
             'exigrey: --older-than "-5": an age cannot be negative\n'),
            (["list", "--older-than", ""], None),
            (["--db", "a/b", "list"], None),
            (["--db", "", "list"], None),
            (["load", "--format", "xml"], 'exigrey: unknown input format "xml" (use auto, '
                                          'exigrey, exim-grey or exim-seen)\n'),
            (["list", "-w", "--passed"],
             "exigrey: --waiting and --passed apply to items, not to --whitelist\n"),
        ]
        for args, expected in cases:
            err = self.fails(2, *args)
            if expected:
                self.assertEqual(err, expected, args)
        self.assertIn('invalid delay "abc"', self.fails(2, "check", "k", "--delay", "abc"))
        self.assertIn('invalid DB name "a/b"', self.fails(2, "--db", "a/b", "list"))
        self.assertEqual(self.fails(2, "frobnicate"),
                         "exigrey: unknown command \"frobnicate\" (see 'exigrey --help')\n")
        self.assertEqual(self.fails(2, "whitelist", "frob"),
                         "exigrey: unknown whitelist command \"frob\" (see 'exigrey --help')\n")

    def test_a_file_that_is_not_a_store(self):
        with open(self.db, "w") as f:
            f.write("not lmdb\n" * 1000)
        err = self.fails(3, "list")
        self.assertIn("is not an LMDB file", err)
        with open(self.db) as f:
            self.assertEqual(f.read(), "not lmdb\n" * 1000)  # untouched


class Verify(Base):
    def test_a_sound_store(self):
        self.sample()
        long_key = b"<" + b"x" * 600 + b">:<r@y.test>/" + b"n" * 600  # both hashed
        self.assertEqual(self.decide([(T0, 600, long_key)]), ["yes new"])
        self.assertEqual(self.decide([(T0 + 700, 600, long_key)]), ["no passed"])
        # grey_writer's passes were flushed into the keep file as it exited:
        # the keep log is empty, its counter is a meta record.
        self.assertEqual(self.ok("verify"),
                         f"store    {self.db}\n"
                         "entries  10 walked (items 5, whitelist 3, meta 2); LMDB counts 10\n"
                         "verdict  sound: every record decodes, keys in order, counts agree\n")
        self.assertEqual(json.loads(self.ok("verify", "--json")),
                         {"store": self.db, "ok": True, "walked": 10, "items": 5, "whitelist": 3,
                          "meta": 2, "keep_log": 0, "lmdb_entries": 10, "problems": 0,
                          "crashed": None})
        # The keep file holds the precious records only: 3 whitelist entries
        # and the 2 passed items.
        self.assertEqual(self.ok("--db", self.db + ".keep", "verify"),
                         f"store    {self.db}.keep\n"
                         "entries  7 walked (items 2, whitelist 3, meta 2); LMDB counts 7\n"
                         "verdict  sound: every record decodes, keys in order, counts agree\n")

    def test_no_store(self):
        self.assertEqual(self.fails(1, "verify"), f"exigrey: store {self.db} does not exist\n")

    def test_damaged_pages(self):
        # LMDB keeps no checksums: random garbage over data pages (the same
        # seeded damage each run) reads as other records, gives errors, or
        # crashes the reader. verify must catch at least what a full read
        # (dump) catches, report a crash as damage, and never crash itself.
        lines = ["exigrey-dump 1"]
        lines += [f"item <s{i}@x.test>:<r@y.test> {T0} {T0} 0 net-{i % 50}" for i in range(3000)]
        lines += [f"white net-{i} {T0} {T0 + i}" for i in range(50)]
        lines += ["end 3000 50", ""]
        good = os.path.join(self.dir, "good")
        self.ok("--db", good, "load", stdin="\n".join(lines).encode())
        with open(good, "rb") as f:
            whole = f.read()
        page = 4096
        rng = random.Random(8)
        bad = os.path.join(self.dir, "bad")
        seen = {"clean": 0, "problems": 0, "crash": 0, "unreadable": 0}
        missed_by_dump = 0
        for round_ in range(40):
            data = bytearray(whole)
            for _ in range(1 + rng.randrange(3)):
                at = (2 + rng.randrange(len(whole) // page - 2)) * page
                length = page
                if rng.randrange(2):
                    at += rng.randrange(page)
                    length = 1 + rng.randrange(64)
                for i in range(at, min(at + length, len(data))):
                    data[i] = rng.randrange(256)
            with open(bad, "wb") as f:
                f.write(data)
            dump_rc, _, _ = run([EXIGREY, "--db", bad, "dump"])
            rc, out, err = run([EXIGREY, "--db", bad, "verify"])
            with self.subTest(round=round_, dump=dump_rc, out=out, err=err):
                self.assertIn(rc, (0, 3))  # never a signal
                if dump_rc != 0:
                    self.assertEqual(rc, 3, "verify passed a store that dump cannot read")
                if rc == 0:
                    seen["clean"] += 1
                    self.assertEqual(err, "")
                    continue
                self.assertRegex(err, rf"^exigrey: [^\n]*{re.escape(bad)} [^\n]+\n$")
                if dump_rc == 0:
                    missed_by_dump += 1
                if "crashed the checking process (SIG" in err:
                    seen["crash"] += 1
                elif "problem" not in err:  # LMDB's MDB_CORRUPTED, or refused at open
                    seen["unreadable"] += 1
                else:
                    self.assertRegex(err, r" is damaged: \d+ problems? ")
                    self.assertRegex(out, r"\nproblem  ")
                    seen["problems"] += 1
        print(f"\n40 damaged stores: {seen}; {missed_by_dump} of them read by dump without error")
        # The seed gives each kind of outcome; a change in LMDB or the layout
        # that loses one should be looked at, not waved through.
        for kind in seen:
            self.assertGreater(seen[kind], 0, kind)
        self.assertGreater(missed_by_dump, 0)
        rc, out, err = run([EXIGREY, "--db", good, "verify"])
        self.assertEqual(rc, 0, err)



def log_time(t):
    """An Exim main log timestamp (TZ=UTC in the tests)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


class Report(Base):
    NOW = T0 + 10 * DAY
    H = 3600

    def store(self):
        now, h = self.NOW, self.H
        answers = self.decide([
            (T0, 600, b"old/10.0.0.1"),  # before the window
            (now - 3 * h, 600, b"p1/192.0.2.1"), (now - 3 * h + 700, 600, b"p1/192.0.2.1"),
            (now - 4 * h, 600, b"p2/192.0.2.2"), (now - 4 * h + 650, 600, b"p2/192.0.2.2"),
            (now - 5 * h, 60, b"p3/192.0.2.3"), (now - 5 * h + 90, 60, b"p3/192.0.2.3"),
            (now - 10 * h, 600, b"p4/198.51.100.4"), (now - 10 * h + 4000, 600, b"p4/198.51.100.4"),
            (now - 20 * h, 600, b"again"), (now - 20 * h + 600, 600, b"again"),
            (now - h, 600, b"again"),
            (now - 5 * h, 600, b"<s@Spam.Example>:<r@l.test>/203.0.113.5"),
            (now - 4 * h, 600, b"<t@spam.example>:<r@l.test>/2001:db8::7"),
            (now - 6 * h, 600, b"<u@other.test>:<r@l.test>/203.0.113.99"),
            (now - 1800, 600, b"w/203.0.113.9"),
        ])
        self.assertEqual(answers.count("no passed"), 6)

    def report(self, *args, stdin=None):
        return self.ok("report", "--at", str(self.NOW), *args, stdin=stdin)

    def test_report_from_the_store(self):
        self.store()
        self.assertEqual(self.report(), f"""\
window  2023-11-23 22:13:20 to 2023-11-24 22:13:20 (1d)
store   {self.db}

Items (of 10 in the store)
  first seen     9  new items: greylisted
  first passes   4  passed once, after their delay
  passed again   1  known items passing once more
  waiting        1  first seen in the window, not passed, under 1h ago
  never retried  3  first seen in the window, not passed, over 1h ago

Whitelist (of 4 entries in the store)
  new            4  whitelisted in the window
  in use         4  used in the window

Delays of first passes (from the store: 4 items; 1 first seen in the window passed again and is left out)
  <1m     0    0.0%
  1-5m    1   25.0%  ####################
  5-10m   0    0.0%
  10-15m  2   50.0%  ########################################
  15-30m  0    0.0%
  30m-1h  0    0.0%
  1-2h    1   25.0%  ####################
  2-6h    0    0.0%
  6-24h   0    0.0%
  >=1d    0    0.0%
  median 10m50s, p90 1h6m40s, max 1h6m40s

Top client networks that never retried (store, by first suffix)
  2  203.0.113.0/24
  1  2001:db8::/64

Top sender domains of items first seen (store)
  2  spam.example
  1  other.test
""")
        # A shorter window and retry window, no top lists, epoch times.
        self.assertEqual(self.report("--since", "4h30m", "--retry-window", "5h", "--top", "0",
                                     "--epoch").split("\n\nDelays")[0], f"""\
window  {self.NOW - 16200} to {self.NOW} (4h30m)
store   {self.db}

Items (of 10 in the store)
  first seen     4  new items: greylisted
  first passes   2  passed once, after their delay
  passed again   1  known items passing once more
  waiting        2  first seen in the window, not passed, under 5h ago
  never retried  0  first seen in the window, not passed, over 5h ago

Whitelist (of 4 entries in the store)
  new            2  whitelisted in the window
  in use         2  used in the window""")
        self.assertNotIn("Top", self.report("--top", "0"))
        everything = self.report("--since", "0")
        self.assertIn("window  everything up to 2023-11-24 22:13:20\n", everything)
        self.assertIn("\n  first seen     10  ", everything)  # old counts now
        self.assertIn("\n  never retried   4  ", everything)

    def test_json(self):
        self.store()
        j = json.loads(self.report("--json", "--top", "1"))
        hist = j.pop("histogram")
        self.assertEqual(j, {
            "store": self.db, "now": self.NOW, "since": self.NOW - DAY, "retry_window": 3600,
            "items": 10, "first_seen": 9, "first_passes": 4, "passed_again": 1, "waiting": 1,
            "never_retried": 3, "whitelist": 4, "whitelist_new": 4, "whitelist_used": 4,
            "delays_source": "store", "delays": 4, "delays_left_out": 1,
            "delay_median": 650, "delay_p90": 4000, "delay_max": 4000,
            "top_never_retried_networks": [{"name": "203.0.113.0/24", "count": 2}],
            "top_never_retried_networks_other": 0,
            "top_sender_domains": [{"name": "spam.example", "count": 2}],
            "top_sender_domains_other": 0,
            "log_files": 0, "log_lines": 0, "log_lines_used": 0, "log_lines_outside": 0,
            "log_lines_skipped": 0,
            "decisions": {"greylisted_new": 0, "greylisted_too_early": 0,
                          "passed_after_delay": 0, "passed_known": 0, "passed_whitelisted": 0},
            "log_rejects": 0, "top_log_networks": [], "top_log_networks_other": 0,
            "top_log_sender_domains": [], "top_log_sender_domains_other": 0,
        })
        self.assertEqual([(b["label"], b["from"], b["to"], b["count"]) for b in hist], [
            ("<1m", 0, 60, 0), ("1-5m", 60, 300, 1), ("5-10m", 300, 600, 0),
            ("10-15m", 600, 900, 2), ("15-30m", 900, 1800, 0), ("30m-1h", 1800, 3600, 0),
            ("1-2h", 3600, 7200, 1), ("2-6h", 7200, 21600, 0), ("6-24h", 21600, 86400, 0),
            (">=1d", 86400, None, 0)])
        self.assertIsNone(json.loads(self.report("--json", "--since", "0"))["since"])

    def write_log(self):
        now, h = self.NOW, self.H
        seen = "/var/spool/exim4/grey/seen"
        lines = [
            f'{log_time(now - 3 * h)} exigrey: greylisted (new, retry in 600s) '
            f'key="<a@x.test>:<b@y.test>/192.0.2.1" db={seen}',
            f'{log_time(now - 3 * h)} H=(client.test) [192.0.2.1] F=<a@X.test> '
            f'temporarily rejected RCPT <b@y.test>: greylisted by exigrey',
            f'{log_time(now - 3 * h + 300)} [4242] exigrey: greylisted (too early, retry in '
            f'300s) key="<a@x.test>:<b@y.test>/192.0.2.1" db={seen}',
            f'{log_time(now - 3 * h + 300)} [4242] H=client.test (client.test) [192.0.2.1]:4711 '
            f'F=<a@x.test> temporarily rejected RCPT <b@y.test>: greylisted by exigrey',
            f'{log_time(now - 3 * h + 700)}.123 +0000 [4243] 1rABCD-000123-EF exigrey: passed '
            f'after 11m40s (the delay is over) key="<a@x.test>:<b@y.test>/192.0.2.1" db={seen}',
            f'{log_time(now - 8 * h)} exigrey: passed after 2h (the delay is over) '
            f'key="k\\"q" db={seen}',
            f'{log_time(now - 2 * h)} exigrey: passed (known item, pass 2) key="again" db={seen}',
            f'{log_time(now - h)} exigrey: passed (whitelisted suffix) '
            f'key="<c@x.test>:<b@y.test>/192.0.2.1" db={seen}',
            f'{log_time(now - 5 * h)} H=mx.spam.example (spam) [2001:db8::7]:25 F=<> '
            f'temporarily rejected RCPT <b@y.test>: greylisted by exigrey',
            f'{log_time(now - 5 * h)} H=[10.1.1.1] F=<v@x.test> temporarily rejected RCPT '
            f'<b@y.test>: Could not complete sender verify',
            f'{log_time(now - 2 * DAY)} exigrey: greylisted (new, retry in 600s) key="k" db=s',
            f'{log_time(now - h)} exigrey: passed (mystery) key="k" db=s',
            'exigrey: greylisted (new, retry in 600s) key="no time" db=s',
            f'{log_time(now - h)} Completed',
        ]
        path = os.path.join(self.dir, "mainlog")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def test_with_a_log(self):
        self.store()
        log = self.write_log()
        out = self.report("--log", log)
        self.assertTrue(out.startswith(f"""\
window  2023-11-23 22:13:20 to 2023-11-24 22:13:20 (1d)
store   {self.db}

Decisions (log: 1 file, 14 lines read, 9 in the window, 2 not understood)
  greylisted, new         1
  greylisted, too early   1
  passed after the delay  2
  passed, known item      1
  passed, whitelisted     1
  rejected by Exim        3  "temporarily rejected" lines saying "greylisted"

Items (of 10 in the store)
"""), out)
        self.assertIn("""
Delays until the first pass (from the log: 2 passes)
  <1m     0    0.0%
  1-5m    0    0.0%
  5-10m   0    0.0%
  10-15m  1   50.0%  ########################################
  15-30m  0    0.0%
  30m-1h  0    0.0%
  1-2h    0    0.0%
  2-6h    1   50.0%  ########################################
  6-24h   0    0.0%
  >=1d    0    0.0%
  median 11m40s, p90 2h, max 2h
""", out)
        self.assertTrue(out.endswith("""
Top client networks greylisted (log)
  2  192.0.2.0/24
  1  2001:db8::/64

Top sender domains greylisted (log)
  2  x.test
  1  <>
"""), out)
        with open(log, "rb") as f:
            j = json.loads(self.report("--json", "--log", "-", stdin=f.read()))
        self.assertEqual({k: j[k] for k in [
            "log_files", "log_lines", "log_lines_used", "log_lines_outside", "log_lines_skipped",
            "decisions", "log_rejects", "delays_source", "delays", "delay_median",
            "top_log_networks", "top_log_sender_domains"]}, {
            "log_files": 1, "log_lines": 14, "log_lines_used": 9, "log_lines_outside": 1,
            "log_lines_skipped": 2,
            "decisions": {"greylisted_new": 1, "greylisted_too_early": 1,
                          "passed_after_delay": 2, "passed_known": 1, "passed_whitelisted": 1},
            "log_rejects": 3, "delays_source": "log", "delays": 2, "delay_median": 700,
            "top_log_networks": [{"name": "192.0.2.0/24", "count": 2},
                                 {"name": "2001:db8::/64", "count": 1}],
            "top_log_sender_domains": [{"name": "x.test", "count": 2},
                                       {"name": "<>", "count": 1}]})
        # Two logs add up; another reject text picks other lines.
        j = json.loads(self.report("--json", "--log", log, "--log", log,
                                   "--reject-text", "SENDER VERIFY"))
        self.assertEqual((j["log_files"], j["log_lines"], j["log_rejects"],
                          j["decisions"]["greylisted_new"], j["top_log_networks"]),
                         (2, 28, 2, 2, [{"name": "10.1.1.0/24", "count": 2}]))

    def test_progress(self):
        self.store()
        rc, out, err = self.grey("report", "--at", str(self.NOW), "--progress")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("window  "))
        line = "exigrey report: scanned 14 entries..."
        self.assertEqual(err, "\r" + line + "\r" + " " * len(line) + "\r")

    def test_errors(self):
        self.store()
        missing = os.path.join(self.dir, "no-such-log")
        self.assertEqual(self.fails(3, "report", "--log", missing),
                         f"exigrey: cannot open log {missing}: No such file or directory\n")
        self.assertEqual(self.fails(3, "report", "--log", self.dir),
                         f"exigrey: cannot read log {self.dir}: it is a directory (give Exim's "
                         f"main log file)\n")
        self.assertEqual(self.fails(2, "report", "--since", "1x"),
                         'exigrey: invalid age "1x" (use seconds or Exim units such as 10m, '
                         '1h30m)\n')
        self.assertEqual(self.fails(2, "report", "--since", "-1d"),
                         'exigrey: invalid age "-1d" (use seconds or Exim units such as 10m, '
                         '1h30m)\n')
        self.assertEqual(self.fails(2, "report", "--retry-window", "-5"),
                         'exigrey: --retry-window "-5": an age cannot be negative\n')
        self.assertEqual(self.fails(2, "report", "--top", "1001"),
                         'exigrey: --top "1001": expected a number from 0 to 1000\n')
        self.assertEqual(self.fails(2, "report", "--at", "soon"),
                         'exigrey: --at "soon": expected Unix seconds\n')
        self.assertIn("does not exist", self.fails(1, "--db", "other", "report"))


if __name__ == "__main__":
    unittest.main()

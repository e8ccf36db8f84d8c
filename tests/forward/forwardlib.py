# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the exigrey-forward tests, on top of tests/collect/collectlib.

argv: COLLECT FORWARD OUTBOX_FILL PLUGIN EXIGREY (see CMakeLists.txt).
"""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "collect"))
from collectlib import *  # noqa: F401,F403  (check, expect, finish, Collector, Rbldnsd, ...)
import collectlib
import eximlib  # noqa: E402  (tests/support, on the path collectlib set)

COLLECT, FORWARD, FILL, PLUGIN, EXIGREY = sys.argv[1:6]
SECRET = "6b1f0c0d9e8a7f6e5d4c3b2a19081726354453627180" + "9fa1b2c3d4e5f6a7"


def write_keys(root, entries):
    path = os.path.join(root, "collect.keys")
    with open(path, "w") as f:
        for rid, secret in entries.items():
            f.write(f"{rid} {secret}\n")
    os.chmod(path, 0o600)
    return path


def write_secret(root, secret=SECRET):
    path = os.path.join(root, "forward.secret")
    with open(path, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    return path


class SignedCollector(collectlib.Collector):
    """A collector with a signed listener, listing after one reporter."""

    def __init__(self, root, keys, *extra, **kw):
        self.signed_port = kw.pop("signed_port", None) or collectlib.free_port()
        super().__init__(COLLECT, root, "--signed", f"127.0.0.1:{self.signed_port}",
                         "--keys", keys, "--min-reporters", "1", *extra, **kw)

    def stored_black(self):
        return self.metric('exigrey_collect_stored_reports{verb="black"}')


def forwarder(root, outbox_dir, collectors, *extra, reporter="mx1", secret_file=None):
    argv = [FORWARD, "--dir", outbox_dir, "--reporter", reporter,
            "--secret-file", secret_file or write_secret(root), "--timeout", "2",
            "--backoff-max", "1"] + list(extra)
    for c in collectors:
        argv += ["--collector", f"127.0.0.1:{c.signed_port}"]
    return argv


def run_once(argv, timeout=60):
    return subprocess.run(argv + ["--once"], capture_output=True, text=True, timeout=timeout)


def fill(outbox_dir, count, first=0):
    subprocess.run([FILL, outbox_dir, str(count), str(first)], check=True, timeout=120)


def pending(outbox_dir):
    r = subprocess.run([EXIGREY, "--dir", outbox_dir, "outbox", "--json"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    import json
    return json.loads(r.stdout.splitlines()[0])["pending"]




def exim_with_plugin(root, rcpt_acl, prepare_grey=None):
    """A test Exim under root/ (spool, grey store directory, log) that loads
    the plugin in its RCPT ACL and discards at DATA. `rcpt_acl` is the ACL's
    text with @PLUGIN@ for the plugin's path; `prepare_grey(dir)` runs on the
    grey directory before it is given to Exim's user (to mount a tmpfs, say).
    Returns (conf, env, grey): the config for `exim -C` and the environment
    to run exim in (a sanitizer-built plugin needs its runtimes preloaded)."""
    spool = os.path.join(root, "spool")
    grey = os.path.join(spool, "grey")
    log = os.path.join(root, "log")
    os.makedirs(grey)
    if prepare_grey:
        prepare_grey(grey)
    eximlib.make_dirs(spool, grey, log)
    plugin = os.path.join(root, "libexigrey.so")
    subprocess.run(["install", "-m", "0644", PLUGIN, plugin], check=True)
    conf = eximlib.install_config(
        os.path.join(root, "exim.conf"),
        eximlib.main_section(root, extra="acl_smtp_rcpt = acl_rcpt\nacl_smtp_data = acl_data\n")
        + "begin acl\nacl_rcpt:\n" + rcpt_acl.replace("@PLUGIN@", plugin)
        + "\nacl_data:\n  discard\n")
    env = eximlib.sanitizer_env(plugin)
    return conf, env, grey

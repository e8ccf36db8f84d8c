# SPDX-License-Identifier: GPL-2.0-or-later
"""A private Exim for the Python tests: the one set-up the bash tests have in
tests/exim/lib.sh (spool and log directories owned by Exim's user, no host
lookups, no TLS, a root-owned 0644 config as `exim -C` as root requires, and
the sanitizer runtimes preloaded when the plugin was built with them)."""

import os
import pwd
import subprocess

EXIM = "/usr/sbin/exim4"
EXIM_USER = "Debian-exim"


def main_section(root, hostname="exigrey.test", spool=None, log=None, extra=""):
    """The main-section lines every test config starts with; `extra` is
    appended (ACL names, limits)."""
    spool = spool or os.path.join(root, "spool")
    log = log or os.path.join(root, "log")
    return (f"spool_directory = {spool}\n"
            f"log_file_path = {log}/%slog\n"
            f"pid_file_path = {root}/exim.pid\n"
            f"primary_hostname = {hostname}\n"
            "keep_environment = EXIGREY_CONFIG\n"
            "host_lookup =\n"
            "rfc1413_hosts =\n"
            "tls_advertise_hosts =\n"
            + extra)


def make_dirs(*dirs):
    """Creates the directories (and parents) and gives them to Exim's user."""
    user = pwd.getpwnam(EXIM_USER)
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        os.chown(d, user.pw_uid, user.pw_gid)


def install_config(path, text):
    """Writes an Exim config owned by root, mode 0644; returns the path."""
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    return path


def sanitizer_env(plugin, env=None, log_path=None):
    """`env` (default: this process's) plus LD_PRELOAD of the ASan/UBSan
    runtimes the plugin links, when it links them: Exim is not built with
    them and the ASan runtime must be loaded first."""
    env = dict(os.environ if env is None else env)
    out = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    preload = [f[2] for f in (line.split() for line in out.splitlines())
               if len(f) > 2 and f[0].startswith(("libasan.so", "libubsan.so"))]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
        env["ASAN_OPTIONS"] = "detect_leaks=0" + (f":log_path={log_path}" if log_path else "")
    return env

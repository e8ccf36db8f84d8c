#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Loopback ports for tests that start servers, distinct across every test
of a run.

Binding port 0 and closing the socket is not enough, and CI once showed why:
two of one test's six picks came back equal (the kernel may hand out a just
released port again), and a port from the ephemeral range can be taken by
any outgoing connection of a parallel test before the server binds it. So
ports come from below the ephemeral range, must bind for TCP and UDP now,
and are claimed with an atomic mkdir under a shared directory; a claim older
than an hour (a test run long gone) is taken over.

Use: `from ports import free_port` in Python, or `python3 ports.py [N]`,
which prints N ports, one per line.
"""
import os
import random
import socket
import sys
import time

CLAIMS = os.environ.get("EXIGREY_TEST_PORTS", "/tmp/exigrey-test-ports")
STALE_SECONDS = 3600


def _range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(1024, low - 12000), low  # [first, end)


def _bindable(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _claim(port):
    path = os.path.join(CLAIMS, str(port))
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        pass
    try:
        if time.time() - os.stat(path).st_mtime < STALE_SECONDS:
            return False
        # Take over a stale claim: renaming is atomic, so two takers cannot
        # both win it.
        os.rename(path, f"{path}.stale.{os.getpid()}")
        os.rmdir(f"{path}.stale.{os.getpid()}")
        os.mkdir(path)
        return True
    except OSError:
        return False


def free_port():
    """A 127.0.0.1 port free for TCP and UDP, and claimed by no other test."""
    os.makedirs(CLAIMS, exist_ok=True)
    try:
        os.chmod(CLAIMS, 0o1777)
    except OSError:
        pass  # another user made it; it is shared already
    first, end = _range()
    for _ in range(4 * (end - first)):
        port = random.randrange(first, end)
        if _bindable(port) and _claim(port):
            return port
    raise RuntimeError(f"no free loopback port in {first}..{end - 1} (claims in {CLAIMS})")


if __name__ == "__main__":
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 1):
        print(free_port())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The signed protocol over TLS: with the collector's CA the forwarder
delivers and the report is listed; against a certificate from another CA,
the forwarder refuses to send (exit 1) and nothing
leaves the outbox; a client that does not speak TLS gets nothing counted."""

import os
import subprocess

from forwardlib import *


def openssl(*argv):
    subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=60)


root = tempdir()


def make_ca(name):
    key, crt = os.path.join(root, f"{name}.key"), os.path.join(root, f"{name}.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={name}")
    return key, crt


ca_key, ca = make_ca("test-ca")
_, other_ca = make_ca("other-ca")
key, csr, crt = (os.path.join(root, n) for n in ("collect.key", "collect.csr", "collect.pem"))
ext = os.path.join(root, "san.cnf")
with open(ext, "w") as f:
    f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", ext)
os.chmod(key, 0o600)

keys = write_keys(root, {"mx1": SECRET})
grey = os.path.join(root, "grey")
os.makedirs(grey)
c = SignedCollector(root, keys, "--tls-cert", crt, "--tls-key", key).start()
fill(grey, 10, 0)

r = run_once(forwarder(root, grey, [c], "--tls-ca", other_ca))
expect("a collector certificate from another CA is refused (exit 3)", 3, r.returncode)
check("and the forwarder says why", "certificate verify failed" in r.stderr, r.stderr[-300:])
expect("nothing left the outbox", 10, pending(grey))

plain = exchange(c.signed_port, frame("mx1", SECRET, [(1, "black", "23.9.9.9", 1)]))
expect("a client speaking plain TCP to the TLS port gets no answer", "", plain)

argv = forwarder(root, grey, [c], "--tls-ca", ca)
argv[argv.index(f"127.0.0.1:{c.signed_port}")] = f"localhost:{c.signed_port}"
r = run_once(argv)
expect("with the right CA and host name the forwarder delivers (exit 0)", 0, r.returncode)
expect("the outbox is empty", 0, pending(grey))
expect("the collector counted ten", 10.0, c.stored_black())
finish()

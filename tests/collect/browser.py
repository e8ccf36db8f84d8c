# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's headless Chromium for the lookup-page tests: run a URL, parse the
DOM it dumps.

EXIGREY_CHROMIUM names another browser binary (a missing one checks the
tests' skip path). The flags keep Chromium off the network (this machine's
is closed) and out of any shared profile: each run gets a fresh one.
"""

import html.parser
import os
import subprocess

CHROMIUM = os.environ.get("EXIGREY_CHROMIUM", "/usr/bin/chromium")
_profiles = 0


def available():
    return os.access(CHROMIUM, os.X_OK)


def run(url, root, *args):
    """(exit status, stdout) of one headless run with a fresh profile under `root`."""
    global _profiles
    _profiles += 1
    profile = os.path.join(root, f"chromium-profile-{_profiles}")
    os.mkdir(profile)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", *args, url]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace")


class Dom(html.parser.HTMLParser):
    """The DOM Chromium dumped, as a tree of (tag, attrs, children)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = {"tag": "#root", "attrs": {}, "children": []}
        self.stack = [self.root]
        self.elements = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": dict(attrs), "children": []}
        self.stack[-1]["children"].append(node)
        self.elements.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.stack[-1]["children"].append(data)

    def by_id(self, ident):
        for e in self.elements:
            if e["attrs"].get("id") == ident:
                return e
        return None

    def tags(self, tag):
        return [e for e in self.elements if e["tag"] == tag]

    @staticmethod
    def text(node):
        if node is None:
            return ""
        return "".join(c if isinstance(c, str) else Dom.text(c) for c in node["children"])

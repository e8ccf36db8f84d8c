#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What the daemons export, what docs/metrics.md documents and what the
example alert rules use must agree: every series a running exigrey-forward
and exigrey-collect serve is in the docs' tables with its type, every series
documented is served, every series an alert rule's expression names exists,
every alert is in the docs' alert table, and the rules' job names are the
scrape example's. (promtool is not in Debian 12; this checks what it cannot:
that the names are real.)"""

import os
import re
import time
import urllib.request

import yaml

from forwardlib import *

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "metrics.md")
RULES = os.path.join(HERE, "..", "..", "examples", "prometheus", "exigrey.rules.yml")


def served(url):
    """{family: type} from the '# TYPE' lines of a /metrics answer."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def documented(section):
    """{series: type} from the docs table under '## SECTION'."""
    text = open(DOC).read()
    part = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    out = {}
    for name, kind in re.findall(r"^\| `([a-z_]+)` \| (gauge|counter)", part, re.M):
        out[name] = kind
    return out


root = tempdir()
keys = write_keys(root, {"mx1": SECRET})
grey = os.path.join(root, "grey")
os.makedirs(grey)
# --web: its series are documented too, so serve them.
c = SignedCollector(root, keys, "--web", f"127.0.0.1:{free_port()}").start()
fill(grey, 3, 0)
metrics_port = free_port()
# With a peers file (this host and one that is down) the peer series are served too.
peers = os.path.join(root, "peers")
with open(peers, "w") as f:
    f.write(f"mx1 127.0.0.1:{free_port()} {'1' * 64}\nmx2 127.0.0.1:{free_port()} {'2' * 64}\n")
os.chmod(peers, 0o600)
fwd = spawn(forwarder(root, grey, [c], "--metrics", f"127.0.0.1:{metrics_port}", "--peers", peers,
                      "--name", "mx1"),
            os.path.join(root, "forward.log"))
check("the collector stored the 3 reports", c.wait_metric(
    'exigrey_collect_stored_reports{verb="black"}', 3.0) == 3.0)
forward_url = f"http://127.0.0.1:{metrics_port}/metrics"
deadline = time.time() + 10
forward_served = {}
while time.time() < deadline and not forward_served:
    try:
        forward_served = served(forward_url)
    except OSError:
        time.sleep(0.05)
collect_served = served(f"http://127.0.0.1:{c.metrics_port}/metrics")

for daemon, live, doc in [("exigrey-forward", forward_served, documented("exigrey-forward")),
                          ("exigrey-collect", collect_served, documented("exigrey-collect"))]:
    check(f"{daemon}: it serves metrics", len(live) > 0)
    expect(f"{daemon}: every series it serves is documented", [],
           sorted(set(live) - set(doc)))
    expect(f"{daemon}: every documented series is served", [], sorted(set(doc) - set(live)))
    expect(f"{daemon}: the documented types are the served ones", [],
           sorted(n for n in set(live) & set(doc) if live[n] != doc[n]))

rules = yaml.safe_load(open(RULES))
alerts = [r for g in rules["groups"] for r in g["rules"]]
check("the rules file has alerts", len(alerts) >= 8, f"({len(alerts)})")
every = set(forward_served) | set(collect_served)
doc_text = open(DOC).read()
jobs = set(re.findall(r"job_name: (\S+)", doc_text))
for a in alerts:
    name = a.get("alert", "?")
    # ("for" is optional: lost reports, say, should fire at once.)
    expect(f"{name}: has an expression, a severity and a summary", True,
           "expr" in a and "severity" in a.get("labels", {})
           and "summary" in a.get("annotations", {}))
    used = set(re.findall(r"\bexigrey_[a-z_]+", a["expr"]))
    expect(f"{name}: every series it uses exists", [], sorted(used - every))
    expect(f"{name}: its jobs are the scrape example's", [],
           sorted(set(re.findall(r'job="([^"]+)"', a["expr"])) - jobs))
    check(f"{name}: in the docs' alert table", f"`{name}`" in doc_text)

fwd.terminate()
fwd.wait(timeout=10)
finish()

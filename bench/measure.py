"""Run a snippet in a fresh Python process and return its JSON result plus its peak memory.

Peak memory is the child's VmHWM (high-water RSS): unlike getrusage's ru_maxrss it is reset at
exec, so the benchmark process's own memory never leaks into the figure.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PRELUDE = r"""
import json, sys, time

def _peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def report(**fields):
    print(json.dumps({**fields, "peak_rss_mb": _peak_rss_mb()}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run `code` (which must call `report(...)` once) with `args` in sys.argv[1:]."""
    out = subprocess.run(
        [sys.executable, "-c", _PRELUDE + code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])

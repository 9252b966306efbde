"""Benchmark: `genofed hospital audit` on a site's audit log of months (100,000 entries).

A federation that runs for months logs one entry per message a hospital sends. An outside
walkthrough found printing such a log slow and memory-hungry: `read_audit` read the whole file and
held every entry as a dict before the first line was printed. The command now reads the log a line
at a time (`audit.iter_audit`) and prints as it reads, keeping only what `--last N` keeps. This
writes a synthetic log of `--entries` training and evaluation replies (as `audit_entry` writes them:
arrays and metrics records, sizes, hashes, epsilon) in a temporary site folder and runs, each in a
fresh process (bench/measure.py `run_child`: time after the imports, peak RSS), the command as it
was (the whole file read into a list, as `read_audit` did, then printed) and as it is, whole and
with filters; output goes to /dev/null.

    .venv/bin/python bench/audit_log.py [--entries 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

from measure import run_child

#: One child: the command (`main`) with the options after the site; in mode "imports" nothing after
#: the imports (the memory every run starts from); in mode "earlier" its handler
#: is the one before the log was streamed (read_audit's whole text, then a list of every entry and
#: of every line, then printed: `git show f4072f5:cli/hospital.py`).
CHILD = r"""
import contextlib, json, os, sys, time
import genofed.cli.hospital as hospital
from genofed.cli.main import main
from genofed.client.agent.audit import audit_line
from genofed.client.agent.launch import site_audit_log

def earlier(args):
    text = site_audit_log(args.dir).read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for line in [audit_line(entry) for entry in entries]:
        print(line)
    return 0

mode, site, *options = sys.argv[1:]
if mode == "imports":
    report(seconds=0.0, status=0)
    sys.exit(0)
if mode == "earlier":
    hospital.run_hospital_audit = earlier
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
    started = time.perf_counter()
    status = main(["hospital", "audit", site, *options])
    seconds = time.perf_counter() - started
report(seconds=seconds, status=status)
"""

#: The first entry's time; each next one is 10 minutes later.
START = dt.datetime(2025, 4, 1, tzinfo=dt.timezone.utc)


def cases(entries: int) -> list[tuple[str, str, list[str]]]:
    """What is measured: (label, mode, options); --since is the log's last week."""
    week = (START + dt.timedelta(minutes=10 * (entries - 1)) - dt.timedelta(days=7)).date().isoformat()
    return [
        ("the imports alone", "imports", []),
        ("earlier: whole log read", "earlier", []),
        ("earlier: --json", "earlier", ["--json"]),
        ("hospital audit", "now", []),
        ("hospital audit --json", "now", ["--json"]),
        ("--last 20", "now", ["--last", "20"]),
        ("--run 3", "now", ["--run", "3"]),
        (f"--since {week}", "now", ["--since", week]),
    ]


def audit_entry(i: int) -> dict:
    """The i-th entry of the log, as `audit_entry` writes a reply: runs of 5,000 messages (a
    training reply, with its arrays, then an evaluation, for each round), 10 minutes apart."""
    run, step = divmod(i, 5000)
    kind = "train" if step % 2 == 0 else "evaluate"
    records = [{"name": "metrics", "kind": "metrics", "bytes": 40, "sha256": f"{i:064x}", "values": {}}]
    records[0]["values"] = {"num-examples": 80, "epsilon": 0.01 * (i + 1), "noise-multiplier": 1.2}
    if kind == "train":
        arrays = {"name": "arrays", "kind": "arrays", "keys": 4, "bytes": 40_000, "sha256": "ab" * 32}
        records.insert(0, arrays)
    return {
        "time": (START + dt.timedelta(minutes=10 * i)).isoformat(timespec="milliseconds"),
        "run": run,
        "round": step // 2 + 1,
        "type": kind,
        "reply_to": f"m{i}",
        "destination": "coordinator",
        "status": "ok",
        "records": records,
        "bytes": sum(r["bytes"] for r in records),
        "sha256": "cd" * 32,
        "epsilon": 0.01 * (i + 1),
    }


def write_site(folder: Path, entries: int) -> Path:
    """A site folder (`hospital init`) whose audit log holds `entries` entries."""
    from genofed.client.agent.keys import init_site

    site = folder / "site"
    init_site(site, "rostov")
    with open(site / "audit.jsonl", "w", encoding="utf-8") as log:
        for i in range(entries):
            log.write(json.dumps(audit_entry(i), sort_keys=True) + "\n")
    return site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        site = write_site(Path(folder), args.entries)
        size = (site / "audit.jsonl").stat().st_size / 1e6
        print(f"{args.entries} entries, {size:.0f} MB; time after the imports, peak RSS of the process")
        print(f"{'':<28} {'seconds':>8} {'peak MB':>8}")
        for label, mode, options in cases(args.entries):
            result = run_child(CHILD, mode, str(site), *options)
            assert result["status"] == 0, label
            print(f"{label:<28} {result['seconds']:>8.2f} {result['peak_rss_mb']:>8.0f}")


if __name__ == "__main__":
    main()

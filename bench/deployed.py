"""The deployed services on loopback against the same rounds in simulation: seconds per round,
the deployment's overhead per round beyond the simulation, and bytes per round, plain
aggregation against SecAgg+, measured in one run of this script (same cohorts, same settings).

    .venv/bin/python bench/deployed.py [--rounds 3] [--out runs/bench-deployed]

Each federation is real processes: `genofed coordinator start` (SuperLink, TLS, hospital
authentication) and one `genofed hospital start` per hospital of the `small` preset, each with
its warm ClientApp worker (genofed.client.agent.worker). Round 1 also pays the hospitals' first
connection; the per-round figure is the mean of rounds 2..N, in deployment and in simulation
(Flower's simulation engine, `genofed simulate`'s code path, the same settings). Traffic is
the SuperLink's own count of bytes in and out for the run (`flwr ls`). The targets:
overhead <= 2 s per round with 3 hospitals; SecAgg+ <= 1.5x a plain deployed round.

Where the time goes, from the hospitals' audit logs (the time each reply left): an exchange is
one message to every hospital and their replies (a plain round has one, two with evaluation; a
SecAgg+ round four). For the exchanges after round 1 it prints their mean length (the last
reply of one to the last reply of the next) and the mean time from a hospital's reply to its
next reply.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from genofed.simulations.cohorts.build import simulate_cohorts
from genofed.simulations.local.loopback import run_loopback_federation


def per_round(results: dict[str, Any]) -> float:
    """Mean seconds of rounds 2..N (round 0 is the start model, round 1 pays the connection)."""
    seconds = [r["seconds"] for r in results["rounds"][2:]] or [results["rounds"][-1]["seconds"]]
    return statistics.mean(seconds)


def reply_times(federation: Path) -> list[tuple[float, str]]:
    """(time, hospital) of every reply the hospitals' audit logs record after round 1, in time order."""
    replies = []
    for log in sorted(federation.glob("site-*/audit.jsonl")):
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if (entry.get("round") or 0) >= 2 and entry.get("status") == "ok":
                replies.append((dt.datetime.fromisoformat(entry["time"]).timestamp(), log.parent.name))
    return sorted(replies)


def exchange_waits(federation: Path, hospitals: int) -> tuple[float, float]:
    """Mean seconds per exchange (its last reply to the next exchange's last reply), and from a
    hospital's reply to its next reply, over the exchanges after round 1."""
    replies = reply_times(federation)
    exchanges = [replies[i : i + hospitals] for i in range(0, len(replies) - hospitals + 1, hospitals)]
    lengths, gaps = [], []
    for before, now in zip(exchanges, exchanges[1:], strict=False):
        lengths.append(now[-1][0] - before[-1][0])
        previous = {site: t for t, site in before}
        gaps += [t - previous[site] for t, site in now]
    return statistics.mean(lengths), statistics.mean(gaps)


def simulated(cohorts: Path, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The same rounds on Flower's simulation engine."""
    from genofed.server.settings import RunSettings
    from genofed.simulations.local.simulate import simulate

    run = RunSettings(
        data_dir=str(cohorts),
        out_dir=str(out),
        rounds=settings["rounds"],
        min_nodes=settings["min_nodes"],
        local_epochs=settings["local_epochs"],
        batch_size=settings["batch_size"],
        secagg=settings["secagg"],
        quiet=True,
        ledger_dir=str(out / "ledgers"),
    )
    return simulate(run, references=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="runs/bench-deployed")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cohorts = out / "cohorts"
    simulate_cohorts(cohorts, preset="small", seed=5)
    rows = []
    for mode in ("plain", "secagg"):
        settings = {
            "rounds": args.rounds,
            "min_nodes": 3,
            "local_epochs": 2,
            "batch_size": 16,
            "secagg": mode == "secagg",
        }
        print(f"running the {mode} federation ...", file=sys.stderr, flush=True)
        results = run_loopback_federation(out / mode, cohorts, settings)
        if results["coordinator_exit"] != 0:
            print(
                f"{mode}: the coordinator exited with {results['coordinator_exit']}; see {out / mode}",
                file=sys.stderr,
            )
            return 1
        print(f"running the {mode} simulation ...", file=sys.stderr, flush=True)
        sim = simulated(cohorts, out / f"{mode}-simulation", settings)
        status = json.loads((out / mode / "fed" / "coordinator.json").read_text())
        traffic = status.get("network_traffic") or {}
        rows.append(
            (
                mode,
                len(results["sites"]),
                per_round(results),
                per_round(sim),
                traffic.get("inbound-bytes", 0) / args.rounds / 1024,
                traffic.get("outbound-bytes", 0) / args.rounds / 1024,
                results["loopback_wall_seconds"],
                results["test_auc"],
                max(results["epsilon"].values()),
                exchange_waits(out / mode, len(results["sites"])),
            )
        )
    print(
        f"{'mode':<7} {'hospitals':>9} {'s/round':>8} {'sim s/round':>11} {'overhead s':>10} "
        f"{'KiB in/round':>13} {'KiB out/round':>14} {'wall s':>7} {'test AUC':>9} {'eps max':>8}"
    )
    for mode, n, sec, sim_sec, kin, kout, wall, auc, eps, _waits in rows:
        print(
            f"{mode:<7} {n:>9} {sec:>8.2f} {sim_sec:>11.2f} {sec - sim_sec:>10.2f} {kin:>13.1f} "
            f"{kout:>14.1f} {wall:>7.0f} {auc:>9.3f} {eps:>8.2f}"
        )
    plain, secagg = rows
    print(
        f"SecAgg+ / plain: {secagg[2] / plain[2]:.2f}x seconds per round, "
        f"{secagg[4] / max(plain[4], 1e-9):.2f}x bytes into the coordinator"
    )
    print("exchanges after round 1, from the hospitals' audit logs:")
    for mode, *_, (length, gap) in rows:
        print(f"{mode:<7} {length:.2f} s per exchange; {gap:.2f} s from a hospital's reply to its next")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

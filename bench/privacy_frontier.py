"""Benchmark: the privacy frontier's targets, measured in one run.

Runs `genofed experiment privacy-frontier` (or, with --from DIR, reads the DIR/results.json an
earlier run wrote) and prints per federation the test AUC of every design at every epsilon next
to the references measured on the same splits (pooled non-private logistic regression, the plain
DP logistic regression), then the targets as differences or ratios:

- the default design (robust, from scratch): at epsilon 3 at least 0.03 above the plain DP
  logistic regression; at epsilon 8 within 0.03 of pooled;
- with a source prior (robust): at epsilon 3 within 0.08 of pooled; at epsilon 1 within 0.12;
- distributed (coordinator-facing epsilon 3): within 0.05 of pooled;
- every hospital's AUC with the federation >= its AUC alone without privacy (the shared model
  as it is, and each hospital's local adaptation of it, `genofed adapt`);
- a round of the logistic model costs no more than a round of the network.

The full grid (2 federations x 8 designs x 4 epsilons x 3 seeds) takes hours: reduce it with
--federations, --designs, --epsilons and --seeds; a rerun with the same --out resumes.

    .venv/bin/python bench/privacy_frontier.py [--out runs/privacy-frontier] [--small]
        [--federations default,heldout] [--designs logistic,network] [--epsilons 3,8] [--seeds 1]
    .venv/bin/python bench/privacy_frontier.py --from runs/privacy-frontier
    .venv/bin/python bench/privacy_frontier.py --from NEW --paired-with OLD

--paired-with OLD also prints, per federation, design and epsilon, the mean difference of test
AUC between the two experiments' runs of the same cell and seed: runs with the same settings
draw the same splits and noise, so a change of code is measured paired, more precisely than the
spread over seeds allows.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path


def _numbers(text: str, kind: type) -> tuple:
    return tuple(kind(v) for v in text.split(",") if v.strip())


def _run(args: argparse.Namespace) -> dict:
    from genofed.simulations.experiments.privacy_frontier import SIMULATED_FEDERATIONS, FrontierConfig
    from genofed.simulations.experiments.privacy_frontier.run import run_frontier_experiment

    config = FrontierConfig.small(args.out) if args.small else FrontierConfig(out_dir=args.out)
    changes: dict = {}
    if args.federations:
        changes["federations"] = tuple(SIMULATED_FEDERATIONS[n] for n in args.federations.split(","))
    if args.designs:
        changes["designs"] = tuple(args.designs.split(","))
    if args.epsilons:
        changes["epsilons"] = _numbers(args.epsilons, float)
    if args.seeds:
        changes["seeds"] = _numbers(args.seeds, int)
    return run_frontier_experiment(replace(config, **changes), progress=print)


def _auc(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f}" + (f"+-{sd:.3f}" if sd is not None else "")


def _print_frontier(results: dict) -> None:
    epsilons = results["config"]["epsilons"]
    heads = ["no DP" if e == "inf" else f"eps {float(e):g}" for e in epsilons]
    for federation, info in results["federations"].items():
        print(
            f"\nfederation {federation}: {info['variants']} variants ({info.get('preset') or info['folder']})"
        )
        print(f"{'design':<28}" + "".join(f"{h:>15}" for h in heads))
        table = [r for r in results["table"] if r["federation"] == federation]
        refs = [r for r in results["reference_table"] if r["federation"] == federation]
        for design in dict.fromkeys(r["design"] for r in table):
            cells = {r["epsilon"]: _auc(r["auc_mean"], r["auc_sd"]) for r in table if r["design"] == design}
            print(f"{design:<28}" + "".join(f"{cells.get(e, '-'):>15}" for e in epsilons))
        dp = {r["epsilon"]: _auc(r["auc_mean"], r["auc_sd"]) for r in refs if r["reference"] == "dp-logistic"}
        print(f"{'plain DP logistic (ref)':<28}" + "".join(f"{dp.get(e, '-'):>15}" for e in epsilons))
        pooled = [_auc(r["auc_mean"], r["auc_sd"]) for r in refs if r["reference"] == "pooled"]
        alone = [r for r in refs if r["reference"] == "alone"]
        print(f"pooled LR, no DP (ref): {pooled[0] if pooled else '-'}")
        print(
            "each hospital alone, no DP: "
            + ", ".join(f"{r['site']} {_auc(r['auc_mean'], None)}" for r in alone)
        )


def _print_targets(results: dict) -> None:
    print("\ntargets (differences of mean test AUC; 'gap' = pooled minus the design):")
    for t in results["targets"]:
        value = "not measured" if t["value"] is None else f"{t['value']:+.3f}"
        where = "" if t["epsilon"] is None else f" at {'no DP' if t['epsilon'] == 'inf' else t['epsilon']}"
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        extra = f" (worst: {t['worst_site']})" if t.get("worst_site") else ""
        print(
            f"  {t['federation']:<10} {t['target']} [{t['design']}{where}]: {value}{extra} "
            f"(target {t['rule']} {t['threshold']:g}) -> {verdict}"
        )
    for s in results["skipped"]:
        where = "" if s.get("epsilon") is None else f" at {s['epsilon']}"
        print(f"  not measured: {s['design']} on {s['federation']}{where}: {s['reason']}")


def _print_timing(results: dict) -> None:
    timing = results["timing"]
    per = ", ".join(f"{d} {s:.0f} s" for d, s in (timing.get("per_design") or {}).items() if s is not None)
    print(f"\nwall seconds per federated run (mean): {per or '-'}")
    estimate = timing.get("full_grid_seconds_estimate")
    if estimate:
        print(
            f"full grid ({timing['full_grid_runs']} runs) estimated at {estimate / 3600:.1f} h, "
            "plus the references"
        )
    print(f"this invocation: {results['wall_seconds'] / 60:.1f} min (finished pieces reused, not timed)")


def _load(folder: str) -> dict:
    path = Path(folder) / "results.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run the experiment first (without --from)")
    return json.loads(path.read_text())


def _print_paired(new: dict, old: dict) -> None:
    """Mean paired difference (new - old) per federation, design and epsilon, over the seeds
    both hold, for the cells whose runs differ."""
    before = {(r["federation"], r["design"], r["epsilon"], r["seed"]): r["test_auc"] for r in old["runs"]}
    cells: dict[tuple, list[float]] = {}
    for run in new["runs"]:
        key = (run["federation"], run["design"], run["epsilon"], run["seed"])
        if before.get(key) is not None and run["test_auc"] is not None:
            cells.setdefault(key[:3], []).append(run["test_auc"] - before[key])
    changed = {cell: diffs for cell, diffs in cells.items() if any(d != 0 for d in diffs)}
    print("\npaired with the earlier experiment (new - old test AUC, same cell and seed):")
    if not changed:
        print("  no run differs")
    for (federation, design, epsilon), diffs in sorted(changed.items(), key=lambda kv: kv[0]):
        each = " ".join(f"{d:+.3f}" for d in diffs)
        print(f"  {federation:8} {design:30} eps {epsilon:g}: {sum(diffs) / len(diffs):+.3f} ({each})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/privacy-frontier", help="experiment folder")
    parser.add_argument("--from", dest="source", metavar="DIR", help="only read DIR/results.json")
    parser.add_argument("--small", action="store_true", help="the small configuration (minutes)")
    parser.add_argument("--federations", help="among default,heldout (default: both)")
    parser.add_argument("--designs", help="comma-separated designs (default: all eight)")
    parser.add_argument("--epsilons", help="comma-separated, inf = no DP (default: 1,3,8,inf)")
    parser.add_argument("--seeds", help="comma-separated (default: 1,2,3)")
    parser.add_argument(
        "--paired-with", metavar="OLD", help="also the paired differences to OLD/results.json"
    )
    args = parser.parse_args()
    if args.source:
        results = _load(args.source)
    else:
        results = _run(args)
    _print_frontier(results)
    _print_targets(results)
    _print_timing(results)
    if args.paired_with:
        _print_paired(results, _load(args.paired_with))


if __name__ == "__main__":
    main()

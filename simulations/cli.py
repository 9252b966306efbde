"""`genofed simulate-cohorts`: write simulated hospitals, a test cohort, the panel and the truth."""

from __future__ import annotations

import argparse
import sys
import time

from genofed.common.errors import GenofedError

PRESET_NAMES = ("small", "default", "large", "1000g", "transfer")


class SimulationArgumentError(GenofedError):
    """A bad simulate-cohorts argument (printed without a traceback)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    register_simulate_cohorts(subparsers)
    register_simulate(subparsers)
    register_experiment(subparsers)


def register_experiment(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="the paper's experiments on simulated cohorts, each written to a report",
        description="Reproduce the paper's results with our own measurements; each experiment writes OUT/report.md.",
    )
    experiments = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    transfer = experiments.add_parser(
        "transfer",
        help="transfer learning: scratch vs near/far pretrained models, alone and federated, with and without DP",
        description=(
            "For sites of several sizes: (a) scratch alone, (b) near-source model fine-tuned alone, (c) far-source "
            "model alone, (d) federated from scratch, (e) federated from the near model; without DP and at each "
            "epsilon; several seeds; plus pooled non-private training and a comparison of fine-tuning modes. Writes "
            "OUT/transfer.json and OUT/report.md. The full run takes about an hour on 2 cores; finished pieces are "
            "reused when it is rerun with the same OUT."
        ),
    )
    transfer.add_argument("--out", required=True, metavar="OUT", help="experiment folder (cohorts, models, runs, report)")
    transfer.add_argument("--small", action="store_true", help="a minutes-scale version on the small preset (what the tests run)")
    transfer.add_argument("--sizes", metavar="N,N,...", help="patients per site (default: 50,100,200,400)")
    transfer.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    transfer.add_argument("--epsilons", metavar="E,E,...", help="per-site privacy budgets, inf = no DP (default: inf,8,3)")
    transfer.add_argument("--no-federated", action="store_true", help="skip the federated arms (d) and (e)")
    transfer.add_argument("--quiet", action="store_true", help="no progress lines")
    transfer.set_defaults(handler=run_transfer)


def run_transfer(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .transfer import TransferConfig, run_transfer_experiment

    config = TransferConfig.small(args.out) if args.small else TransferConfig(out_dir=args.out)
    changes: dict = {}
    if args.sizes:
        changes["sizes"] = _numbers(args.sizes, int, "--sizes")
    if args.seeds:
        changes["seeds"] = _numbers(args.seeds, int, "--seeds")
    if args.epsilons:
        changes["epsilons"] = _numbers(args.epsilons, float, "--epsilons")
    if args.no_federated:
        changes["federated"] = False
    config = replace(config, **changes)
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run_transfer_experiment(config, progress)
    for line in _transfer_summary(results):
        print(line)
    return 0


def _numbers(text: str, kind: type, option: str) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SimulationArgumentError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise SimulationArgumentError(f"{option} needs at least one value")
    return values


def _transfer_summary(results: dict) -> list[str]:
    lines = [f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)"]
    for gain in results["gains"]:
        eps = "no DP" if gain["epsilon"] == "inf" else f"epsilon {gain['epsilon']:g}"
        lines.append(f"  {gain['source']:<4} source, {gain['size']:>3} patients, {eps:<11} ({gain['mode']}): "
                     f"{gain['accuracy_points_mean']:+5.1f} accuracy points, {gain['auc_mean']:+.3f} AUC over scratch")
    return lines


def register_simulate_cohorts(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate-cohorts",
        help="write simulated hospitals (VCF + phenotypes.csv), a test cohort and truth.json",
        description=(
            "Simulate a federation of Southern Federal District clinics with a rare disease "
            "(msprime populations, liability-threshold model) or a semi-synthetic one on real "
            "1000 Genomes genotypes (--preset 1000g), and write one folder per hospital, test/, "
            "panel.tsv and truth.json (causal variants, Bayes-optimal AUC)."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (must not hold files unless --force)")
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES, help="size of the federation (default: default)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default: 42)")
    parser.add_argument("--with-sources", action="store_true", help="also write source cohorts for pretraining (transfer learning): near and far traits on 20,000 "
                             "people (PLINK), or for --preset 1000g the remaining 1000 Genomes people with their ancestry (VCF)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it already holds files")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--no-check", action="store_true", help="skip reading every hospital back through the clinic data checks")
    parser.set_defaults(handler=run)


def register_simulate(subparsers: argparse._SubParsersAction) -> None:
    from genofed.server.settings import FINETUNE_MODES, STRATEGIES, RunSettings

    defaults = RunSettings()
    parser = subparsers.add_parser(
        "simulate",
        help="run a whole federation on this machine (Flower simulation engine) and write a report",
        description=(
            "The local simulation mode: one virtual hospital (Flower SuperNode) per hospital folder of "
            "--data trains the shared model with DP-SGD on its own files; the coordinator aggregates. "
            "The same run trains reference models (each hospital alone, all pooled) and writes "
            "RUN/results.json, RUN/report.md with plots, the final model and per-round checkpoints. "
            "Without --data it first simulates the default hospitals into RUN/cohorts."
        ),
    )
    parser.add_argument("--data", metavar="DIR", help="federation folder from `genofed simulate-cohorts` (default: simulate one)")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder for results, report, model, checkpoints")
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES, help="cohorts to simulate when --data is not given")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help=f"federated rounds (default: {defaults.rounds})")
    parser.add_argument("--epsilon", type=float, default=defaults.epsilon,
                        help=f"each hospital's privacy budget for the run, at --delta; inf = no privacy (default: {defaults.epsilon:g})")
    parser.add_argument("--delta", type=float, default=defaults.delta, help=f"DP delta (default: {defaults.delta:g})")
    parser.add_argument("--strategy", default=defaults.strategy, choices=STRATEGIES, help="aggregation (default: fedavg)")
    parser.add_argument("--local-epochs", type=int, default=defaults.local_epochs, help="local epochs per round")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="expected DP-SGD batch size")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="local learning rate")
    parser.add_argument("--clip", type=float, default=defaults.clip, help="per-patient gradient clipping norm")
    parser.add_argument("--proximal-mu", type=float, default=defaults.proximal_mu, help="FedProx proximal term")
    parser.add_argument("--fraction-train", type=float, default=defaults.fraction_train, help="share of hospitals sampled per round")
    parser.add_argument("--min-nodes", type=int, default=defaults.min_nodes, help="minimum hospitals to start and per round")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (cohorts, model, splits, simulated sites' noise)")
    parser.add_argument("--pretrained", metavar="MODEL", default="",
                        help="start from this `genofed pretrain` model (refused if its panel or hash does not match)")
    parser.add_argument("--pretrained-hash", metavar="SHA256", default="",
                        help="the content hash MODEL must have (the full hash or its first >= 12 hex digits)")
    parser.add_argument("--finetune", default=defaults.finetune, choices=FINETUNE_MODES,
                        help="what hospitals train: full, partial (the head; encoder frozen) or frozen (output layer only); "
                             "partial and frozen need --pretrained (default: full)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints (same settings)")
    parser.add_argument("--no-references", action="store_true", help="skip the local-only and pooled reference models")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.server.report import format_summary, write_report
    from genofed.server.settings import RunSettings

    from .simulate import simulate

    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    out = Path(args.out)
    data = Path(args.data) if args.data else out / "cohorts"
    if not args.data:
        from .cohorts import ensure_cohorts

        ensure_cohorts(data, preset=args.preset, seed=args.seed, progress=progress)
    settings = RunSettings(
        data_dir=str(data), out_dir=str(out), rounds=args.rounds, strategy=args.strategy, epsilon=args.epsilon,
        delta=args.delta, local_epochs=args.local_epochs, batch_size=args.batch_size, lr=args.lr, clip=args.clip,
        proximal_mu=args.proximal_mu, fraction_train=args.fraction_train, min_nodes=args.min_nodes, seed=args.seed,
        resume=args.resume, quiet=args.quiet, pretrained=args.pretrained, pretrained_hash=args.pretrained_hash,
        finetune=args.finetune,
    )
    results = simulate(settings, progress=progress, references=not args.no_references, verbose=args.verbose)
    report = write_report(out, results)
    print(format_summary(results, report))
    return 0


def run(args: argparse.Namespace) -> int:
    from .cohorts import simulate_cohorts  # msprime and friends load only when simulating

    if args.seed < 0:
        raise SimulationArgumentError(f"--seed must be a non-negative integer, got {args.seed}")
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr)

    try:
        result = simulate_cohorts(args.out, preset=args.preset, seed=args.seed, with_sources=args.with_sources, overwrite=args.force, progress=progress)
    except ValueError as exc:
        raise SimulationArgumentError(str(exc)) from exc
    print(f"wrote {result.out_dir} (preset {result.preset}, seed {result.seed}) in {time.monotonic() - started:.1f}s")
    print(f"  variants: {result.n_variants} (panel.tsv)")
    for cohort in (*result.hospitals, result.test):
        print(f"  {cohort.name:<14} {cohort.n:>5} people {cohort.cases:>5} cases")
    print(f"  Bayes-optimal test AUC: {result.bayes_auc:.3f} (truth.json, test/true_risk.csv)")
    if result.sources:
        print(f"  sources: {', '.join(result.sources)} (sources/<name>/: genotypes, phenotypes.csv, truth.json; "
              "pretrain on one with `genofed pretrain`)")
    if not args.no_check:
        progress("checking every cohort with the clinic data loaders (genofed data check)")
        print_check(result.out_dir)
    return 0


def print_check(federation_dir) -> None:
    """Read every written cohort back as a hospital would and print what the checks found."""
    from genofed.common.layout import load_federation

    sites = load_federation(federation_dir)
    print("data check (same loaders and checks as `genofed data check`):")
    print(f"  {'cohort':<14} {'samples':>7} {'cases':>5} {'variants':>8} {'coverage':>8} {'missing':>7}  warnings")
    for name, site in sites.items():
        summary = site.summary()
        warnings = ", ".join(w.code for w in site.warnings) or "none"
        print(f"  {name:<14} {summary['samples']:>7} {summary['cases']:>5} {summary['variants']:>8} "
              f"{summary['alignment']['coverage']:>8.1%} {summary['missing_rate']:>7.2%}  {warnings}")
    print(f"OK: all {len(sites)} cohorts pass. Check one yourself:")
    print(f"  genofed data check --genotypes {federation_dir}/rostov/genotypes.vcf.gz "
          f"--phenotypes {federation_dir}/rostov/phenotypes.csv --panel {federation_dir}/panel.tsv")

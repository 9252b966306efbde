"""`genofed simulate-cohorts`: write simulated hospitals, a test cohort, the panel and the truth."""

from __future__ import annotations

import argparse
import sys
import time

from genofed.common.errors import GenofedError

PRESET_NAMES = ("small", "default", "large", "1000g")


class SimulationArgumentError(GenofedError):
    """A bad simulate-cohorts argument (printed without a traceback)."""


def register(subparsers: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--with-sources", action="store_true", help="also write large source cohorts (near/far traits, PLINK) for transfer learning")
    parser.add_argument("--force", action="store_true", help="replace DIR if it already holds files")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--no-check", action="store_true", help="skip reading every hospital back through the clinic data checks")
    parser.set_defaults(handler=run)


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
        print(f"  sources: {', '.join(result.sources)} (sources/<name>/genotypes.bed + phenotypes.csv)")
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

"""`genofed experiment ...`: the paper's experiments on simulated cohorts, each written to a report.

One subcommand per experiment (transfer, synthetic-fidelity, synthetic-utility, augmentation,
privacy-frontier);
each builds the experiment's config from its options, runs it with progress lines on stderr and
prints the headline figures. The experiments (torch, Flower) are imported inside the handlers,
so `genofed --help` stays light.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from genofed.cli.data import add_label_column_argument
from genofed.common.errors import ConfigError
from genofed.common.util.progress import Progress


class ExperimentArgumentError(ConfigError):
    """A bad experiment argument (printed without a traceback)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    register_experiment(subparsers)


def _progress(quiet: bool) -> Progress:
    """Progress lines on stderr, timed from now; nothing when `quiet`."""
    started = time.monotonic()

    def progress(message: str) -> None:
        if not quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    return progress


#: The files a `genofed simulate` run (or a deployed coordinator's run/) writes at the top of its
#: folder and no experiment writes there: an OUT holding one is another run's folder.
RUN_FILES = ("model.pt", "test_predictions.csv", "report.html")


def refuse_a_run_folder(out: str | Path) -> None:
    """Refuse an experiment OUT that holds a `genofed simulate` run: the experiment writes its
    report.md (and results) over that run's, without asking (a fuzzing review's `experiment
    privacy-frontier --out run1` went ahead in a finished run's folder). An earlier experiment's OUT
    is taken as it is: its finished pieces are reused."""
    folder = Path(out)
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if found:
        raise ExperimentArgumentError(
            f"--out {folder} holds a run of `genofed simulate` ({', '.join(found)}): the experiment would "
            "write its report over that run's; give the experiment a folder of its own"
        )


def register_experiment(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="the paper's experiments on simulated cohorts, each written to a report",
        description="Reproduce the paper's results with our own measurements; each experiment writes "
        "OUT/report.md.",
    )
    experiments = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    transfer = experiments.add_parser(
        "transfer",
        help="transfer learning: scratch vs near/far pretrained models, alone and federated, with and "
        "without DP",
        description=(
            "For sites of several sizes: (a) scratch alone, (b) near-source model fine-tuned alone, (c) "
            "far-source model alone, (d) federated from scratch, (e) federated from the near model; without "
            "DP and at each epsilon; several seeds; plus pooled non-private training and a comparison of "
            "fine-tuning modes. Writes OUT/transfer.json and OUT/report.md. The full run takes about an hour "
            "on 2 cores; finished pieces are reused when it is rerun with the same OUT."
        ),
    )
    transfer.add_argument(
        "--out", required=True, metavar="OUT", help="experiment folder (cohorts, models, runs, report)"
    )
    transfer.add_argument(
        "--small",
        action="store_true",
        help="a minutes-scale version on the small preset (what the tests run)",
    )
    transfer.add_argument("--sizes", metavar="N,N,...", help="patients per site (default: 50,100,200,400)")
    transfer.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    transfer.add_argument(
        "--epsilons", metavar="E,E,...", help="per-site privacy budgets, inf = no DP (default: inf,8,3)"
    )
    transfer.add_argument("--no-federated", action="store_true", help="skip the federated arms (d) and (e)")
    transfer.add_argument("--quiet", action="store_true", help="no progress lines")
    transfer.set_defaults(handler=run_transfer)
    register_synthetic_fidelity(experiments)
    register_synthetic_utility(experiments)
    register_augmentation(experiments)
    register_privacy_frontier(experiments)


def run_transfer(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.transfer.run import TransferConfig, run_transfer_experiment

    refuse_a_run_folder(args.out)
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
    progress = _progress(args.quiet)
    results = run_transfer_experiment(config, progress)
    for line in _transfer_summary(results):
        print(line)
    return 0


def register_synthetic_fidelity(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "synthetic-fidelity",
        help="fidelity and privacy of our synthetic genotypes on real 1000 Genomes data, next to the "
        "README's references",
        description=(
            "Split the 1000 Genomes people in two halves; train each generator (VAE, GAN; without DP and at "
            "each epsilon) on one half and compare its samples with the other: allele-frequency and LD "
            "correlation, AATS, privacy loss, exact copies, membership inference; on the 805 SNPs and on "
            "chr1_region_162snp.vcf.gz, next to reference rows (held-out real, independent sites, "
            "per-population, memorised) recomputed with our code. The reference generator (mosaics of a "
            "public panel) runs on 805site, whose people are never in its panel. Writes "
            "OUT/synth_fidelity.json and OUT/report.md; finished generator runs are reused on rerun."
        ),
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="experiment folder (pieces, json, report)"
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="a seconds-scale version (2 epochs, one seed, VAE only; what the tests run)",
    )
    parser.add_argument(
        "--generators",
        metavar="G,G",
        help="generators to train, among vae,gan,reference (default: vae,gan,reference)",
    )
    parser.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    parser.add_argument(
        "--epsilons", metavar="E,E,...", help="per-person privacy budgets, inf = no DP (default: inf,8)"
    )
    parser.add_argument(
        "--dp-seeds", type=int, metavar="K", help="how many of the seeds the DP rows run (default: 1)"
    )
    parser.add_argument(
        "--epochs", type=int, metavar="N", help="generator epochs (default: each generator's own)"
    )
    parser.add_argument(
        "--datasets",
        metavar="D,D",
        help=(
            "among 805 (the phased 805 SNPs), region (chr1_region_162snp.vcf.gz) and 805site (the 805 "
            "SNPs of the people outside a public panel of a fifth of each superpopulation: the reference "
            "generator's data); default: all"
        ),
    )
    parser.add_argument(
        "--temperatures",
        metavar="T,T",
        help="sampling temperatures, one row each from the same trained generator (default: 1,0.7)",
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="train nothing: build the report from the finished runs in "
        "OUT/pieces (e.g. written by parallel invocations)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_synthetic_fidelity)


def run_synthetic_fidelity(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.synthetic_fidelity.config import GENERATORS, FidelityConfig
    from genofed.simulations.experiments.synthetic_fidelity.run import run_fidelity_experiment

    refuse_a_run_folder(args.out)
    config = FidelityConfig.small(args.out) if args.small else FidelityConfig(out_dir=args.out)
    changes: dict = {}
    if args.generators:
        names = tuple(g.strip() for g in args.generators.split(",") if g.strip())
        bad = [g for g in names if g not in GENERATORS]
        if not names or bad:
            raise ExperimentArgumentError(
                f"--generators takes a comma-separated list of {', '.join(GENERATORS)}, got "
                f"{args.generators!r}"
            )
        changes["generators"] = names
    if args.seeds:
        changes["seeds"] = _numbers(args.seeds, int, "--seeds")
    if args.epsilons:
        changes["epsilons"] = _numbers(args.epsilons, float, "--epsilons")
    if args.dp_seeds is not None:
        changes["dp_seeds"] = args.dp_seeds
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.datasets:
        changes["datasets"] = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    if args.temperatures:
        changes["temperatures"] = _numbers(args.temperatures, float, "--temperatures")
    if args.no_train:
        changes["train"] = False
    config = replace(config, **changes)  # re-runs FidelityConfig's checks: bad values are one-line errors
    progress = _progress(args.quiet)
    results = run_fidelity_experiment(config, progress)
    for line in _fidelity_summary(results):
        print(line)
    return 0


def _fidelity_summary(results: dict) -> list[str]:
    from genofed.simulations.experiments.synthetic_fidelity.report import summary_lines

    return [f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)", *summary_lines(results)]


def _numbers(text: str, kind: type, option: str) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ExperimentArgumentError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise ExperimentArgumentError(f"{option} needs at least one value")
    return values


def _transfer_summary(results: dict) -> list[str]:
    lines = [f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)"]
    for gain in results["gains"]:
        eps = "no DP" if gain["epsilon"] == "inf" else f"epsilon {gain['epsilon']:g}"
        lines.append(
            f"  {gain['source']:<4} source, {gain['size']:>3} patients, {eps:<11} ({gain['mode']}): "
            f"{gain['accuracy_points_mean']:+5.1f} accuracy points, {gain['auc_mean']:+.3f} AUC over scratch"
        )
    return lines


def register_synthetic_utility(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "synthetic-utility",
        help="synthetic data: a small site's classifier on real only vs real + validated synthetic, with and "
        "without DP",
        description=(
            "For small sites drawn from the simulated clinics, several seeds, with and without DP: the "
            "site's classifier on its real patients only, on real + the validated records of a generator it "
            "trained itself (public reference panel mosaics, VAE or GAN; several synthetic : real ratios), "
            "and on real + the same records unvalidated. "
            "Under DP every arm spends the same total epsilon (the generator a quarter of it). Writes "
            "OUT/synth_utility.json and OUT/report.md; finished pieces are reused when it is rerun with the "
            "same OUT."
        ),
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="experiment folder (cohorts, sites, report)"
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="a seconds-scale version on the small preset (what the tests run)",
    )
    parser.add_argument(
        "--cohorts",
        metavar="DIR",
        help="reuse simulated cohorts of the same preset and seed: only a folder `genofed simulate-cohorts` "
        "wrote (its clinics' sizes, label column `label` and test/ are what the experiment draws sites "
        "from); not a federation of real hospitals (default: OUT/cohorts)",
    )
    parser.add_argument("--sizes", metavar="N,N,...", help="patients per site (default: 50,100)")
    parser.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    parser.add_argument(
        "--epsilons",
        metavar="E,E,...",
        help="total privacy budget per real patient, inf = no DP (default: inf,8)",
    )
    parser.add_argument(
        "--generators",
        metavar="KIND,...",
        help="generators: reference (mosaics of the cohorts' public reference panel), vae, gan "
        "(default: reference,vae,gan)",
    )
    parser.add_argument(
        "--ratios", metavar="R,R,...", help="synthetic records per real training patient (default: 0.4,1,2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_synthetic_utility)


def run_synthetic_utility(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.synthetic_utility.run import (
        SynthUtilityConfig,
        run_synth_utility_experiment,
    )

    refuse_a_run_folder(args.out)
    config = SynthUtilityConfig.small(args.out) if args.small else SynthUtilityConfig(out_dir=args.out)
    changes: dict = {}
    for option, kind in (("sizes", int), ("seeds", int), ("epsilons", float), ("ratios", float)):
        if getattr(args, option):
            changes[option] = _numbers(getattr(args, option), kind, f"--{option}")
    if args.generators:
        changes["generators"] = tuple(g.strip() for g in args.generators.split(",") if g.strip())
        unknown = set(changes["generators"]) - {"reference", "vae", "gan"}
        if unknown or not changes["generators"]:
            raise ExperimentArgumentError(
                f"--generators takes reference, vae and/or gan, got {args.generators!r}"
            )
    if args.cohorts:
        changes["cohorts"] = args.cohorts
    config = replace(config, **changes)
    progress = _progress(args.quiet)
    results = run_synth_utility_experiment(config, progress)
    print(f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)")
    for kind, state in results["generators"].items():
        if state != "available":
            print(f"  {kind}: {state}")
    for t in results["targets"]["error_reduction_at_paper_ratio"]:
        eps = "no DP" if t["epsilon"] == "inf" else f"epsilon {t['epsilon']:g}"
        print(
            f"  {t['generator']}, {t['size']} patients, {eps}, ratio {t['ratio']:g}: error "
            f"{t['error_real']:.3f} -> {t['error_synthetic']:.3f} (relative change "
            f"{-t['relative_reduction'] + 0.0:+.0%}; target -33%: {_verdict(t['met'], _NO_SYNTHETIC)})"
        )
    return 0


#: Why a target judged None was not measured, as the experiments' reports word it.
_NO_SYNTHETIC = "not measured: no synthetic batch passed validation"
_ONE_SEED = "not measurable with one seed (needs 2 or more)"


def _verdict(met: bool | None, not_measured: str) -> str:
    """A target's verdict for the summary lines: met, MISSED, or why it was not measured (None)."""
    return not_measured if met is None else ("met" if met else "MISSED")


def register_augmentation(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "augmentation",
        help="genotype augmentation: a small site's classifier with and without each augmentation, with and "
        "without DP",
        description=(
            "For small sites drawn from the simulated clinics, several seeds, with and without DP: the "
            "site's classifier without augmentation, with each augmentation (noise, mutate, missing, mix, "
            "mixup) at fixed rates, with the DP-compatible combination, and (without DP) with a combination "
            "including segment mixing; next to an L2-penalised logistic regression and its average with the "
            "augmented network. Every model is also scored on the test cohort with 1 % and 5 % injected "
            "genotyping error. Writes OUT/augment.json and OUT/report.md; finished pieces are reused when it "
            "is rerun with the same OUT."
        ),
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="experiment folder (cohorts, sites, report)"
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="a seconds-scale version on the small preset (what the tests run)",
    )
    parser.add_argument(
        "--preset",
        choices=("synthetic", "transfer", "1000g", "small"),
        help="cohorts: synthetic (default; the default disease on ~1,300 variants), transfer (~20,000 "
        "variants), 1000g (semi-synthetic 1000 Genomes, clinics of 40-60: sizes <= 60)",
    )
    parser.add_argument(
        "--cohorts",
        metavar="DIR",
        help="reuse simulated cohorts of the same preset and seed: only a folder `genofed simulate-cohorts` "
        "wrote (its clinics' sizes, label column `label` and test/ are what the experiment draws sites "
        "from); not a federation of real hospitals (default: OUT/cohorts)",
    )
    parser.add_argument("--sizes", metavar="N,N,...", help="patients per site (default: 25,50,100,200)")
    parser.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    parser.add_argument(
        "--epsilons", metavar="E,E,...", help="per-site privacy budget, inf = no DP (default: inf,8)"
    )
    parser.add_argument(
        "--no-1000g",
        dest="thousand_genomes",
        action="store_false",
        help="skip the second part on the semi-synthetic 1000 Genomes cohorts (OUT/1000g)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_augmentation)


def run_augmentation(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.augmentation.run import AugmentConfig, run_augment_experiment

    refuse_a_run_folder(args.out)
    config = AugmentConfig.small(args.out) if args.small else AugmentConfig(out_dir=args.out)
    changes: dict = {}
    for option, kind in (("sizes", int), ("seeds", int), ("epsilons", float)):
        if getattr(args, option):
            changes[option] = _numbers(getattr(args, option), kind, f"--{option}")
    if args.preset:
        changes["preset"] = args.preset
    if args.cohorts:
        changes["cohorts"] = args.cohorts
    if not args.thousand_genomes:
        changes["thousand_genomes"] = False
    config = replace(config, **changes)
    progress = _progress(args.quiet)
    results = run_augment_experiment(config, progress)
    print(f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)")
    targets = results["targets"]
    gain, robust, privacy = targets["gain"], targets["robustness"], targets["privacy"]
    if gain["best_arm"] is not None:
        print(
            f"  best augmentation at {gain['size']} patients, no DP: {gain['best_arm']} {gain['gain']:+.3f} "
            f"AUC (target +0.05: {'met' if gain['met'] else 'MISSED'})"
        )
    if robust["gain"] is not None:
        print(
            f"  its gain on the test cohort with {100 * robust['error_rate']:g} % miscalls: "
            f"{robust['gain']:+.3f} AUC ({_verdict(robust['met'], _ONE_SEED)})"
        )
    if privacy["met"] is not None:
        print(
            f"  privacy: {privacy['dp_arms_checked']} DP arm runs with the noise and epsilon of 'none': "
            f"{'met' if privacy['met'] else 'MISSED'}"
        )
    return 0


def register_privacy_frontier(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "privacy-frontier",
        help="test AUC against epsilon for every design of the shared model, next to pooled, each "
        "hospital alone and a plain DP logistic regression",
        description=(
            "On the default federation and a second one no setting was tuned on (preset heldout, seed 7), or "
            "on federation folders you give: every design (network, logistic, logistic + source prior, "
            "logistic + gene prior, each also under distributed DP) at every per-site epsilon and seed, as "
            "real federations with the product's defaults; and on the same splits pooled non-private "
            "logistic regression, each hospital alone, and the plain DP logistic regression federation. "
            "Writes OUT/results.json, OUT/report.md (tables, targets) and OUT/frontier_<federation>.png; "
            "finished runs are reused when it is rerun with the same OUT. The full grid is 168 federated "
            "runs (2 federations x 8 designs x 4 epsilons x 3 seeds, less the distributed designs' no-DP "
            "cells): use --designs, --epsilons, --seeds and --federations for less."
        ),
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="experiment folder (federations, runs, report)"
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="a minutes-scale version on the small preset (2 designs, 2 privacy levels, 1 seed, 2 rounds)",
    )
    parser.add_argument(
        "--federations",
        metavar="NAME,...",
        help="simulated federations among default (seed 42) and heldout (seed 7); default: both, or none "
        "when --data is given",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="an existing federation folder with panel.tsv and a test/ cohort (the frontier is measured on "
        "it), e.g. from `genofed simulate-cohorts` (--with-sources for the source prior); repeatable",
    )
    add_label_column_argument(parser)
    parser.add_argument("--designs", metavar="D,D,...", help="designs to run (default: all eight)")
    parser.add_argument(
        "--epsilons", metavar="E,E,...", help="per-site privacy budgets, inf = no DP (default: 1,3,8,inf)"
    )
    parser.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    parser.add_argument(
        "--prior-variants",
        type=int,
        metavar="K",
        help="variants a source prior selects; 0 = all (default: 0, the product's default)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_privacy_frontier)


def run_privacy_frontier(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.privacy_frontier import (
        DESIGNS,
        SIMULATED_FEDERATIONS,
        FederationSpec,
        FrontierConfig,
    )

    refuse_a_run_folder(args.out)
    config = FrontierConfig.small(args.out) if args.small else FrontierConfig(out_dir=args.out)
    changes: dict = {}
    if args.federations or args.data:
        names = [n.strip() for n in (args.federations or "").split(",") if n.strip()]
        unknown = [n for n in names if n not in SIMULATED_FEDERATIONS]
        if unknown:
            raise ExperimentArgumentError(
                f"--federations takes {', '.join(SIMULATED_FEDERATIONS)}, got {args.federations!r}; "
                "give other federations with --data DIR"
            )
        changes["federations"] = (
            *(SIMULATED_FEDERATIONS[n] for n in names),
            *(FederationSpec.from_folder(d) for d in args.data),
        )
    if args.designs:
        designs = tuple(d.strip() for d in args.designs.split(",") if d.strip())
        unknown = [d for d in designs if d not in DESIGNS]
        if not designs or unknown:
            raise ExperimentArgumentError(
                f"--designs takes a comma-separated list of {', '.join(DESIGNS)}, got {args.designs!r}"
            )
        changes["designs"] = designs
    for option, kind in (("seeds", int), ("epsilons", float)):
        if getattr(args, option):
            changes[option] = _numbers(getattr(args, option), kind, f"--{option}")
    if args.prior_variants is not None:
        changes["prior_variants"] = args.prior_variants
    if args.label_column != config.run.label_column:  # every --data folder's, and their test cohorts'
        if not args.data or args.federations:
            raise ExperimentArgumentError(
                f"--label-column {args.label_column} names the column of your --data folders; the simulated "
                "federations (--federations) call it label: run them separately"
            )
        changes["run"] = replace(config.run, label_column=args.label_column)
    config = replace(config, **changes)  # re-runs FrontierConfig's checks: bad values are one-line errors
    from genofed.simulations.experiments.privacy_frontier.run import run_frontier_experiment

    results = run_frontier_experiment(config, _progress(args.quiet))
    print(f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)")
    for skipped in results["skipped"]:
        where = "" if skipped["epsilon"] is None else f" at epsilon {skipped['epsilon']}"
        print(f"  not measured: {skipped['design']} on {skipped['federation']}{where}: {skipped['reason']}")
    for target in results["targets"]:
        value = "not measured" if target["value"] is None else f"{target['value']:+.3f}"
        verdict = {True: "met", False: "MISSED", None: "-"}[target["met"]]
        where = "" if target["epsilon"] is None else f", epsilon {target['epsilon']}"
        print(
            f"  {target['federation']}: {target['target']} ({target['design']}{where}): {value} "
            f"(target {target['rule']} {target['threshold']:g}): {verdict}"
        )
    return 0

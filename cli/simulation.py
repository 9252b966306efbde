"""`genofed simulate-cohorts`: write simulated hospitals, a test cohort, the panel and the truth."""

from __future__ import annotations

import argparse
import sys
import time

from genofed.common.errors import GenofedError

PRESET_NAMES = ("small", "default", "large", "1000g", "transfer", "synthetic")


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


def run_transfer(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from genofed.simulations.experiments.transfer.run import TransferConfig, run_transfer_experiment

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


def register_synthetic_fidelity(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "synthetic-fidelity",
        help="fidelity and privacy of our synthetic genotypes on real 1000 Genomes data, next to the README's references",
        description=(
            "Split the 1000 Genomes people in two halves; train each generator (VAE, GAN; without DP and at each epsilon) "
            "on one half and compare its samples with the other: allele-frequency and LD correlation, AATS, privacy "
            "loss, exact copies, membership inference; on the 805 SNPs and on chr1_region_162snp.vcf.gz, next to "
            "reference rows (held-out real, independent sites, per-population, memorised) recomputed with our code. "
            "Writes OUT/synth_fidelity.json and OUT/report.md; finished generator runs are reused on rerun."
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
        "--generators", metavar="G,G", help="generators to train, among vae,gan (default: vae,gan)"
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
        help="among 805 (the phased 805 SNPs) and region (chr1_region_162snp.vcf.gz); default: both",
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

    from genofed.simulations.experiments.synthetic_fidelity.run import (
        GENERATORS,
        FidelityConfig,
        run_fidelity_experiment,
    )

    config = FidelityConfig.small(args.out) if args.small else FidelityConfig(out_dir=args.out)
    changes: dict = {}
    if args.generators:
        names = tuple(g.strip() for g in args.generators.split(",") if g.strip())
        bad = [g for g in names if g not in GENERATORS]
        if not names or bad:
            raise SimulationArgumentError(
                f"--generators takes a comma-separated list of {', '.join(GENERATORS)}, got {args.generators!r}"
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
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

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
        raise SimulationArgumentError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise SimulationArgumentError(f"{option} needs at least one value")
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
        help="synthetic data: a small site's classifier on real only vs real + validated synthetic, with and without DP",
        description=(
            "For small sites drawn from the simulated clinics, several seeds, with and without DP: the site's classifier "
            "on its real patients only, on real + the validated records of a VAE/GAN it trained itself (several synthetic "
            ": real ratios), and on real + the same records unvalidated. Under DP every arm spends the same total "
            "epsilon (the generator a quarter of it). Writes OUT/synth_utility.json and OUT/report.md; finished pieces "
            "are reused when it is rerun with the same OUT."
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
        help="reuse simulated cohorts of the same preset and seed (default: OUT/cohorts)",
    )
    parser.add_argument("--sizes", metavar="N,N,...", help="patients per site (default: 50,100)")
    parser.add_argument("--seeds", metavar="S,S,...", help="seeds (default: 1,2,3)")
    parser.add_argument(
        "--epsilons",
        metavar="E,E,...",
        help="total privacy budget per real patient, inf = no DP (default: inf,8)",
    )
    parser.add_argument("--generators", metavar="KIND,...", help="generators: vae, gan (default: vae,gan)")
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

    config = SynthUtilityConfig.small(args.out) if args.small else SynthUtilityConfig(out_dir=args.out)
    changes: dict = {}
    for option, kind in (("sizes", int), ("seeds", int), ("epsilons", float), ("ratios", float)):
        if getattr(args, option):
            changes[option] = _numbers(getattr(args, option), kind, f"--{option}")
    if args.generators:
        changes["generators"] = tuple(g.strip() for g in args.generators.split(",") if g.strip())
        unknown = set(changes["generators"]) - {"vae", "gan"}
        if unknown or not changes["generators"]:
            raise SimulationArgumentError(f"--generators takes vae and/or gan, got {args.generators!r}")
    if args.cohorts:
        changes["cohorts"] = args.cohorts
    config = replace(config, **changes)
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run_synth_utility_experiment(config, progress)
    print(f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)")
    for kind, state in results["generators"].items():
        if state != "available":
            print(f"  {kind}: {state}")
    for t in results["targets"]["error_reduction_at_paper_ratio"]:
        eps = "no DP" if t["epsilon"] == "inf" else f"epsilon {t['epsilon']:g}"
        print(
            f"  {t['generator']}, {t['size']} patients, {eps}, ratio {t['ratio']:g}: error {t['error_real']:.3f} -> "
            f"{t['error_synthetic']:.3f} (relative change {-t['relative_reduction'] + 0.0:+.0%}; target -33%: {'met' if t['met'] else 'MISSED'})"
        )
    return 0


def register_augmentation(experiments: argparse._SubParsersAction) -> None:
    parser = experiments.add_parser(
        "augmentation",
        help="genotype augmentation: a small site's classifier with and without each augmentation, with and without DP",
        description=(
            "For small sites drawn from the simulated clinics, several seeds, with and without DP: the site's classifier "
            "without augmentation, with each augmentation (noise, mutate, missing, mix, mixup) at fixed rates, with the "
            "DP-compatible combination, and (without DP) with a combination including segment mixing; next to an "
            "L2-penalised logistic regression and its average with the augmented network. Every model is also scored on "
            "the test cohort with 1 % and 5 % injected genotyping error. Writes OUT/augment.json and OUT/report.md; "
            "finished pieces are reused when it is rerun with the same OUT."
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
        help="reuse simulated cohorts of the same preset and seed (default: OUT/cohorts)",
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
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run_augment_experiment(config, progress)
    print(f"wrote {results['report']} ({results['wall_seconds'] / 60:.1f} min)")
    targets = results["targets"]
    gain, robust, privacy = targets["gain"], targets["robustness"], targets["privacy"]
    if gain["best_arm"] is not None:
        print(
            f"  best augmentation at {gain['size']} patients, no DP: {gain['best_arm']} {gain['gain']:+.3f} AUC "
            f"(target +0.05: {'met' if gain['met'] else 'MISSED'})"
        )
    if robust["gain"] is not None:
        print(
            f"  its gain on the test cohort with {100 * robust['error_rate']:g} % miscalls: {robust['gain']:+.3f} AUC "
            f"({'met' if robust['met'] else 'MISSED'})"
        )
    if privacy["met"] is not None:
        print(
            f"  privacy: {privacy['dp_arms_checked']} DP arm runs with the noise and epsilon of 'none': "
            f"{'met' if privacy['met'] else 'MISSED'}"
        )
    return 0


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
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (must not hold files unless --force)"
    )
    parser.add_argument(
        "--preset", default="default", choices=PRESET_NAMES, help="size of the federation (default: default)"
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="random seed; same seed, same bytes (default: 42)"
    )
    parser.add_argument(
        "--with-sources",
        action="store_true",
        help="also write source cohorts for pretraining (transfer learning): near and far traits on 20,000 "
        "people (PLINK), or for --preset 1000g the remaining 1000 Genomes people with their ancestry (VCF)",
    )
    parser.add_argument("--force", action="store_true", help="replace DIR if it already holds files")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip reading every hospital back through the clinic data checks",
    )
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
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="federation folder from `genofed simulate-cohorts` (default: simulate one)",
    )
    parser.add_argument(
        "--out", required=True, metavar="RUN", help="run folder for results, report, model, checkpoints"
    )
    parser.add_argument(
        "--preset",
        default="default",
        choices=PRESET_NAMES,
        help="cohorts to simulate when --data is not given",
    )
    parser.add_argument(
        "--rounds", type=int, default=defaults.rounds, help=f"federated rounds (default: {defaults.rounds})"
    )
    parser.add_argument(
        "--epsilon",
        type=float,
        default=defaults.epsilon,
        help=f"each hospital's privacy budget for the run, at --delta; inf = no privacy (default: {defaults.epsilon:g})",
    )
    parser.add_argument(
        "--delta", type=float, default=defaults.delta, help=f"DP delta (default: {defaults.delta:g})"
    )
    parser.add_argument(
        "--strategy",
        default=defaults.strategy,
        choices=STRATEGIES,
        help="aggregation: fedavg, fedprox, fedadam, or a robust one that limits what a single bad update can "
        "do: fedmedian, fedtrimmedavg, krum, multikrum (default: fedavg; see docs/robust-aggregation.md)",
    )
    parser.add_argument(
        "--trim-beta",
        type=float,
        default=defaults.trim_beta,
        metavar="BETA",
        help="fedtrimmedavg: share of hospitals cut at each end per coordinate; int(BETA x hospitals) are cut, "
        f"so with 3 hospitals use >= 0.34 (default: {defaults.trim_beta:g})",
    )
    parser.add_argument(
        "--malicious-nodes",
        type=int,
        default=defaults.malicious_nodes,
        metavar="F",
        help=f"krum, multikrum: hospitals that may be malicious (default: {defaults.malicious_nodes})",
    )
    parser.add_argument(
        "--local-epochs", type=int, default=defaults.local_epochs, help="local epochs per round"
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="expected DP-SGD batch size"
    )
    parser.add_argument("--lr", type=float, default=defaults.lr, help="local learning rate")
    parser.add_argument(
        "--clip", type=float, default=defaults.clip, help="per-patient gradient clipping norm"
    )
    parser.add_argument(
        "--proximal-mu", type=float, default=defaults.proximal_mu, help="FedProx proximal term"
    )
    parser.add_argument(
        "--fraction-train",
        type=float,
        default=defaults.fraction_train,
        help="share of hospitals sampled per round",
    )
    parser.add_argument(
        "--min-nodes", type=int, default=defaults.min_nodes, help="minimum hospitals to start and per round"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="random seed (cohorts, model, splits, simulated sites' noise)",
    )
    parser.add_argument(
        "--pretrained",
        metavar="MODEL",
        default="",
        help="start from this `genofed pretrain` model (refused if its panel or hash does not match)",
    )
    parser.add_argument(
        "--pretrained-hash",
        metavar="SHA256",
        default="",
        help="the content hash MODEL must have (the full hash or its first >= 12 hex digits)",
    )
    parser.add_argument(
        "--finetune",
        default=defaults.finetune,
        choices=FINETUNE_MODES,
        help="what hospitals train: full, partial (the head; encoder frozen) or frozen (output layer only); "
        "partial and frozen need --pretrained (default: full)",
    )
    parser.add_argument(
        "--synthetic-ratio",
        type=float,
        default=defaults.synthetic_ratio,
        metavar="R",
        help="each hospital first generates a validated synthetic cohort from its own patients and trains on "
        "real + R synthetic records per real one; failed batches are not used (default: 0 = none)",
    )
    parser.add_argument(
        "--synthetic-generator",
        default=defaults.synthetic_generator,
        choices=("vae", "gan"),
        help="the hospitals' generator (default: vae)",
    )
    parser.add_argument(
        "--synthetic-epsilon",
        type=float,
        default=defaults.synthetic_epsilon,
        metavar="E",
        help="under DP, the generator's share of each hospital's --epsilon, charged to the same ledger "
        f"(default: {defaults.synthetic_epsilon:g})",
    )
    parser.add_argument(
        "--augment",
        default="",
        metavar="SPEC",
        help="genotype augmentation in every hospital's training, applied on the fly, e.g. "
        '"noise=0.01,mutate=0.005,missing=0.02" or a TOML/JSON file; mix and mixup only without DP '
        "(default: none)",
    )
    parser.add_argument(
        "--secagg",
        action="store_true",
        help="secure aggregation (Flower's SecAgg+): the coordinator sees only the sum of the hospitals' "
        "updates, never one hospital's; works with fedavg and fedprox, not fedadam",
    )
    parser.add_argument(
        "--site-evaluations",
        type=int,
        default=defaults.site_evaluations,
        metavar="N",
        help="evaluations of the global model by each hospital on its own validation patients per run "
        "(the last rounds, evenly spaced); each is a DP release paid from its budget, 0 = none "
        f"(default: {defaults.site_evaluations})",
    )
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints (same settings)")
    parser.add_argument(
        "--no-references", action="store_true", help="skip the local-only and pooled reference models"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.server.report import format_summary, write_report
    from genofed.server.settings import RunSettings
    from genofed.simulations.local.simulate import simulate

    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    out = Path(args.out)
    data = Path(args.data) if args.data else out / "cohorts"
    if not args.data:
        from genofed.simulations.cohorts.build import ensure_cohorts

        ensure_cohorts(data, preset=args.preset, seed=args.seed, progress=progress)
    settings = RunSettings(
        data_dir=str(data),
        out_dir=str(out),
        rounds=args.rounds,
        strategy=args.strategy,
        trim_beta=args.trim_beta,
        malicious_nodes=args.malicious_nodes,
        epsilon=args.epsilon,
        delta=args.delta,
        local_epochs=args.local_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        clip=args.clip,
        proximal_mu=args.proximal_mu,
        fraction_train=args.fraction_train,
        min_nodes=args.min_nodes,
        seed=args.seed,
        resume=args.resume,
        quiet=args.quiet,
        pretrained=args.pretrained,
        pretrained_hash=args.pretrained_hash,
        finetune=args.finetune,
        synthetic_ratio=args.synthetic_ratio,
        synthetic_generator=args.synthetic_generator,
        synthetic_epsilon=args.synthetic_epsilon,
        augment=args.augment,
        secagg=args.secagg,
        site_evaluations=args.site_evaluations,
    )
    results = simulate(settings, progress=progress, references=not args.no_references, verbose=args.verbose)
    report = write_report(out, results)
    print(format_summary(results, report))
    return 0


def run(args: argparse.Namespace) -> int:
    from genofed.simulations.cohorts.build import (
        simulate_cohorts,  # msprime and friends load only when simulating
    )

    if args.seed < 0:
        raise SimulationArgumentError(f"--seed must be a non-negative integer, got {args.seed}")
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr)

    try:
        result = simulate_cohorts(
            args.out,
            preset=args.preset,
            seed=args.seed,
            with_sources=args.with_sources,
            overwrite=args.force,
            progress=progress,
        )
    except ValueError as exc:
        raise SimulationArgumentError(str(exc)) from exc
    print(
        f"wrote {result.out_dir} (preset {result.preset}, seed {result.seed}) in {time.monotonic() - started:.1f}s"
    )
    print(f"  variants: {result.n_variants} (panel.tsv)")
    for cohort in (*result.hospitals, result.test):
        print(f"  {cohort.name:<14} {cohort.n:>5} people {cohort.cases:>5} cases")
    print(f"  Bayes-optimal test AUC: {result.bayes_auc:.3f} (truth.json, test/true_risk.csv)")
    if result.sources:
        print(
            f"  sources: {', '.join(result.sources)} (sources/<name>/: genotypes, phenotypes.csv, truth.json; "
            "pretrain on one with `genofed pretrain`)"
        )
    if not args.no_check:
        progress("checking every cohort with the clinic data loaders (genofed data check)")
        print_check(result.out_dir)
    return 0


def print_check(federation_dir) -> None:
    """Read every written cohort back as a hospital would and print what the checks found."""
    from genofed.common.data.layout import load_federation

    sites = load_federation(federation_dir)
    print("data check (same loaders and checks as `genofed data check`):")
    print(
        f"  {'cohort':<14} {'samples':>7} {'cases':>5} {'variants':>8} {'coverage':>8} {'missing':>7}  warnings"
    )
    for name, site in sites.items():
        summary = site.summary()
        warnings = ", ".join(w.code for w in site.warnings) or "none"
        print(
            f"  {name:<14} {summary['samples']:>7} {summary['cases']:>5} {summary['variants']:>8} "
            f"{summary['alignment']['coverage']:>8.1%} {summary['missing_rate']:>7.2%}  {warnings}"
        )
    print(f"OK: all {len(sites)} cohorts pass. Check one yourself:")
    print(
        f"  genofed data check --genotypes {federation_dir}/rostov/genotypes.vcf.gz "
        f"--phenotypes {federation_dir}/rostov/phenotypes.csv --panel {federation_dir}/panel.tsv"
    )

"""`genofed simulate-cohorts` and `genofed simulate`: simulated hospitals and the local simulation mode.

`simulate-cohorts` writes simulated hospitals, a test cohort, the panel and the truth;
`simulate` runs a whole federation on this machine (Flower's simulation engine) and writes its
report. The paper's experiments are in `experiments` (`genofed experiment ...`).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from genofed.cli.options import epsilon_number, require_test_dir_folder, settings_as_options
from genofed.cli.parser import add_prior_arguments
from genofed.cli.report import register_report
from genofed.common.errors import ConfigError
from genofed.common.util.checks import require_at_least

if TYPE_CHECKING:
    from pathlib import Path

    from genofed.server.settings import RunSettings

PRESET_NAMES = ("small", "default", "large", "1000g", "transfer", "synthetic", "heldout")
#: How `--help` shows a training setting whose default is the model's rule (genofed.server.training_rule).
BY_RULE = "default, or 0: the model's rule from public facts, docs/models.md"


class SimulationArgumentError(ConfigError):
    """A bad simulate-cohorts argument (printed without a traceback)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    register_simulate_cohorts(subparsers)
    register_simulate(subparsers)
    register_report(subparsers)


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
    """`genofed simulate`: where the hospitals come from, then the run's settings by group."""
    from genofed.server.settings import RunSettings

    defaults = RunSettings()
    parser = subparsers.add_parser(
        "simulate",
        help="run a whole federation on this machine (Flower simulation engine) and write a report",
        description=(
            "The local simulation mode: one virtual hospital (Flower SuperNode) per hospital folder of "
            "--data trains the shared model with DP-SGD on its own files; the coordinator aggregates. "
            "The same run trains reference models (each hospital alone, all pooled and, under DP, a "
            "plain DP logistic regression federation; --no-references skips them) and writes "
            "RUN/results.json, RUN/report.md with plots, the final model and per-round checkpoints. "
            "Without --data it first simulates the default hospitals into RUN/cohorts."
        ),
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="federation folder: one sub-folder per hospital with its genotypes (VCF/BCF, PLINK or a "
        "table) and phenotype file, optional test/ and panel.tsv (docs/data-formats.md); e.g. from "
        "`genofed simulate-cohorts` (default: simulate one)",
    )
    from genofed.cli.data import add_label_column_argument

    add_label_column_argument(parser)
    parser.add_argument(
        "--test-dir",
        default="",
        metavar="DIR",
        help="the held-out test cohort's folder (genotypes and phenotype file), when it is not DIR/test; "
        "named so, no hospital folder is refused for a name like a test cohort's (test_*, holdout), and "
        "a sub-folder of --data that is DIR is no hospital (default: --data's test/ when there is one)",
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
    _add_federation_options(parser, defaults)
    _add_training_options(parser, defaults)
    _add_start_model_options(parser, defaults)
    _add_synthetic_options(parser, defaults)
    _add_secagg_and_evaluation_options(parser, defaults)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN from its checkpoints and privacy ledgers (same settings)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the run in RUN: its results, report, model, checkpoints and privacy ledgers are "
        "deleted first, so the new run starts with fresh ledgers; --data is never deleted, and RUN/cohorts "
        "is kept when it holds this --preset and --seed. Without --force or --resume, a RUN that holds "
        "files is refused",
    )
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="skip the reference models (each hospital alone, all hospitals pooled and, under DP, the "
        "plain DP logistic regression federation) and the adaptation of the final model to each "
        "hospital; the federated model trains the same",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(handler=run_simulate)


def _add_federation_options(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Rounds, the privacy budget and the aggregation strategy with its robustness knobs."""
    from genofed.server.settings import STRATEGIES

    parser.add_argument("--rounds", type=int, default=defaults.rounds, help=f"federated rounds ({BY_RULE})")
    parser.add_argument(
        "--epsilon",
        type=epsilon_number,
        default=defaults.epsilon,
        help="each hospital's privacy budget for the run, at --delta; inf = no privacy (default: "
        f"{defaults.epsilon:g})",
    )
    parser.add_argument(
        "--delta", type=float, default=defaults.delta, help=f"DP delta (default: {defaults.delta:g})"
    )
    parser.add_argument(
        "--strategy",
        default=defaults.strategy,
        choices=STRATEGIES,
        help="aggregation: fedavg, fedprox, fedadam, or a robust one that limits what a single bad update "
        "can do: fedmedian, fedtrimmedavg, krum, multikrum (default: fedavg; see docs/robust-aggregation.md)",
    )
    parser.add_argument(
        "--trim-beta",
        type=float,
        default=defaults.trim_beta,
        metavar="BETA",
        help="fedtrimmedavg: share of hospitals cut at each end per coordinate; int(BETA x hospitals) are "
        f"cut, so with 3 hospitals use >= 0.34 (default: {defaults.trim_beta:g})",
    )
    parser.add_argument(
        "--malicious-nodes",
        type=int,
        default=defaults.malicious_nodes,
        metavar="F",
        help=f"krum, multikrum: hospitals that may be malicious (default: {defaults.malicious_nodes})",
    )


def _add_training_options(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Each hospital's local DP-SGD settings, the sampling of hospitals and the seed."""
    parser.add_argument(
        "--local-epochs", type=int, default=defaults.local_epochs, help=f"local epochs per round ({BY_RULE})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help=f"expected DP-SGD batch size ({BY_RULE})"
    )
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"local learning rate ({BY_RULE})")
    parser.add_argument(
        "--clip", type=float, default=defaults.clip, help=f"per-patient gradient clipping norm ({BY_RULE})"
    )
    parser.add_argument(
        "--momentum",
        type=float,
        default=defaults.momentum,
        help=f"local SGD momentum in [0, 1) ({BY_RULE.replace('or 0', 'or -1')})",
    )
    parser.add_argument(
        "--proximal-mu",
        type=float,
        default=defaults.proximal_mu,
        help=f"fedprox: the proximal term (default: {defaults.proximal_mu:g})",
    )
    parser.add_argument(
        "--plan-id",
        default="",
        metavar="ID",
        help="the run's plan id, which seeds its noise draws and names its ledger charges (default: one "
        "derived from the settings); a `flwr run`'s results.json `plan_id` reproduces that run",
    )
    parser.add_argument(
        "--server-lr",
        type=float,
        default=defaults.server_lr,
        help=f"fedadam: the server's step size, eta (default: {defaults.server_lr:g})",
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


def _add_start_model_options(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """The model, the public priors or pretrained model it starts from, and what hospitals fine-tune."""
    from genofed.server.settings import DEFAULT_MODEL, FINETUNE_MODES, MODELS

    parser.add_argument(
        "--model",
        default=defaults.model,
        choices=MODELS,
        help="the shared model: logistic (one weight per variant, plus sex and age) or network "
        "(GenNet-style); "
        f"auto = the pretrained model's, else {DEFAULT_MODEL} (default: auto; docs/models.md)",
    )
    add_prior_arguments(parser, defaults)

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


def _add_synthetic_options(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """What hospitals add to their training: synthetic records and genotype augmentation."""
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
        choices=("vae", "gan", "reference"),
        help="the hospitals' generator; reference copies the public panel in DATA/reference/ (default: vae)",
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


def _add_secagg_and_evaluation_options(parser: argparse.ArgumentParser, defaults: RunSettings) -> None:
    """Secure aggregation and the hospitals' evaluations of the global model."""
    parser.add_argument(
        "--secagg",
        action="store_true",
        help="secure aggregation (Flower's SecAgg+): the coordinator sees only the sum of the hospitals' "
        "updates, never one hospital's; works with fedavg and fedprox, not fedadam",
    )
    parser.add_argument(
        "--privacy",
        default=defaults.privacy,
        choices=("local", "distributed"),
        help="local: every hospital's DP holds against anyone; distributed (needs --secagg): each hospital "
        "adds only its share of the noise, so the epsilon holds against a coordinator that sees only the "
        "sum, and a second, larger one against the coordinator and all other hospitals colluding "
        "(default: local; docs/distributed-dp.md)",
    )
    parser.add_argument(
        "--max-coalition-epsilon",
        type=float,
        default=defaults.max_coalition_epsilon,
        metavar="E",
        help="with --privacy distributed: every hospital's ceiling on its epsilon against the coordinator "
        "and all other hospitals colluding; more noise is added if needed (default: inf = none)",
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
    parser.add_argument(
        "--prevalence",
        type=float,
        default=defaults.prevalence,
        metavar="P",
        help="the disease's prevalence where the model is to be used, e.g. 0.015; the report gives PPV and "
        "NPV at it (a simulated federation's truth.json is used when this is 0) "
        f"(default: {defaults.prevalence:g} = unknown)",
    )


def run_simulate(args: argparse.Namespace) -> int:
    """Check every argument, make RUN ready (refuse, resume or replace), simulate the cohorts when
    there is no --data, then run the federation and write its report. Nothing is simulated or
    written before the settings and the files they name have passed their checks."""
    from pathlib import Path

    from genofed.cli.run_folder import COHORTS, Cohorts, prepare_run_folder
    from genofed.common.util.atomic import require_writable_target

    started = time.perf_counter()  # the progress lines' clock, and the run's wall time (`simulate`)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    if not str(args.out).strip():  # Path("") is ".": the folder genofed was started in
        raise ConfigError("--out is empty: give the run folder's path, e.g. --out runs/demo")
    out = Path(args.out)
    data = Path(args.data) if args.data else out / COHORTS
    require_at_least("--seed", args.seed, 0, hint="the seed of the simulated cohorts")
    require_test_dir_folder(args.test_dir, otherwise="leave --test-dir out to use --data's test/")
    try:
        settings = _settings(args, data, out)
        settings.check_inputs(data=bool(args.data))
    except ConfigError as refused:
        raise ConfigError(_as_options(str(refused), args)) from None
    if settings.prior or settings.pretrained or settings.gene_prior:  # before --force deletes anything
        from genofed.common.data.layout import PANEL
        from genofed.server.start_model import check_start_inputs

        check_start_inputs(settings, Path(settings.panel) if settings.panel else data / PANEL)
    if out.is_dir() or not out.exists():  # a read-only RUN: now, not after Flower started
        require_writable_target(out / "results.json")
    simulated = None if args.data else Cohorts(args.preset, args.seed)
    try:
        deleted = prepare_run_folder(
            out, data=data, force=args.force, resume=args.resume, simulated=simulated
        )
    except ConfigError as exc:
        raise ConfigError(f"{exc}{_lone_panel_note(out)}") from None
    if deleted:
        progress(f"--force: deleted the previous run's {', '.join(deleted)} in {out} (fresh privacy ledgers)")
    if not args.data:
        from genofed.simulations.cohorts.build import ensure_cohorts

        ensure_cohorts(data, preset=args.preset, seed=args.seed, progress=progress)
    from genofed.server.report import REPORT_NAME, format_summary  # torch and Flower: after the checks
    from genofed.simulations.local.simulate import simulate

    results = simulate(
        settings,
        progress=progress,
        references=not args.no_references,
        verbose=args.verbose,
        started=started,
    )
    print(format_summary(results, out / REPORT_NAME))
    return 0


#: `simulate` options whose name is not the run setting's.
SIMULATE_OPTION_NAMES = {"data-dir": "--data", "out-dir": "--out"}


def _settings(args: argparse.Namespace, data: Path, out: Path) -> RunSettings:
    """The run's settings from `simulate`'s options (refused by RunSettings in its own words)."""
    from genofed.server.settings import RunSettings

    return RunSettings(
        data_dir=str(data),
        out_dir=str(out),
        label_column=args.label_column,
        test_dir=args.test_dir,
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
        momentum=args.momentum,
        proximal_mu=args.proximal_mu,
        server_lr=args.server_lr,
        plan_id=args.plan_id,
        fraction_train=args.fraction_train,
        min_nodes=args.min_nodes,
        seed=args.seed,
        resume=args.resume,
        quiet=args.quiet,
        pretrained=args.pretrained,
        pretrained_hash=args.pretrained_hash,
        finetune=args.finetune,
        model=args.model,
        prior=args.prior,
        prior_variants=args.prior_variants,
        gene_prior=args.gene_prior,
        privacy=args.privacy,
        max_coalition_epsilon=args.max_coalition_epsilon,
        synthetic_ratio=args.synthetic_ratio,
        synthetic_generator=args.synthetic_generator,
        synthetic_epsilon=args.synthetic_epsilon,
        augment=args.augment,
        secagg=args.secagg,
        site_evaluations=args.site_evaluations,
        prevalence=args.prevalence,
    )


def _as_options(message: str, args: argparse.Namespace) -> str:
    """A run-settings refusal naming the options typed (`--batch-size`), not the run settings."""
    return settings_as_options(message, vars(args), SIMULATE_OPTION_NAMES)


def _lone_panel_note(out) -> str:
    """A word on a RUN that holds nothing but panel.tsv: what a run that failed before its first
    round left behind before genofed took such files back (`simulations/local/failed_start.py`).
    genofed cannot tell that file from a panel of the user's, so it never deletes it: the user can."""
    from genofed.common.data.layout import PANEL

    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held != [PANEL]:
        return ""
    return (
        f"; if {out / PANEL} is the panel an earlier `genofed simulate` built there before it failed (older "
        "versions left it behind), delete it, or the whole folder, and run again"
    )


def run(args: argparse.Namespace) -> int:
    from genofed.simulations.cohorts.build import (
        simulate_cohorts,  # msprime and friends load only when simulating
    )

    require_at_least(
        "--seed", args.seed, 0, message=f"--seed must be a non-negative integer, got {args.seed}"
    )
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
        f"wrote {result.out_dir} (preset {result.preset}, seed {result.seed}) in "
        f"{time.monotonic() - started:.1f}s"
    )
    print(f"  variants: {result.n_variants} (panel.tsv)")
    for cohort in (*result.hospitals, result.test):
        print(f"  {cohort.name:<14} {cohort.n:>5} people {cohort.cases:>5} cases")
    print(f"  Bayes-optimal test AUC: {result.bayes_auc:.3f} (truth.json, test/true_risk.csv)")
    if result.sources:
        print(
            f"  sources: {', '.join(result.sources)} (sources/<name>/: genotypes, phenotypes.csv, "
            "truth.json; pretrain on one with `genofed pretrain`)"
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
        f"  {'cohort':<14} {'samples':>7} {'cases':>5} {'variants':>8} {'coverage':>8} {'missing':>7}  "
        "warnings"
    )
    for name, site in sites.items():
        summary = site.summary()
        warnings = ", ".join(w.code for w in site.warnings) or "none"
        print(
            f"  {name:<14} {summary['samples']:>7} {summary['cases']:>5} {summary['variants']:>8} "
            f"{summary['alignment']['coverage']:>8.1%} {summary['missing_rate']:>7.2%}  {warnings}"
        )
    first = next(iter(sites))  # a cohort this preset wrote (heldout's hospitals are not rostov)
    print(f"OK: all {len(sites)} cohorts pass. Check one yourself:")
    print(
        f"  genofed data check --genotypes {federation_dir}/{first}/genotypes.vcf.gz "
        f"--phenotypes {federation_dir}/{first}/phenotypes.csv --panel {federation_dir}/panel.tsv"
    )

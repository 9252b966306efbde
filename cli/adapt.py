"""`genofed adapt`: the federation's model adapted to a hospital's own patients, on the hospital's
machine (docs/predicting.md, "Adapting the shared model to your hospital").

torch, scipy and the readers load inside the handler, so `genofed adapt --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genofed.cli.predict import (
    add_model_file_arguments,
    check_model_file_arguments,
    missing_folder,
    print_created_folder,
    trained_label_column,
)
from genofed.cli.stdout import closed_stdout_is_fine

if TYPE_CHECKING:
    from genofed.common.scoring.adapt import Adaptation
    from genofed.common.scoring.model_file import ModelFile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt",
        help="adapt the federation's model to your hospital's own patients (local, no network)",
        description=(
            "Fit the federation's logistic model (a federated run's RUN/model.pt) to this hospital's "
            "labelled patients: the shared model's score plus a local L2 logistic regression on the "
            "dosages and covariates, calibrated out of fold, folded into one model file that `genofed "
            "predict` reads. The operating threshold and percentiles come from the hospital's own validation "
            "patients, where the shared and the adapted model are compared (a warning when the adapted one "
            "ranks them worse). The result is fitted WITHOUT differential privacy: keep it inside the "
            "hospital; an adapted model is not adapted again. Details: docs/predicting.md."
        ),
    )
    add_model_file_arguments(
        parser,
        model="the federation's shared model file (not an adapted one)",
        genotypes="the hospital's genotypes: VCF/BCF, PLINK 1 (.bed/.bim/.fam or prefix) or a genotype table",
        out="where to write the adapted model file (a file, not a folder)",
    )
    parser.add_argument(
        "--phenotypes",
        required=True,
        metavar="FILE",
        help="phenotype CSV with sample_id, the label column, and sex and age",
    )
    parser.add_argument(
        "--label-column",
        default=None,
        metavar="NAME",
        help="the 0/1 disease column (default: the column the model was trained on, as its file records it)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of patients held out to set the threshold and compare the models, more than 0 and at "
        "most 0.9 (default: the agent's 0.2)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the keyed validation split (each patient's side depends on its id only; default 0)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=None,
        help="the hospital agent's state folder: hold out the patients the agent held out in federated "
        "training (its secret split), so that the shared model is compared on patients it never trained "
        "on; instead of --split-seed and --validation-fraction",
    )
    parser.set_defaults(handler=run_adapt)


def run_adapt(args: argparse.Namespace) -> int:
    import numpy as np

    from genofed.client.site import VALIDATION_FRACTION
    from genofed.common.data.splits import keyed_split
    from genofed.common.errors import ConfigError, DataError
    from genofed.common.scoring.adapt import (
        MIN_FOR_DISTRIBUTION,
        MIN_TRAIN_CLASS,
        adapt,
        require_enough_patients,
        require_shared_model,
    )
    from genofed.common.scoring.model_file import load_model_file, save_model_file
    from genofed.common.scoring.people import encoded_cohort
    from genofed.common.scoring.validation import covariate_values
    from genofed.common.util.checks import require_in_range

    out = Path(args.out)
    # checked before the model and the patients are read: a refusal costs nothing
    expected_hash = check_model_file_arguments(
        args, output=EARLIER_ADAPTED, is_earlier_output=is_adapted_model_file
    )
    fraction = VALIDATION_FRACTION if args.validation_fraction is None else args.validation_fraction
    require_in_range(
        "--validation-fraction",
        fraction,
        0.0,
        MAX_VALIDATION_FRACTION,
        low_open=True,
        hint="the held-out patients are the only ones the adapted model is checked on, and its threshold "
        "and percentiles are read from them: with none, nothing would be validated",
    )
    split_seed = _split_seed(args)
    shared = load_model_file(args.model, expected_hash=expected_hash)
    require_shared_model(shared, source=args.model)
    args.label_column = trained_label_column(args, shared)
    people = encoded_cohort(
        shared,
        args.genotypes,
        args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
        purpose="fit",
    )
    if not people.labelled:
        raise DataError(
            args.phenotypes,
            f"has no '{args.label_column}' column: adapting needs each patient's diagnosis",
            hint="name the 0/1 disease column with --label-column",
        )
    labels = np.asarray(people.cohort.labels)
    ages = covariate_values(people.cohort.covariates, "age")
    sexes = covariate_values(people.cohort.covariates, "sex")
    train, validation = keyed_split(people.cohort.sample_ids, fraction, split_seed)
    if len(np.unique(labels[train])) < 2:
        raise DataError(
            args.phenotypes,
            f"the {len(train)} training patients hold one class only: adapting needs cases and controls",
            hint="adapt on a cohort with both cases and controls",
        )
    require_enough_patients(
        labels[train],
        source=args.phenotypes,
        hint=f"adapt on a cohort with at least {MIN_TRAIN_CLASS} cases and {MIN_TRAIN_CLASS} controls "
        f"left for training after the validation share ({fraction:g}) is held out, or use the shared model "
        "as it is",
    )
    if len(validation) == 0:
        raise ConfigError(
            f"the validation split holds out none of the {len(labels)} patients (each patient's side is "
            f"drawn from its id, {fraction:g} of them on average): nothing would be validated; "
            + (
                "the agent's split leaves this cohort no validation patient: adapt without --state-dir"
                if args.state_dir is not None
                else "raise --validation-fraction, or try another --split-seed"
            )
        )
    adaptation = adapt(
        shared,
        (people.features[train], labels[train]),
        (people.features[validation], labels[validation]),
        source=str(args.genotypes),
        agent_split=args.state_dir is not None,
        validation_people=(ages[validation], sexes[validation]),
    )
    new_folder = missing_folder(out)
    digest = save_model_file(out, adaptation.model)
    for note in people.notes:
        print(f"note: {note}", file=sys.stderr)
    print_created_folder(new_folder)
    if adaptation.warning:
        print(f"warning: {adaptation.warning} (recorded in {out})", file=sys.stderr)
    _warn_of_an_unfit_shared_model(shared, out)
    with closed_stdout_is_fine():
        _print_summary(out, digest, shared.content_hash, adaptation, MIN_FOR_DISTRIBUTION)
    return 0


def _warn_of_an_unfit_shared_model(shared: ModelFile, out: Path) -> None:
    """Say that the shared model's run report judged it NOT FIT FOR USE (or could not judge it), and
    that the adapted file carries that verdict: `predict` marks its every row not for patient care."""
    from genofed.common.scoring.validation import fitness_words, unfit_words

    if unfit_words(shared.validated_on) is not None:
        print(
            f"warning: the run's report judged the shared model {fitness_words(shared.validated_on)}. The "
            f"adapted model in {out} has no verdict of its own and carries that one: `genofed predict` marks "
            "every row of its scores not for patient care",
            file=sys.stderr,
        )


#: The largest --validation-fraction: some patients must be left to fit on.
MAX_VALIDATION_FRACTION = 0.9


#: An existing --out that `adapt --force` may replace, in words (`is_adapted_model_file`).
EARLIER_ADAPTED = "an adapted model file of `genofed adapt`"


def is_adapted_model_file(path: Path) -> bool:
    """Whether `path` is an adapted model file (a verified model file of provenance kind "adapted"):
    the only file `adapt --force` replaces. A phenotype table, a genotype file or the federation's
    shared model at --out is refused (it is read, never replaced)."""
    from genofed.common.errors import GenofedError
    from genofed.common.scoring.model_file import load_model_file

    try:
        return load_model_file(path).provenance.get("kind") == "adapted"
    except GenofedError:
        return False


def _split_seed(args: argparse.Namespace) -> int:
    """The validation split's seed: the hospital agent's own (`--state-dir`: its secret, read, never
    created), so that the validation patients are the ones the shared model never trained on, or
    `--split-seed` (default 0). The agent's split has its own share, so neither option goes with
    --state-dir."""
    from genofed.client.site import stored_split_seed
    from genofed.common.util.checks import require

    if args.state_dir is None:
        return 0 if args.split_seed is None else args.split_seed
    require(
        args.split_seed is None and args.validation_fraction is None,
        "--state-dir holds out the agent's own validation patients: leave out --split-seed and "
        "--validation-fraction",
    )
    return stored_split_seed(Path(args.state_dir))


def _threshold_lines(point: dict) -> list[str]:
    """The adapted threshold and what it does on the hospital's own validation patients (exact
    counts): sensitivity and specificity with Wilson 95 % intervals, and how many it flags."""
    from genofed.common.reporting.calibration import wilson_interval

    patients, cases = int(round(point["validation_patients"])), int(round(point["validation_cases"]))
    controls = patients - cases

    def share(value: float, of: int) -> str:
        hits = int(round(value * of))
        low, high = wilson_interval(hits, of)
        return f"{100 * value:.1f}% ({hits} of {of}; 95 % CI {100 * low:.0f}-{100 * high:.0f}%)"

    lines = [
        f"operating threshold: risk >= {point['threshold']:g}, the cut-off with the largest sensitivity + "
        f"specificity on the {patients} validation patients ({cases} with the disease)",
        f"  there: sensitivity {share(point['sensitivity'], cases)}, "
        f"specificity {share(point['specificity'], controls)}",
    ]
    flagged, flagged_share = point.get("flagged"), point.get("flagged_share")
    if flagged is not None and flagged_share is not None:
        lines.append(
            f"  it flags {flagged} of the {patients} ({100 * flagged_share:.1f}%), at these patients' "
            f"{100 * cases / patients:.0f}% case share: where the disease is rarer, more of those flagged "
            "are false alarms"
        )
    return lines


def _more_validation_patients(adaptation: Adaptation) -> str:
    """What it takes to hold out enough validation patients for percentiles
    (`minimum_for_percentiles`): the --validation-fraction, and how many patients that leaves to fit
    on; or that this cohort is too small for it, when the rest would be expected to hold fewer than
    `MIN_TRAIN_CLASS` of the rarer class (at the validation patients' case share), which `adapt`
    refuses: advice that ends in a refusal is no advice."""
    import math

    from genofed.common.scoring.adapt import MIN_TRAIN_CLASS
    from genofed.common.scoring.operating import minimum_for_percentiles

    needed, total = minimum_for_percentiles(), adaptation.n_train + adaptation.n_validation
    share = math.ceil(100 * needed / total) / 100
    record = adaptation.model.validated_on or {}
    people, cases = record.get("people") or 0, record.get("cases") or 0
    rarer = min(cases, people - cases) / people if people else 0.5
    if share > MAX_VALIDATION_FRACTION or (total - needed) * rarer < MIN_TRAIN_CLASS:
        return (
            f"these {total} patients are too few to hold out {needed} and keep {MIN_TRAIN_CLASS} cases and "
            f"{MIN_TRAIN_CLASS} controls to fit on: percentiles need a larger cohort"
        )
    return (
        f"holding out {needed} of these {total} patients takes about --validation-fraction {share:.2f} "
        f"(each patient's side is drawn from its id), leaving about {total - needed} to fit on"
    )


def _print_summary(
    out: Path, digest: str, shared_hash: str, adaptation: Adaptation, min_distribution: int
) -> None:
    """What was written: the fit, the calibration, the comparison on the validation patients,
    the threshold, who it was validated on and the calibration verdict there, and where the file
    may go."""
    from genofed.common.scoring.adapt import comparison_caveat_beside
    from genofed.common.scoring.operating import (
        minimum_for_percentiles,
        percentiles_shown,
        sampling_percentile_sd,
    )
    from genofed.common.scoring.predict import rough_auc_caveat
    from genofed.common.scoring.validation import calibration_words, population_words

    print(f"wrote {out}: model {digest[:12]}, adapted from {shared_hash[:12]}")
    inverted = (
        " (negative: the adaptation inverted the shared model; see the warning)"
        if adaptation.weight_on_shared < 0
        else ""
    )
    print(
        f"  fitted on {adaptation.n_train} patients; weight on the shared model's score "
        f"{adaptation.weight_on_shared:.3g}{inverted}"
    )
    calibration = adaptation.calibration
    if calibration is None:
        print("  not calibrated: fewer than 2 training patients of a class")
    else:
        print(
            f"  calibrated out of fold ({calibration['folds']} folds): slope {calibration['slope']:.3g}, "
            f"intercept {calibration['intercept']:+.3g}"
        )
    shared_auc, adapted_auc = adaptation.shared_auc, adaptation.adapted_auc
    if shared_auc is None or adapted_auc is None:
        print(f"  {adaptation.n_validation} validation patients: not both classes, no AUC")
    else:
        rough = rough_auc_caveat(adaptation.n_validation, "comparison")
        print(
            f"  AUC on {adaptation.n_validation} validation patients: shared {shared_auc:.4f}, "
            f"adapted {adapted_auc:.4f}{rough}"
        )
        caveat = comparison_caveat_beside(adaptation.model.provenance)
        if caveat:
            print(f"    caveat: {caveat}")
    operating = adaptation.model.operating
    point = operating.get("threshold") or {}
    if point.get("threshold") is None:
        print(f"  operating threshold: none ({operating['threshold_note']})")
    else:
        for line in _threshold_lines(point):
            print(f"  {line}")
    distribution = operating.get("risk_distribution")
    if distribution is None:
        print(f"  no percentiles: fewer than {min_distribution} validation patients")
    elif not percentiles_shown(distribution):
        spread = sampling_percentile_sd(distribution)
        print(
            f"  percentiles: not shown by `genofed predict`: read off {adaptation.n_validation} validation "
            f"patients, where sampling alone moves one by up to {spread:.0f} points (one sd; shown from "
            f"{minimum_for_percentiles()} people); {_more_validation_patients(adaptation)}"
        )
    record = adaptation.model.validated_on
    print(f"  validated on (recorded in the file): {population_words(record)}")
    print(f"  calibration there: {calibration_words(record)}")
    print("  fitted without differential privacy: keep this file inside the hospital")

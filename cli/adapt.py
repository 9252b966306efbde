"""`genofed adapt`: the federation's model adapted to a hospital's own patients, on the hospital's
machine (docs/predicting.md, "Adapting the shared model to your hospital").

torch, scipy and the readers load inside the handler, so `genofed adapt --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from genofed.cli.predict import add_model_file_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt",
        help="adapt the federation's model to your hospital's own patients (local, no network)",
        description=(
            "Fit the federation's logistic model (a federated run's RUN/model.pt) to this hospital's "
            "labelled patients: the shared model's score plus a local L2 logistic regression on the "
            "dosages and covariates, folded into one model file that `genofed predict` reads. The operating "
            "threshold and percentiles come from the hospital's own validation patients. The result is "
            "fitted WITHOUT differential privacy: keep it inside the hospital. Details: docs/predicting.md."
        ),
    )
    add_model_file_arguments(
        parser,
        model="the federation's model file",
        genotypes="the hospital's genotypes: VCF/BCF, PLINK 1 (.bed/.bim/.fam or prefix) or a genotype table",
        out="where to write the adapted model file",
    )
    parser.add_argument(
        "--phenotypes",
        required=True,
        metavar="FILE",
        help="phenotype CSV with sample_id, the label column, and sex and age",
    )
    parser.add_argument("--label-column", default="label", metavar="NAME", help="the 0/1 disease column")
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of patients held out to set the threshold and compare the models (default: the "
        "agent's 0.2)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="seed of the keyed validation split (each patient's side depends on its id only)",
    )
    parser.set_defaults(handler=run_adapt)


def run_adapt(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from genofed.client.site import VALIDATION_FRACTION
    from genofed.common.data.splits import keyed_split
    from genofed.common.errors import DataError
    from genofed.common.scoring.adapt import MIN_FOR_DISTRIBUTION, adapt
    from genofed.common.scoring.model_file import load_model_file, save_model_file
    from genofed.common.scoring.predict import encoded_cohort
    from genofed.common.util.checks import require, require_in_range

    out = Path(args.out)
    require(args.force or not out.exists(), f"{out} exists; choose a new file or pass --force to replace it")
    fraction = VALIDATION_FRACTION if args.validation_fraction is None else args.validation_fraction
    require_in_range("--validation-fraction", fraction, 0.0, 0.9)
    require_in_range("--min-coverage", args.min_coverage, 0.0, 1.0)
    shared = load_model_file(args.model, expected_hash=args.expect_hash)
    people = encoded_cohort(
        shared,
        args.genotypes,
        args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
    )
    if not people.labelled:
        raise DataError(
            args.phenotypes,
            f"has no '{args.label_column}' column: adapting needs each patient's diagnosis",
            hint="name the 0/1 disease column with --label-column",
        )
    labels = np.asarray(people.cohort.labels)
    train, validation = keyed_split(people.cohort.sample_ids, fraction, args.split_seed)
    if len(np.unique(labels[train])) < 2:
        raise DataError(
            args.phenotypes,
            f"the {len(train)} training patients hold one class only: adapting needs cases and controls",
            hint="adapt on a cohort with both cases and controls",
        )
    adaptation = adapt(
        shared,
        (people.features[train], labels[train]),
        (people.features[validation], labels[validation]),
        source=str(args.genotypes),
    )
    digest = save_model_file(out, adaptation.model)
    for note in people.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out}: model {digest[:12]}, adapted from {shared.content_hash[:12]}")
    print(
        f"  fitted on {adaptation.n_train} patients; weight on the shared model's score "
        f"{adaptation.weight_on_shared:.3g}"
    )
    shared_auc, adapted_auc = adaptation.shared_auc, adaptation.adapted_auc
    if shared_auc is None or adapted_auc is None:
        print(f"  {adaptation.n_validation} validation patients: not both classes, no AUC")
    else:
        rough = " (few patients: a rough comparison)" if adaptation.n_validation < 50 else ""
        print(
            f"  AUC on {adaptation.n_validation} validation patients: shared {shared_auc:.4f}, "
            f"adapted {adapted_auc:.4f}{rough}"
        )
    operating = adaptation.model.operating
    threshold = (operating.get("threshold") or {}).get("threshold")
    print(
        "  operating threshold: "
        + (f"none ({operating['threshold_note']})" if threshold is None else f"{threshold:g}")
    )
    if operating.get("risk_distribution") is None:
        print(f"  no percentiles: fewer than {MIN_FOR_DISTRIBUTION} validation patients")
    print("  fitted without differential privacy: keep this file inside the hospital")
    return 0

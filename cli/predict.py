"""`genofed predict`: risk scores of new people from a model file, offline (docs/predicting.md).

torch and the readers load inside the handler, so `genofed predict --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genofed.cli.stdout import closed_stdout_is_fine

if TYPE_CHECKING:
    from genofed.common.scoring.predict import Predictions


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="score new people with a trained model file (no network needed)",
        description=(
            "Score every person of a genotype file with a genofed model file (a federated run's "
            "RUN/model.pt, a `genofed adapt` file, or a binary `genofed pretrain` model): risk, percentile "
            "in the training population, high/low call at the model's operating threshold, panel coverage "
            "and imputed variants. Works offline, e.g. at a hospital on its own new patients. "
            "Details: docs/predicting.md."
        ),
    )
    add_model_file_arguments(
        parser,
        model="the model file (e.g. RUN/model.pt)",
        genotypes="genotypes: VCF/BCF, PLINK 1 (.bed/.bim/.fam or prefix) or a CSV/TSV/Parquet table",
        out="where to write the risks (a CSV file, not a folder)",
    )
    parser.add_argument(
        "--phenotypes",
        metavar="FILE",
        default=None,
        help="optional phenotype CSV (sample_id, sex, age; the label column if known): uses the "
        "covariates, and with the label column adds it and the AUC over the people with a label (an "
        "empty label is a patient without a diagnosis yet; without the file sex and age are unknown for "
        "everyone)",
    )
    parser.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the 0/1 column of --phenotypes, if it has one",
    )
    parser.set_defaults(handler=run_predict)


def add_model_file_arguments(
    parser: argparse.ArgumentParser, *, model: str, genotypes: str, out: str
) -> None:
    """What every command that reads a model file and people's genotypes takes (`predict`,
    `adapt`): --model, --genotypes and --out (with the command's help), --min-coverage,
    --expect-hash and --force."""
    parser.add_argument("--model", required=True, metavar="MODEL", help=model)
    parser.add_argument("--genotypes", required=True, metavar="FILE", help=genotypes)
    parser.add_argument("--out", required=True, metavar="FILE", help=out)
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=0.9,
        metavar="SHARE",
        help="refuse a genotype file covering less than this share of the model's panel (a file with "
        "no panel variant at all is refused whatever it is)",
    )
    parser.add_argument(
        "--expect-hash",
        default=None,
        metavar="SHA256",
        help="refuse a model whose content hash does not start with this: at least its first 12 hex "
        "digits (`genofed inspect-model MODEL` prints it); an empty value is refused, not ignored",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")


#: The input files of `predict` and `adapt` (option -> argparse dest) that --out must never be.
MODEL_COMMAND_INPUTS = {"--model": "model", "--genotypes": "genotypes", "--phenotypes": "phenotypes"}


def check_model_file_arguments(args: argparse.Namespace) -> str:
    """Refuse, before anything is read, the options `add_model_file_arguments` adds that cannot
    work: an --out that is a folder, exists without --force, is one of the command's inputs (even
    with --force) or lies where no file can be written (the work would be lost, or end in a
    traceback at the final rename), a --min-coverage outside [0, 1], an --expect-hash that pins
    nothing (empty, too short, not hex). Returns the normalised expected hash ("" for none)."""
    from genofed.common.scoring.model_file import check_expected_hash
    from genofed.common.util.atomic import (
        NotAFileTargetError,
        require_file_target,
        require_not_an_input,
        require_writable_target,
    )
    from genofed.common.util.checks import require, require_in_range

    out = Path(args.out)
    try:
        require_file_target(out)
    except NotAFileTargetError:
        if out.is_dir():
            raise NotAFileTargetError(
                f"--out {out} is a folder: give the path of a file, e.g. --out {out / 'NAME'}"
            ) from None
        raise
    inputs = {name: getattr(args, dest, None) for name, dest in MODEL_COMMAND_INPUTS.items()}
    require_not_an_input(out, inputs)
    require(args.force or not out.exists(), f"{out} exists; choose a new file or pass --force to replace it")
    require_writable_target(out)
    require_in_range("--min-coverage", args.min_coverage, 0.0, 1.0)
    return check_expected_hash(args.expect_hash)


def run_predict(args: argparse.Namespace) -> int:
    from genofed.common.scoring.model_file import load_model_file
    from genofed.common.scoring.predict import predict_file, write_predictions

    out = Path(args.out)
    # checked before the model and the genotypes are read: a refusal costs nothing
    expected_hash = check_model_file_arguments(args)
    model = load_model_file(args.model, expected_hash=expected_hash)
    predictions = predict_file(
        model,
        args.genotypes,
        phenotypes=args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
    )
    write_predictions(out, predictions)
    if model.provenance.get("warning"):
        print(f"warning: {model.provenance['warning']} (recorded in {args.model})", file=sys.stderr)
    for note in predictions.notes:
        print(f"note: {note}", file=sys.stderr)
    with closed_stdout_is_fine():
        _print_summary(args, out, model.content_hash, predictions)
    return 0


def _print_summary(args: argparse.Namespace, out: Path, digest: str, predictions: Predictions) -> None:
    """What was written: people, model, coverage, calls at the threshold, and the AUC over the
    people with a label (how many, when some have none)."""
    n = len(predictions.sample_ids)
    align = predictions.alignment
    print(f"wrote {out}: {n} people, model {digest[:12]}")
    print(
        f"  panel coverage of the file: {align.coverage:.1%} ({align.matched} matched, "
        f"{align.swapped} swapped, {align.absent} absent and imputed of {align.panel_variants})"
    )
    if predictions.threshold is not None:
        high = sum(call == "high" for call in predictions.calls or [])
        print(f"  operating threshold {predictions.threshold:g}: {high} of {n} high")
    if predictions.labels is not None:
        auc, labelled = predictions.auc(), predictions.n_labelled
        over = "" if labelled == n else f" over the {labelled} of {n} people with one"
        if labelled == 0:
            value = "n/a (nobody has a label)"
        elif auc is None:
            value = "n/a (one class only)"
        else:
            value = f"{auc:.4f}"
        print(f"  AUC against '{args.label_column}'{over}: {value}")

"""`genofed predict`: risk scores of new people from a model file, offline (docs/predicting.md).

torch and the readers load inside the handler, so `genofed predict --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="score new people with a trained model file (no network needed)",
        description=(
            "Score every person of a genotype file with a genofed model file (a federated run's "
            "RUN/model.pt, or a binary `genofed pretrain` model): risk, percentile in the training "
            "population, high/low call at the model's operating threshold, panel coverage and imputed "
            "variants. Works offline, e.g. at a hospital on its own new patients. "
            "Details: docs/predicting.md."
        ),
    )
    add_model_file_arguments(
        parser,
        model="the model file (e.g. RUN/model.pt)",
        genotypes="genotypes: VCF/BCF, PLINK 1 (.bed/.bim/.fam or prefix) or a CSV/TSV/Parquet table",
        out="where to write the risks (CSV)",
    )
    parser.add_argument(
        "--phenotypes",
        metavar="FILE",
        default=None,
        help="optional phenotype CSV (sample_id, sex, age; the label column if known): uses the "
        "covariates, and with the label column adds it and the AUC (without the file sex and age are "
        "unknown for everyone)",
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
        help="refuse a genotype file covering less than this share of the model's panel",
    )
    parser.add_argument(
        "--expect-hash",
        default="",
        metavar="SHA256",
        help="refuse a model whose content hash does not start with this",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")


def run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genofed.common.scoring.model_file import load_model_file
    from genofed.common.scoring.predict import predict_file, write_predictions
    from genofed.common.util.checks import require, require_in_range

    out = Path(args.out)
    # checked before the model and the genotypes are read: a refusal costs nothing
    require(args.force or not out.exists(), f"{out} exists; choose a new file or pass --force to replace it")
    require_in_range("--min-coverage", args.min_coverage, 0.0, 1.0)
    model = load_model_file(args.model, expected_hash=args.expect_hash)
    predictions = predict_file(
        model,
        args.genotypes,
        phenotypes=args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
    )
    write_predictions(out, predictions)
    for note in predictions.notes:
        print(f"note: {note}", file=sys.stderr)
    align = predictions.alignment
    print(f"wrote {out}: {len(predictions.sample_ids)} people, model {model.content_hash[:12]}")
    print(
        f"  panel coverage of the file: {align.coverage:.1%} ({align.matched} matched, "
        f"{align.swapped} swapped, {align.absent} absent and imputed of {align.panel_variants})"
    )
    if predictions.threshold is not None:
        high = sum(call == "high" for call in predictions.calls or [])
        print(
            f"  operating threshold {predictions.threshold:g}: {high} of {len(predictions.sample_ids)} high"
        )
    if predictions.labels is not None:
        auc = predictions.auc()
        print(
            f"  AUC against '{args.label_column}': "
            + ("n/a (one class only)" if auc is None else f"{auc:.4f}")
        )
    return 0

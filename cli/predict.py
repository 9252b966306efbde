"""`genofed predict`: risk scores of new people from a model file, offline (docs/predicting.md).

torch and the readers load inside the handler, so `genofed predict --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from genofed.cli.options import check_file_options
from genofed.cli.stdout import closed_stdout_is_fine

if TYPE_CHECKING:
    from genofed.common.scoring.model_file import ModelFile
    from genofed.common.scoring.risks_csv import Predictions


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="score new people with a trained model file (no network needed)",
        description=(
            "Score every person of a genotype file with a genofed model file (a federated run's "
            "RUN/model.pt, a `genofed adapt` file, or a binary `genofed pretrain` model): risk (a score, "
            "not a calibrated probability), percentile in the training population, high/low call at the "
            "model's operating threshold (or --threshold), call rate, imputed variants and per-person notes "
            "(among them an age outside the ages the model was validated on); no call for a person with too "
            "few genotypes called. Says who the model was validated on, the calibration verdict there and "
            "the run report's fitness verdict, as its file records them (or that it does not); a model its "
            "run's report judged NOT FIT FOR USE is still scored, with a warning and a note on every row. "
            "Writes OUT and its provenance OUT.json. "
            "Works offline, e.g. at a hospital on its own new patients. Details: docs/predicting.md."
        ),
    )
    add_model_file_arguments(
        parser,
        model="the model file (e.g. RUN/model.pt)",
        genotypes="genotypes: VCF/BCF, PLINK 1 (.bed/.bim/.fam or prefix) or a CSV/TSV/Parquet table",
        out="where to write the risks (a comma-separated file whose name ends in .csv, not a folder)",
        coverage="; lowering it lets a sparse file through, not its people: each is still held to "
        "--min-call-rate",
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
        default=None,
        metavar="NAME",
        help="the 0/1 column of --phenotypes, if it has one (default: the column the model was trained on, "
        "as its file records it, e.g. disease)",
    )
    parser.add_argument(
        "--min-call-rate",
        type=float,
        default=None,
        metavar="SHARE",
        help="give no risk, percentile or call (call 'no call', the reason in the notes column) to a person "
        "with less than this share of the panel's genotypes called (absent or missing: imputed); default: "
        "0.9, whatever --min-coverage is (0 scores everyone, however few of their genotypes are called)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="call high/low at this risk (between 0 and 1) instead of the model's operating threshold; the "
        "output says which was used (the model file is not changed)",
    )
    parser.add_argument(
        "--prevalence",
        type=float,
        default=None,
        metavar="SHARE",
        help="the share of people with the disease where you use the model (between 0 and 1: 0.015 for "
        "1.5 %%): the threshold's test-cohort figures are carried to it, saying what share of the people "
        "flagged and not flagged have the disease there (default: the prevalence the model file records, "
        "its run's --prevalence or a simulated disease's, if any)",
    )
    parser.set_defaults(handler=run_predict)


def add_model_file_arguments(
    parser: argparse.ArgumentParser, *, model: str, genotypes: str, out: str, coverage: str = ""
) -> None:
    """What every command that reads a model file and people's genotypes takes (`predict`,
    `adapt`): --model, --genotypes and --out (with the command's help), --min-coverage (`coverage`:
    what the command adds to its help, e.g. predict's per-person minimum, which it does not lower),
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
        f"no panel variant at all is refused whatever it is){coverage}",
    )
    parser.add_argument(
        "--expect-hash",
        default=None,
        metavar="SHA256",
        help="refuse a model whose content hash does not start with this: at least its first 12 hex "
        "digits (`genofed inspect-model MODEL` prints it); an empty value is refused, not ignored",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace --out only if it is this command's earlier output (predict: a predictions CSV that its "
        "provenance file, --out plus .json, still describes, replaced with it; adapt: an adapted model "
        "file); any other file is refused, even with --force",
    )


#: The input files of `predict` and `adapt` (option -> argparse dest) that --out must never be.
MODEL_COMMAND_INPUTS = {"--model": "model", "--genotypes": "genotypes", "--phenotypes": "phenotypes"}


def check_model_file_arguments(
    args: argparse.Namespace, *, output: str, is_earlier_output: Callable[[Path], bool]
) -> str:
    """Refuse, before anything is read, the options `add_model_file_arguments` adds that cannot
    work: an empty file option or --label-column (`check_file_options`), an --out that is a folder,
    is one of the command's inputs, exists and is not an earlier output of this command
    (`is_earlier_output`, `output` in words; these three even with --force), exists without --force,
    or lies where no file can be written (the work would be lost, or end in a traceback at the
    final rename), a --min-coverage outside [0, 1], an --expect-hash that pins nothing (empty, too
    short, not hex). Returns the normalised expected hash ("" for none)."""
    from genofed.common.scoring.model_file import check_expected_hash
    from genofed.common.util.atomic import (
        NotAFileTargetError,
        require_file_target,
        require_not_an_input,
        require_replaceable_output,
        require_writable_target,
    )
    from genofed.common.util.checks import require_in_range

    check_file_options(args)
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
    require_replaceable_output(out, force=args.force, output=output, is_earlier_output=is_earlier_output)
    require_writable_target(out)
    require_in_range("--min-coverage", args.min_coverage, 0.0, 1.0)
    return check_expected_hash(args.expect_hash)


#: An existing --out that `predict --force` may replace, in words (`is_earlier_predictions`).
EARLIER_PREDICTIONS = (
    "a predictions CSV written by `genofed predict` and unchanged since, as its provenance file records"
)


def check_predict_arguments(args: argparse.Namespace) -> str:
    """`check_model_file_arguments`, and what `predict` adds, before anything is read: an existing
    --out is replaced (with --force) only when it is an earlier predictions CSV
    (`is_earlier_predictions`); the provenance file OUT.json (`sidecar_path`) is held to the rules
    of --out (not a folder, not replaced without --force, never an input) and never replaced, even
    with --force, unless it is an earlier provenance file of `predict`; --out ends in .csv (the one
    format written); --min-call-rate lies in [0, 1], --threshold and --prevalence in (0, 1). Returns
    the normalised expected hash."""
    from genofed.common.scoring.risks_provenance import sidecar_path
    from genofed.common.util.atomic import require_file_target
    from genofed.common.util.checks import require, require_in_range

    expected_hash = check_model_file_arguments(
        args, output=EARLIER_PREDICTIONS, is_earlier_output=is_earlier_predictions
    )
    sidecar = sidecar_path(args.out)
    require_file_target(sidecar)
    for name, dest in MODEL_COMMAND_INPUTS.items():
        given = getattr(args, dest, None)
        require(
            not (given and sidecar.exists() and Path(given).exists() and os.path.samefile(sidecar, given)),
            f"--out {args.out} would write its provenance to {sidecar}, the file given as {name}: choose "
            "another --out (--force replaces an earlier output, never an input)",
        )
    if os.path.lexists(sidecar):  # a dangling link too: writing would follow it
        record = _predictions_provenance(sidecar)
        require(
            record is not None,
            f"--out {args.out} would write its provenance to {sidecar}, which exists and is not a genofed "
            "predictions provenance file (no format 'genofed-predictions/1' in it: another program's or a "
            "run's file, e.g. results.json): choose another --out (--force never replaces it)",
        )
        earlier = str(record.get("csv") or sidecar.name.removesuffix(".json"))
        require(
            args.force,
            f"{sidecar} exists (the provenance of an earlier {earlier}); choose a new --out or pass --force "
            "to replace both",
        )
    require_csv_name(Path(args.out))
    if args.min_call_rate is not None:
        require_in_range("--min-call-rate", args.min_call_rate, 0.0, 1.0)
    if args.threshold is not None:
        require_in_range(
            "--threshold",
            args.threshold,
            0.0,
            1.0,
            low_open=True,
            high_open=True,
            hint="a risk cut-off, e.g. 0.7; leave it out to use the model's operating threshold",
        )
    if args.prevalence is not None:
        require_in_range(
            "--prevalence",
            args.prevalence,
            0.0,
            1.0,
            low_open=True,
            high_open=True,
            hint="a share, not a percentage: 0.015 for 1.5 %",
        )
    return expected_hash


def require_csv_name(out: Path) -> None:
    """Refuse an --out whose name does not end in .csv: `predict` writes comma-separated text
    only, and a file named r.xlsx, r.parquet, r.tsv or r.csv.gz holding it would mislead whoever
    opens it by its name."""
    from genofed.common.util.checks import require

    require(
        out.suffix.lower() == ".csv",
        f"--out {out}: `genofed predict` writes comma-separated values (CSV) only, whatever the name: "
        f"give a file name ending in .csv, e.g. --out {out.with_name(out.name.split('.')[0] + '.csv')}",
    )


def _predictions_provenance(sidecar: Path) -> dict | None:
    """An existing provenance file's record, when it is one `predict` wrote (a JSON object of
    format `PROVENANCE_FORMAT`); None for any other file, which `predict` must never replace: a
    run's results.json beside --out RUN/results would otherwise be overwritten with --force."""
    import json

    from genofed.common.scoring.risks_provenance import PROVENANCE_FORMAT

    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != PROVENANCE_FORMAT:
        return None
    return record


def is_earlier_predictions(csv: Path) -> bool:
    """Whether `csv` is a predictions CSV `predict` wrote and nobody changed since: its provenance
    file (`sidecar_path`) is predict's and records this file's SHA-256. Only such a file may be
    replaced with --force: a genotype file, a model or a phenotype table at --out may not."""
    from genofed.common.scoring.risks_provenance import sidecar_path
    from genofed.common.util.hashing import file_sha256

    record = _predictions_provenance(sidecar_path(csv))
    return record is not None and csv.is_file() and record.get("csv_sha256") == file_sha256(csv)


def missing_folder(out: Path) -> Path | None:
    """--out's folder when it does not exist yet (the atomic write creates it, parents too), so
    that the command can say it created it: a mistyped folder is otherwise made in silence."""
    return None if out.parent.exists() else out.parent


def trained_label_column(args: argparse.Namespace, model: ModelFile) -> str:
    """--label-column, or when not given the column the model was trained on (its file's task label;
    `label` for a file without one): a run on `--label-column disease` writes a model whose new
    patients' files have `disease` too, and reading `label` instead called that column unused."""
    return args.label_column if args.label_column is not None else (model.task.label or "label")


def print_created_folder(folder: Path | None) -> None:
    """The note that the write created `folder` (`missing_folder`), if it did."""
    if folder is not None:
        print(f"note: created the folder {folder} for --out (it did not exist)", file=sys.stderr)


def _refuse_a_named_label_column_that_is_absent(args: argparse.Namespace) -> None:
    """A --label-column the user named that the phenotype table lacks is a mistake, not new patients
    without a diagnosis: a fuzzing review's `--label-column nope` got a note and exit 0, and no AUC.
    (Without the option, a missing label column is normal: the people are scored, with a note.)"""
    from genofed.common.data.layout import table_columns
    from genofed.common.errors import DataError

    if args.label_column is None or args.phenotypes is None or not Path(args.phenotypes).is_file():
        return  # a missing file is refused where it is read, with its own words
    columns = table_columns(Path(args.phenotypes))
    if args.label_column not in columns:
        raise DataError(
            args.phenotypes,
            f"has no '{args.label_column}' column, which --label-column names (its columns: "
            f"{', '.join(columns)})",
            hint="name one of its columns, or leave --label-column out to score people without a diagnosis",
        )


def run_predict(args: argparse.Namespace) -> int:
    from genofed.common.scoring.model_file import load_model_file
    from genofed.common.scoring.predict import predict_file, write_predictions
    from genofed.common.scoring.risks_provenance import provenance_record
    from genofed.common.scoring.verdict_notes import fitness_warning

    out = Path(args.out)
    # checked before the model and the genotypes are read: a refusal costs nothing
    expected_hash = check_predict_arguments(args)
    _refuse_a_named_label_column_that_is_absent(args)
    model = load_model_file(args.model, expected_hash=expected_hash)
    args.label_column = trained_label_column(args, model)
    predictions = predict_file(
        model,
        args.genotypes,
        phenotypes=args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
        min_call_rate=args.min_call_rate,
        threshold=args.threshold,
        prevalence=args.prevalence,
    )
    messages = []
    unfit = fitness_warning(model)
    if unfit:  # first: the one line a clinician must not miss
        messages.append(f"warning: {unfit} (recorded in {args.model})")
    if model.provenance.get("warning"):
        messages.append(f"warning: {model.provenance['warning']} (recorded in {args.model})")
    messages += [f"note: {note}" for note in predictions.notes]
    provenance = provenance_record(
        model,
        predictions,
        model_path=args.model,
        genotypes=args.genotypes,
        phenotypes=args.phenotypes,
        label_column=args.label_column,
        min_coverage=args.min_coverage,
        messages=messages,
    )
    new_folder = missing_folder(out)
    write_predictions(out, predictions, provenance)
    for message in messages:
        print(message, file=sys.stderr)
    print_created_folder(new_folder)
    with closed_stdout_is_fine():
        _print_summary(args, out, model, predictions)
    return 0


def _print_summary(args: argparse.Namespace, out: Path, model: ModelFile, predictions: Predictions) -> None:
    """What was written: people, model, the file's panel coverage, the people's call rates, the
    calls at the threshold and where it came from, the percentiles' reference population, who the
    model was validated on, the calibration verdict there and the run report's fitness verdict (or
    that its file does not record them), and the AUC over the people with a label (how many, when
    some have none or are not scored)."""
    from genofed.common.scoring.people import minimum_text
    from genofed.common.scoring.person_notes import called_percent
    from genofed.common.scoring.predict import rough_auc_caveat
    from genofed.common.scoring.risks_provenance import sidecar_path

    digest = model.content_hash

    n = len(predictions.sample_ids)
    align = predictions.alignment
    print(f"wrote {out} and its provenance {sidecar_path(out).name}: {_people(n)}, model {digest[:12]}")
    print(
        f"  panel coverage of the file: {align.coverage:.1%} ({align.matched} matched, "
        f"{align.swapped} swapped, {align.absent} absent and imputed of {align.panel_variants})"
    )
    if n:
        lowest = float(min(predictions.coverage))
        below = predictions.n_not_called
        print(
            f"  genotypes called per person: lowest {called_percent(lowest, predictions.min_call_rate)}; "
            f"{below} of {n} under the minimum "
            f"{minimum_text(predictions.min_call_rate)}" + (": not called" if below else "")
        )
    if predictions.threshold is not None:
        high = sum(call == "high" for call in predictions.calls or [])
        called = n - predictions.n_not_called
        print(
            f"  threshold {predictions.threshold:g}, {predictions.threshold_detail}: {high} of {called} "
            "called high"
        )
    if predictions.reference:
        print(f"  percentiles (whole numbers, 1-99) relative to {predictions.reference}")
    for line in _validated_lines(model, predictions):
        print(f"  {line}")
    print(f"  {_fitness_line(model)}")
    if predictions.labels is not None:
        auc, counted = predictions.auc(), int(predictions.in_auc.sum())
        if counted == n:
            over = ""
        elif predictions.n_not_called:
            over = f" over the {counted} of {n} people with a label and a call"
        else:
            over = f" over the {counted} of {n} people with one"
        if counted == 0:
            value = (
                "n/a (nobody has a label)"
                if predictions.n_labelled == 0
                else "n/a (nobody labelled is called)"
            )
        elif auc is None:
            value = "n/a (one class only)"
        else:
            value = f"{auc:.4f}{rough_auc_caveat(counted)}"
        print(f"  AUC against '{args.label_column}'{over}: {value}")
        if auc is not None and counted:
            # a deployment walkthrough: a federation's model scored its own hospital's cohort at 0.83
            # beside a test AUC of 0.53, and nothing said these were the patients it trained on
            print(
                "  (on people who trained the model, such as a federation hospital's own cohort, the AUC "
                "is higher than on new patients: judge it on people it never saw, as the run report's test "
                "AUC is)"
            )


def _people(n: int) -> str:
    """A count of people as said: "1 person", "30 people" (one new patient read "1 people")."""
    return f"{n} {'person' if n == 1 else 'people'}"


def _validated_lines(model: ModelFile, predictions: Predictions) -> list[str]:
    """Who the model was validated on and the calibration verdict there, as its file records them
    (`genofed.common.scoring.validation`), with how many of these people are outside its validated
    ages and, when the risks failed their calibration check, the note every row carries; one line
    saying the file does not record them, for a file that does not."""
    from genofed.common.scoring.validation import (
        NOT_RECORDED,
        calibration_words,
        population_words,
        validated_age_range,
    )
    from genofed.common.scoring.verdict_notes import calibration_row_note

    record = model.validated_on
    if not record:
        return [f"validated population and calibration verdict: {NOT_RECORDED}"]
    span = validated_age_range(record)
    outside = (
        f"; {predictions.outside_ages} of {len(predictions.sample_ids)} people here are outside its ages "
        f"{span[0]:g}-{span[1]:g} (marked in the notes column)"
        if span is not None and predictions.outside_ages
        else ""
    )
    note = calibration_row_note(model)
    marked = f" (every row's notes column says '{note}')" if note else ""
    return [
        f"validated on: {population_words(record)}{outside}",
        f"calibration there: {calibration_words(record)}{marked}",
    ]


def _fitness_line(model: ModelFile) -> str:
    """The run report's fitness verdict as the model file records it (`fitness_words`: "NOT FIT FOR
    USE: fails ...", "Minimum checks passed; ...", "Cannot be judged: ...", or "verdict not
    recorded: ..." for a file without it), with the rows' note when the model must not be used on
    patients: said on stdout too, beside the figures it qualifies."""
    from genofed.common.scoring.validation import fitness_words
    from genofed.common.scoring.verdict_notes import fitness_row_note

    note = fitness_row_note(model)
    marked = f" (every row's notes column says '{note}')" if note else ""
    return f"run report's verdict: {fitness_words(model.validated_on)}{marked}"

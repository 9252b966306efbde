"""`genofed data check`: validate a hospital's data before anything connects or trains."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genofed.common.data.loading import SiteData

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="work with a hospital's genotype and phenotype files")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    check = data_sub.add_parser(
        "check",
        help="validate genotypes + phenotypes (and panel alignment) and print a summary",
        description=(
            "Validate a hospital's data: readable files, matching sample ids, binary labels with "
            "cases and controls, no all-missing variants, and (with --panel) coverage of the "
            "federation's variant panel. Exit 0 with a summary, or exit 2 with an error that "
            "names the file, the line or sample, and what to do. With --test-dir, the held-out test "
            "cohort `genofed simulate --test-dir` evaluates on, read as the simulation reads it."
        ),
    )
    check.add_argument(
        "--genotypes",
        metavar="FILE",
        help="VCF(.gz), PLINK .bed/.bim/.fam (or prefix), or CSV/Parquet table (required, with "
        "--phenotypes, unless --test-dir is given)",
    )
    check.add_argument(
        "--phenotypes",
        metavar="FILE",
        help="CSV with sample_id, label and optional covariates sex and age, the only ones the model "
        "reads; other columns (pc1, bmi, ...) are ignored and named in a warning",
    )
    check.add_argument(
        "--test-dir",
        metavar="DIR",
        help="check the held-out test cohort's folder instead of --genotypes and --phenotypes, as "
        "`genofed simulate --test-dir DIR` reads it: its two files found as a hospital folder's are "
        "(docs/data-formats.md), its label column the hospitals' (--label-column; a test file without "
        "it is told to rename its own), aligned to --panel when given",
    )
    check.add_argument(
        "--panel", metavar="FILE", help="the federation's panel.tsv: align to it and report coverage"
    )
    add_label_column_argument(check)
    # numbers are converted and range-checked in run_check, so a bad one is refused like any other
    # error (as JSON under --json), not by argparse
    check.add_argument(
        "--min-samples", default=20, metavar="N", help="refuse cohorts smaller than this (default: 20)"
    )
    check.add_argument(
        "--min-coverage",
        default=0.9,
        metavar="SHARE",
        help="refuse below this share of panel variants, from 0 to 1 (default: 0.9)",
    )
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(handler=run_check)
    data.set_defaults(handler=lambda args: data.print_help() or 2)


def add_label_column_argument(
    parser: argparse.ArgumentParser, *, node_config: bool = False, dest: str = "label_column"
) -> None:
    """`--label-column NAME`: the phenotype files' 0/1 disease column, one spelling for every
    command that reads phenotypes. `node_config`: say that it is recorded for the SuperNode."""
    recorded = " (recorded in the node config as label-column)" if node_config else ""
    parser.add_argument(
        "--label-column",
        dest=dest,
        default="label",
        metavar="NAME",
        help="the phenotype file's 0/1 (or case/control) disease column; a missing one is refused with "
        f"the columns that look like a binary label{recorded} (default: label)",
    )


def run_check(args: argparse.Namespace) -> int:
    """Check the options, then load and check the site's files; print the summary.

    Every option is checked before any file is read (`_checked_options`), so a mistyped value is
    refused in a second and as the user's mistake, not after minutes of reading a VCF, nor as a bug.
    A refusal (a `GenofedError`: a DataError about a file or a ConfigError about an option)
    propagates to the CLI's one-line error printer; with --json it is first printed on stdout as
    `{"ok": false, "error": {...}}`, so a script that parses stdout always gets JSON.

    Anything else is a bug in genofed, not in the data; it still reaches the user as one line (the
    traceback goes to the debug log, shown with `genofed -v`), because the person at a hospital
    who runs this needs to know the check failed, not where in genofed.
    """
    from genofed.common.errors import GenofedError

    try:
        options = _checked_options(args)
        site = _load(args, options)
    except GenofedError as exc:
        _print_json_error(args, exc)
        raise
    except Exception as exc:
        log.debug("data check failed unexpectedly", exc_info=True)
        bug = GenofedError(
            f"genofed failed while reading {args.genotypes} / {args.phenotypes} "
            f"({type(exc).__name__}: {exc}); this is a bug in genofed, not necessarily in the data: "
            "please report it with the output of `genofed -v data check ...`"
        )
        _print_json_error(args, bug)
        raise bug from exc
    summary = {
        "ok": True,
        **({"test_dir": str(args.test_dir)} if args.test_dir else {}),
        "genotypes": str(args.genotypes),
        "phenotypes": str(args.phenotypes),
        **site.summary(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


def _load(args: argparse.Namespace, options: dict) -> SiteData:
    """The site's data, read and checked; a test cohort's file without the label column is told
    the test cohort's remedy (rename its own column), as `simulate` tells it."""
    from genofed.common.data.layout import held_out_label_refusal
    from genofed.common.data.loading import load_site
    from genofed.common.data.readers.phenotypes import LabelColumnMissing

    try:
        return load_site(args.genotypes, args.phenotypes, **options)
    except LabelColumnMissing as exc:
        if not args.test_dir:
            raise
        raise held_out_label_refusal(exc, options["label_column"]) from None


def _checked_options(args: argparse.Namespace) -> dict:
    """`load_site`'s keyword arguments from the options, each checked before any file is read.

    The numbers arrive as text (`type=str` in `register`) and are converted here, so that "abc" is
    refused like "90": as a ConfigError, printed as JSON under --json, rather than by argparse.
    The phenotype file's existence and the whole panel (a small file) are checked here too, before
    the genotypes, which can take minutes to read. With --test-dir, the folder's two files are found
    here (`_test_cohort_files`) and set as `args.genotypes` and `args.phenotypes`.
    """
    from genofed.cli.options import checked_label_column, require_path_given
    from genofed.common.data.panel import VariantPanel
    from genofed.common.data.readers._files import require_file
    from genofed.common.util.checks import require, require_at_least, require_in_range, to_float, to_int

    min_samples = require_at_least("--min-samples", to_int("--min-samples", args.min_samples), 1)
    min_coverage = require_in_range(
        "--min-coverage",
        to_float("--min-coverage", args.min_coverage),
        0.0,
        1.0,
        hint="a share of the panel's variants, e.g. 0.9 for 90%",
    )
    label_column = checked_label_column(args.label_column)
    if args.test_dir is not None:
        _test_cohort_files(args)
    require(
        args.genotypes is not None and args.phenotypes is not None,
        "give the site's files with --genotypes FILE --phenotypes FILE, or a held-out test cohort's "
        "folder with --test-dir DIR",
    )
    require_path_given("--genotypes", args.genotypes)
    require_path_given("--phenotypes", args.phenotypes)
    require(
        args.panel is None or bool(args.panel.strip()), "--panel is empty: give the federation's panel.tsv"
    )
    _refuse_folder(Path(args.genotypes))
    require_file(args.phenotypes, "phenotype")
    panel = VariantPanel.load(args.panel) if args.panel is not None else None
    return {
        "panel": panel,
        "label_column": label_column,
        "min_samples": min_samples,
        "min_coverage": min_coverage,
    }


def _test_cohort_files(args: argparse.Namespace) -> None:
    """Set `args.genotypes` and `args.phenotypes` to the files of the --test-dir folder, found by
    the rule `simulate` finds them by (`held_out_cohort_files`), after its refusals of a folder
    that is none; refuse --test-dir beside --genotypes or --phenotypes, which it replaces."""
    from genofed.cli.options import require_path_given, require_test_dir_folder
    from genofed.common.data.layout import held_out_cohort_files
    from genofed.common.util.checks import require

    require(
        args.genotypes is None and args.phenotypes is None,
        "--test-dir names the files it checks: give either --test-dir DIR (a held-out test cohort) or "
        "--genotypes FILE --phenotypes FILE (a hospital's), not both",
    )
    require_path_given("--test-dir", args.test_dir, "folder")
    require_test_dir_folder(
        args.test_dir, otherwise="check a hospital's files with --genotypes and --phenotypes"
    )
    files = held_out_cohort_files(args.test_dir)
    args.genotypes, args.phenotypes = str(files.genotypes), str(files.phenotypes)


def _refuse_folder(path: Path) -> None:
    """A folder given as --genotypes: name the hospital folder's two files (or the federation's
    hospitals) by the federation-folder rule (docs/data-formats.md), so the user can paste them.

    A folder that fits neither is left to the reader, whose error lists the files inside it.
    """
    from genofed.common.data.layout import hospital_folders, site_files
    from genofed.common.errors import DataError

    if not path.is_dir() or path.with_name(path.name + ".bed").exists():  # a PLINK prefix
        return
    problem = "this is a folder, not a genotype file"
    try:
        site = site_files(path)
        sites = [] if site else hospital_folders(path)
    except DataError:
        return
    if site is not None:
        raise DataError(
            path,
            problem,
            hint=f"it is a hospital folder: check it with --genotypes {site.genotypes} "
            f"--phenotypes {site.phenotypes}",
        )
    first = sites[0]
    raise DataError(
        path,
        problem,
        hint=f"it is a federation folder of {len(sites)} hospital(s) ({', '.join(s.name for s in sites)}): "
        f"check each hospital's files, e.g. --genotypes {first.genotypes} --phenotypes {first.phenotypes}; "
        f"`genofed simulate --data {path}` reads the whole folder",
    )


def _print_json_error(args: argparse.Namespace, exc: Exception) -> None:
    """With --json, a refusal as JSON on stdout: a DataError's own fields (file, location, problem,
    hint); any other error's message as `problem`, with `file` and `location` null, so a script
    reads every error the same way."""
    if not getattr(args, "json", False):
        return
    from genofed.common.errors import DataError

    if isinstance(exc, DataError):
        error = exc.to_dict()
    else:
        error = {"file": None, "location": None, "problem": str(exc), "hint": None}
    print(json.dumps({"ok": False, "error": error}, indent=2))


def format_summary(summary: dict) -> str:
    lines = [
        f"genotypes:   {summary['genotypes']}",
        f"phenotypes:  {summary['phenotypes']}",
        f"samples:     {summary['samples']} ({summary['cases']} cases, {summary['controls']} controls)",
        f"variants:    {summary['variants']}",
        f"missing:     {summary['missing_rate']:.2%} of calls",
    ]
    alignment = summary.get("alignment")
    if alignment:
        lines.append(
            f"panel:       {alignment['coverage']:.1%} coverage of {alignment['panel_variants']} variants "
            f"({alignment['matched']} matched, {alignment['swapped']} REF/ALT swapped, "
            f"{alignment['absent']} imputed, {alignment['site_only']} site-only dropped)"
        )
    warnings = summary.get("warnings", [])
    lines.append(f"warnings:    {len(warnings) or 'none'}")
    lines += [f"  - [{w['code']}] {w['message']}" for w in warnings]
    if summary.get("test_dir"):
        lines.insert(0, f"test cohort: {summary['test_dir']}")
        lines.append(
            "OK: the test cohort can be used to evaluate the model."
            if alignment
            # simulate aligns the test cohort to the federation's panel, whose coverage was not checked
            else "OK as files; its coverage of the federation's panel was not checked: add --panel "
            "FED/panel.tsv to check it as `genofed simulate` reads it."
        )
    else:
        lines.append("OK: the data can be used for training.")
    return "\n".join(lines)

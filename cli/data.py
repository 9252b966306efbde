"""`genofed data check`: validate a hospital's data before anything connects or trains."""

from __future__ import annotations

import argparse
import json
import logging

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
            "names the file, the line or sample, and what to do."
        ),
    )
    check.add_argument(
        "--genotypes",
        required=True,
        metavar="FILE",
        help="VCF(.gz), PLINK .bed/.bim/.fam (or prefix), or CSV/Parquet table",
    )
    check.add_argument(
        "--phenotypes",
        required=True,
        metavar="FILE",
        help="CSV with sample_id, label and optional covariates (sex, age, pc1...)",
    )
    check.add_argument(
        "--panel", metavar="FILE", help="the federation's panel.tsv: align to it and report coverage"
    )
    add_label_column_argument(check)
    check.add_argument(
        "--min-samples", type=int, default=20, help="refuse cohorts smaller than this (default: 20)"
    )
    check.add_argument(
        "--min-coverage",
        type=float,
        default=0.9,
        help="refuse below this share of panel variants (default: 0.9)",
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
    """Load and check the site's files; a DataError propagates to the CLI's one-line error printer.

    Anything else is a bug in genofed, not in the data; it still reaches the user as one line (the
    traceback goes to the debug log, shown with `genofed -v`), because the person at a hospital
    who runs this needs to know the check failed, not where in genofed.
    """
    from genofed.common.data.loading import load_site
    from genofed.common.errors import DataError, GenofedError

    try:
        site = load_site(
            args.genotypes,
            args.phenotypes,
            panel=args.panel,
            label_column=args.label_column,
            min_samples=args.min_samples,
            min_coverage=args.min_coverage,
        )
    except DataError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": exc.to_dict()}, indent=2))
        raise
    except Exception as exc:
        log.debug("data check failed unexpectedly", exc_info=True)
        raise GenofedError(
            f"genofed failed while reading {args.genotypes} / {args.phenotypes} "
            f"({type(exc).__name__}: {exc}); this is a bug in genofed, not necessarily in the data: "
            "please report it with the output of `genofed -v data check ...`"
        ) from exc
    summary = {
        "ok": True,
        "genotypes": str(args.genotypes),
        "phenotypes": str(args.phenotypes),
        **site.summary(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


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
    lines.append("OK: the data can be used for training.")
    return "\n".join(lines)

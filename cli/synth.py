"""`genofed synth`: a validated synthetic copy of a hospital's cohort, generated at the hospital
(docs/synthetic-data.md). torch loads inside the handler, so `--help` stays fast."""

from __future__ import annotations

import argparse
import math
import sys

from genofed.cli.data import add_label_column_argument
from genofed.cli.ledger_options import (
    LOCAL_DELTA_HELP,
    add_new_ledger_argument,
    add_raise_budget_argument,
    local_delta,
)
from genofed.cli.options import epsilon_number


def register(subparsers: argparse._SubParsersAction) -> None:
    register_synth(subparsers)


def register_synth(subparsers: argparse._SubParsersAction) -> None:
    """`genofed synth`: the site's files, the privacy spent on the generator, what it generates."""
    parser = subparsers.add_parser(
        "synth",
        help="generate a validated synthetic copy of this hospital's cohort (VCF + phenotypes.csv + report)",
        description=(
            "Train a label-conditional generator (VAE, or GAN with --generator gan) on 80 % of the "
            "hospital's patients (DP-SGD with --epsilon, charged to the site's privacy ledger in "
            "--state-dir), or with --generator reference copy a public reference panel's haplotypes, "
            "conditioned on the site's released class counts, allele frequencies and covariates (one "
            "Gaussian release with --epsilon, charged the same way); sample synthetic records, "
            "without DP drop those too close to a real one, and validate the "
            "batch (allele and genotype frequencies, LD, population structure, associations and the "
            "spurious-association rate, distance to closest record, exact copies, adversarial accuracy, "
            "membership inference) against the 20 % it never saw. Only a batch that passes is written; "
            "OUT/report.md and OUT/validation.json are written either way. The records stay inside the "
            "hospital: without --epsilon they carry the patients with no formal privacy bound."
        ),
    )
    parser.add_argument("--genotypes", required=True, metavar="FILE", help="VCF, PLINK or table")
    parser.add_argument(
        "--phenotypes", required=True, metavar="FILE", help="phenotypes.csv (sample_id, label, sex, age)"
    )
    add_label_column_argument(parser)
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="new folder for the synthetic cohort and its report"
    )
    _add_synth_privacy_options(parser)
    _add_synth_generator_options(parser)
    parser.set_defaults(handler=run_synth)


def _add_synth_privacy_options(parser: argparse.ArgumentParser) -> None:
    """The generator's epsilon and delta, the site's lifetime cap and the ledger's folder."""
    parser.add_argument(
        "--epsilon",
        type=epsilon_number,
        default=math.inf,
        help="privacy spent on the generator (default: inf = no DP: the records then carry the patients "
        "unprotected and must stay inside the hospital)",
    )
    parser.add_argument("--delta", type=float, default=None, help=LOCAL_DELTA_HELP)
    parser.add_argument(
        "--budget",
        type=epsilon_number,
        help=(
            "the lifetime epsilon cap for these patients: refuse if the ledger would exceed it (required "
            "with --epsilon unless --state-dir is a site's state folder, whose declared budget is the cap)"
        ),
    )
    parser.add_argument(
        "--state-dir",
        default="",
        metavar="DIR",
        help=(
            "the site's state folder holding its privacy ledger (SITE/state of `genofed hospital check`: its "
            "declared budget caps the generator too); it must be the ledger these files are bound to"
        ),
    )
    parser.add_argument(
        "--declared-size",
        type=int,
        default=None,
        metavar="N",
        help=(
            "with --epsilon: the cohort size this hospital declares public; the VAE's and GAN's DP "
            "sampling rate follows it, never the exact count (default: the site's declared size at a "
            "site, else the patients rounded to 10, what a site declaring none makes public)"
        ),
    )
    parser.add_argument(
        "--spend-anyway",
        action="store_true",
        help=(
            "with --epsilon: charge a DP batch that the check before the charge says cannot pass validation "
            "at this size and epsilon (default: refused, nothing charged; docs/synthetic-data.md)"
        ),
    )
    add_raise_budget_argument(parser)
    add_new_ledger_argument(parser)
    parser.add_argument(
        "--data-update",
        default="",
        metavar="REASON",
        help="these files update the cohort the --state-dir ledger was spent on: the ledger carries over",
    )


def _add_synth_generator_options(parser: argparse.ArgumentParser) -> None:
    """How many records, from which generator, trained and sampled how."""
    parser.add_argument(
        "--n",
        type=int,
        help=(
            "records to generate (default: as many as the real cohort; with --epsilon its declared size; "
            "at least 20)"
        ),
    )
    parser.add_argument(
        "--generator",
        default="vae",
        choices=("vae", "gan", "reference"),
        help=(
            "vae: conditional VAE (default); gan: conditional WGAN-GP (DP-WGAN under --epsilon); reference: "
            "mosaics of a public reference panel (--reference), conditioned on the site's released statistics"
        ),
    )
    parser.add_argument(
        "--reference",
        default="",
        metavar="VCF",
        help="the reference generator's public panel: a phased VCF/BCF of people who are not patients here",
    )
    parser.add_argument(
        "--reference-populations",
        default="",
        metavar="FILE",
        help=(
            "table (sample_id, population) of the panel's people, so that the generator can match the "
            "site's ancestry (e.g. the 1000 Genomes samples.tsv; default: the panel is one population)"
        ),
    )
    parser.add_argument(
        "--gene-prior",
        default="",
        metavar="FILE",
        help=(
            "public gene list (BED or gene table): release per-class frequencies only for the variants in "
            "these regions, which lowers their noise (reference generator; default: every variant)"
        ),
    )
    parser.add_argument("--epochs", type=int, help="generator training epochs (default: the generator's own)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help=(
            "sampling temperature: below 1 sharpens every variant's distribution towards its mode (0.7 "
            "brought 1000 Genomes samples closer to real people; default: 1)"
        ),
    )
    parser.add_argument(
        "--phase",
        default="auto",
        choices=("auto", "phased", "ignore"),
        help=(
            "phased: the input VCF is phased (the hospital states it): model haplotypes and write a phased "
            "VCF, phasing any unphased heterozygous call and filled missing call at random per patient "
            "(refused for PLINK or a table); auto: without --epsilon, haplotypes when the input VCF is "
            "fully phased with no missing calls, else dosages; under --epsilon auto models dosages, for "
            "whether every call is phased is a fact about the patients (pass --phase phased for a phased "
            "VCF); ignore: always model dosages (default: auto)"
        ),
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")


def run_synth(args: argparse.Namespace) -> int:
    from types import SimpleNamespace

    from genofed.cli.options import check_file_options
    from genofed.client.synth_arguments import check_arguments

    check_file_options(args, out_is_folder=True)  # before anything is read, in data check's words
    fields = {
        "n": args.n,
        "epsilon": args.epsilon,
        "delta": local_delta(args),
        "budget": args.budget,
        "raise_budget": args.raise_budget,
        "state_dir": args.state_dir,
        "seed": args.seed,
        "generator": args.generator,
        "epochs": args.epochs,
        "declared_size": args.declared_size,
        "phase": args.phase,
        "temperature": args.temperature,
        "label_column": args.label_column,
        "reference": args.reference,
        "reference_populations": args.reference_populations,
        "gene_prior": args.gene_prior,
        "bound_to_data": True,  # a hospital's own run: its data's ledger, its declared budget
        "new_ledger": args.new_ledger,
        "data_update": args.data_update,
        "spend_anyway": args.spend_anyway,
    }
    # what the arguments alone can refuse is said before torch loads (6-9 s), a missing file too
    check_arguments(SimpleNamespace(**fields))
    _require_inputs(args.genotypes, args.phenotypes)
    from genofed.client.synth import DP_FEASIBILITY, SynthOptions, privacy_statement, synthesize

    options = SynthOptions(
        **fields,
        warn=lambda text: print(f"warning: {text}", file=sys.stderr, flush=True),  # before the charge
    )
    summary = synthesize(args.genotypes, args.phenotypes, args.out, options)
    for warning in summary.get("warnings", []):  # privacy checks that cannot tell at this size
        print(f"warning: {warning}", file=sys.stderr)
    for folder in summary.get("private_folders", []):  # as `genofed simulate` says of its runs
        held = (
            "the privacy ledger of these patients"
            if folder == args.state_dir
            else "figures computed on the patients"
        )
        print(f"{folder}: readable by you only (mode 0700): it holds {held}")
    if summary["passed"]:
        dropped = (
            f"{summary['records_dropped_as_too_close']} dropped as too close to a real patient"
            if summary.get("near_copy_filter", True)
            else "under DP none is dropped: the records are the DP release's own"
        )
        written = summary["records_written"]
        print(f"wrote {written} synthetic records to {args.out} (validation passed; {dropped})")
        print(f"  privacy: {privacy_statement(summary, args.state_dir)}")
        return 0
    from genofed.client.synth_advice import failure_message
    from genofed.common.data.loading import site_patients

    # the patients find the site too, for a re-exported file of them (as the run's binding does)
    patients = site_patients(args.genotypes, args.phenotypes, label_column=args.label_column)
    message = failure_message(
        summary,
        args.out,
        args.state_dir,
        genotypes=args.genotypes,
        sample_ids=patients,
        facts=summary.get(DP_FEASIBILITY),  # what `synth` would refuse before a charge
    )
    print(message)
    return 1


def _require_inputs(genotypes: str, phenotypes: str) -> None:
    """Refuse a genotypes or phenotype file that is not there, in the readers' own words, reading
    nothing of one that is (a PLINK prefix, which names no file, is checked by reading its .fam)."""
    from pathlib import Path

    from genofed.common.data.readers import genotype_sample_ids
    from genofed.common.data.readers._files import require_file

    if not Path(genotypes).exists():
        genotype_sample_ids(genotypes)
    require_file(phenotypes, "phenotype")

"""What a `genofed synth` batch leaves in `--out`: validation.json's summary (`batch_summary`),
report.md with what protects the patients (`privacy_statement`, which the terminal says too) and,
for a batch that passed, the records as a VCF and a phenotype file; `write_batch` writes them into a
staging folder renamed into place, readable by their owner only. Also the verdict the site's audit
log records of a batch (`batch_verdict`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.client.local_ledger import ledger_words
from genofed.client.synth_checks import refuse_ledger_files_in
from genofed.client.synth_input import covariates_off_note, missing_calls_note, missing_covariates_note
from genofed.client.synth_options import SynthOptions
from genofed.client.synthetic_use import RECORDS_DIGESTS, SUMMARY_FILE, records_digests
from genofed.common.data.writers import write_vcf
from genofed.common.synthetic.pipeline import ValidatedBatch
from genofed.common.synthetic.vae import SyntheticRecords
from genofed.common.util.atomic import atomic_dir, write_text_atomic

#: The mode of `--out` and of a ledger folder a run makes (as `genofed simulate` makes its runs):
#: they hold figures computed on the patients (exact counts, the checks' values) and, for a passing
#: batch without DP, records that carry the patients with no bound. The files in `--out`: 0600.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def reference_summary(trained: Any) -> dict[str, Any]:
    """What validation.json records about a reference generator: the panel, what the site
    released (and its noise) and the population mix it matched."""
    panel, release = trained.panel, trained.release
    return {
        "panel": panel.source,
        "panel_haplotypes": panel.n_haplotypes,
        "coverage": float(panel.covered.mean()),
        "released_variants": int(release.released.sum()),
        "released_case_fraction": release.case_fraction,
        "noise_sd": {
            "centred_allele_sum": float(release.noise_sd[0]),
            "class_count": float(release.noise_sd[1]),
            "covariate_cell": float(release.noise_sd[2]),
        },
        "population_mix": trained.population_weights,
    }


def batch_summary(
    batch: ValidatedBatch,
    options: SynthOptions,
    *,
    n: int,
    plan: str | None,
    variant_ids: list[str],
    generator: dict[str, Any],
) -> dict[str, Any]:
    """What validation.json records (its `seconds` added by the caller): the verdict, the counts,
    the privacy spent and its ledger plan, the panel's fingerprint and how the generator ran."""
    report = batch.report
    private = not math.isinf(options.epsilon)
    return {
        "passed": report.passed,
        "failed_checks": report.failed_checks(),
        "records_generated": int(n),
        "records_dropped_as_too_close": int(batch.dropped.sum()),
        "near_copy_filter": not private,  # a DP batch keeps every record (pipeline.filter_and_validate)
        "records_written": len(batch.accepted().labels),
        "real_train": int(len(batch.train_index)),
        "real_holdout": int(len(batch.holdout_index)),
        "epsilon": options.epsilon if private else None,
        "delta": options.delta if private else None,
        "ledger_plan": plan,
        "variant_ids_sha256": hashlib.sha256("\n".join(variant_ids).encode()).hexdigest(),
        "generator": {
            "kind": options.generator,
            "settings": generator["settings"],
            "final_loss": batch.generator.losses[-1:],
            "modelled": generator["modelled"],
            "phased": generator["phased"],
            "temperature": options.temperature,
            **({"reference": generator["reference"]} if "reference" in generator else {}),
        },
        "validation": report.to_dict(),
    }


def batch_verdict(batch: ValidatedBatch) -> dict[str, Any]:
    """A batch's verdict, for the site's audit log: a failed batch writes no records (`write_batch`)."""
    report = batch.report
    return {
        "passed": bool(report.passed),
        "failed_checks": list(report.failed_checks()),
        "records_written": len(batch.accepted().labels) if report.passed else 0,
    }


def write_batch(
    out: Path,
    summary: dict,
    markdown: str,
    variant_ids: list[str],
    records: SyntheticRecords,
    with_covariates: bool,
    passed: bool,
    state_dir: str = "",
) -> None:
    """Everything into a staging folder, renamed into place at the end: no half-written output.
    `state_dir`: the ledger a hospital's own run charged, named in report.md ("" : the site's).

    `atomic_dir` removes an existing `out` whole before the rename, so a folder holding a privacy
    ledger's files is refused here whatever let it through (`refuse_ledger_files_in`): an audit saw
    `--out z3 --state-dir z3` charge the ledger, then delete it with the output's clean-up."""
    refuse_ledger_files_in(out)
    with atomic_dir(out, mode=PRIVATE_DIR_MODE) as staging:  # figures and records of the patients
        if passed:
            ids = [f"SYN{i + 1:06d}" for i in range(len(records.labels))]
            calls = (
                records.genotypes if records.haplotypes is None else records.haplotypes
            )  # haplotypes: a phased VCF
            write_vcf(staging / "genotypes.vcf.gz", calls, ids, variant_ids)
            frame = pd.DataFrame({"sample_id": ids, "label": records.labels.astype(int)})
            if with_covariates and records.sex is not None:
                frame["sex"] = np.where(records.sex == 0, "M", "F")  # the reader's 0 = male
                frame["age"] = np.round(records.age, 1)
            write_text_atomic(staging / "phenotypes.csv", frame.to_csv(index=False))
            # the records bound to the verdict: `hospital check --synthetic` declares validation.json's
            # digest, and a site uses these files only as written here (`synthetic_use.load_synthetic`)
            summary = {**summary, RECORDS_DIGESTS: records_digests(staging)}
        write_text_atomic(staging / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
        verdict = (
            "written"
            if passed
            else "NOT written: the batch failed validation (" + ", ".join(summary["failed_checks"]) + ")"
        )
        warnings = [f"**Warning:** {warning}" for warning in summary.get("warnings", [])]
        filled = summary.get("missing_calls") or {}
        missing = [f"**Missing calls:** {missing_calls_note(filled)}"] if filled.get("missing_calls") else []
        covariates = summary.get("missing_covariates") or {}
        if covariates.get("filled"):
            missing.append(f"**Missing covariates:** {missing_covariates_note(covariates)}")
        elif covariates_off_note(covariates):
            missing.append(f"**Missing covariates:** {covariates_off_note(covariates)}")
        notes = [f"**Privacy: {privacy_statement(summary, state_dir)}**", *missing, *warnings]
        header = "".join(f"{note}\n\n" for note in notes)
        write_text_atomic(
            staging / "report.md", f"# Synthetic cohort\n\nRecords {verdict}.\n\n{header}{markdown}\n"
        )
        for written in staging.iterdir():  # no other user reads them, whatever the folder's mode
            written.chmod(PRIVATE_FILE_MODE)


def privacy_statement(summary: dict[str, Any], state_dir: str = "") -> str:
    """What protects the real patients behind the batch, for the terminal and report.md: without DP,
    that nothing does and the records stay inside the hospital; under DP, the epsilon spent (and the
    ledger's folder, `state_dir`, when given)."""
    epsilon = summary.get("epsilon")
    if epsilon is None:
        return (
            "NO differential privacy (generated without --epsilon). These records carry the real patients "
            "with no formal bound on what they reveal: keep them inside the hospital and do not send or "
            "share them (genofed never sends synthetic records)."
        )
    plan, delta = summary.get("ledger_plan"), summary.get("delta") or 0
    where = (
        f"charged to {ledger_words(state_dir)}"
        if state_dir
        else "of this site's privacy budget, charged to its ledger"
    )
    before, after = summary.get("ledger_epsilon_before"), summary.get("ledger_epsilon_after")
    total = (
        f"; the ledger's total went from epsilon {before:.3g} to {after:.3g} (composition adds at most "
        "the batch's epsilon)"
        if before is not None and after is not None
        else ""
    )
    return (
        f"differential privacy: the generator spent epsilon {epsilon:g} (delta {delta:g}), the bound on "
        f"what this batch alone reveals, {where}"
        + (f" (plan {plan})" if plan else "")
        + total
        + ". Keep the records inside the hospital all the same (genofed never sends synthetic records)."
    )

"""`genofed synth`: a hospital's own synthetic cohort, generated and validated on site.

The generator (a label-conditional VAE or GAN, `genofed.common.synthetic.vae` / `.gan`, or the
reference-based one that copies a public panel's haplotypes, `genofed.common.synthetic.reference`)
learns from 80 % of the site's patients; the other 20 % never touch it and serve the validation's
privacy checks (distance to closest record, adversarial accuracy, membership inference need real
records the generator did not see). Without DP, records that sit too close to a training record are dropped
(under DP none are: which records a filter keeps is not post-processing of the DP release); the batch
is validated (`genofed.common.synthetic.checks`), and only a batch that passes is written as
a VCF and a phenotype file; the report is written either way.

Under DP (`--epsilon`) the generator's training is charged to the site's privacy ledger in
`--state-dir`, the same ledger its federated training charges, so the site's epsilon stays end to
end with respect to its real patients; that ledger must be the one the data are bound to (checked
before the genotypes are read, bound only with the generator's charge, so that a run refused or
interrupted on the way binds nothing: `local_ledger.bind_files`), and a site's declared budget caps it, or
`--budget` outside a site's state folder, where it is required
(`genofed.client.local_ledger`). At a site, `--delta` may not exceed the site's delta, and the
generator may not take the site's epsilon against the coordinator and all other sites colluding
over its `max_coalition_epsilon`: checked with the noise calibrated and the steps it will train
(`generators.planned_history`), before it trains. `--delta` defaults to the site's own there
(`local_ledger.default_delta`, in the CLI). At a site the charge is also written to the site's
audit log (SITE/audit.jsonl: `local_release_audit.audit_release`), before the batch is written, with the
batch's verdict (a failed batch is charged, its generator saw the patients, but writes no records),
the genotypes file's SHA-256, and the ledger's input digest labelled as what it is (of the data in
memory and the settings, `GENERATOR_DIGEST`: an audit compared it with `sha256sum` of the file).
Outside a site, the `--budget` the run was given is recorded beside the ledger
(`local_budget_record.record_budget`), so that `genofed hospital ledger DIR` totals the ledger against it.

What the generator reads from the cohort, and why under DP it has a public form: `client/synth_input.py`.

Without DP nothing is charged, but a run tied to a site (its `--state-dir` is a site's state
folder, or its files are bound to a site: `local_release_audit.unprotected_site`) is written to the site's
audit log all the same (`local_release_audit.audit_unprotected_release`), before the batch is written: an
audit found a full unprotected copy of a site's patients written with no trace a DPO could read.

Before anything is read: an `--out` that is, holds or sits in `--state-dir` is refused (the batch
replaces `--out` whole, and an audit saw that delete the ledger it had just charged; writing the
batch refuses an `--out` holding ledger files too; both in `client/synth_checks.py`); outside a site, a
`--budget` above the cap recorded beside the ledger unless `raise_budget` (the site's decision,
`local_budget_record.check_budget_change`); and without DP, `--budget`, or a `--state-dir` that is no
site's, which apply only under DP (`synth_checks.check_ledger_options`).

What may fail is checked before anything is charged: an existing empty `--out` that the finished
batch could not replace (a mount point, an immutable folder: `atomic.require_replaceable_dir`;
an audit saw a generator charged, then refused at the final rename), and an `--epsilon` too small
for any noise to reach (`synth_charge`: it was reported as "privacy budget exhausted ... stop
contributing"). A failure after the charge says that the epsilon was charged and that a rerun spends
again (`synth_failure.after_charge_message`), as an interrupt does
(`synth_failure.interrupted_message`); SIGTERM (a plain `kill`) interrupts the run the way Ctrl-C
does (`common.util.signals`), instead of ending it without a word.

The run's parts, each a module of its own: its options (`client/synth_options.py`), its refusals
before anything is read (`synth_arguments`, `synth_checks`), what the generator reads
(`synth_input`), the public counts and facts it follows (`synth_public`), the calibration, training
and charge under DP (`synth_charge`), what it writes (`synth_output`) and what a run that stops
early leaves and says (`synth_failure`); this module runs them in order and is the one callers
import.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.local_budget_record import check_budget_change
from genofed.client.local_ledger import (
    LocalLedger,
    bind_files,
    check_and_bind,
    genotypes_sha256,
    local_ledger,
)
from genofed.client.local_release_audit import (
    ReleaseCharged,
    audit_output_lost,
    audit_unprotected_release,
    unprotected_site,
)
from genofed.client.synth_charge import GENERATOR_DIGEST, feasibility_check, generate_charged
from genofed.client.synth_checks import (
    check_destination,
    check_ledger_options,
    check_out_apart_from_ledger,
    check_phase_input,
)
from genofed.client.synth_failure import (
    after_charge_message,
    discard_unused_state,
    interrupted_message,
    ledger_charges,
)
from genofed.client.synth_input import (
    GeneratorInput,
    covariates_off_note,
    generator_input,
    missing_calls_note,
    missing_covariates_note,
)
from genofed.client.synth_options import SynthOptions
from genofed.client.synth_output import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    batch_summary,
    batch_verdict,
    privacy_statement,
    reference_summary,
    write_batch,
)
from genofed.client.synth_public import (
    check_declared_size,
    dp_declared_size,
    public_counts,
    public_facts,
    public_panel,
)
from genofed.client.synthetic_use import SUMMARY_FILE, USABLE_RECORDS
from genofed.common.data.loading import load_site, site_patients
from genofed.common.errors import GenofedError
from genofed.common.synthetic.checks.precision import precision_warning
from genofed.common.synthetic.pipeline import generate_validated
from genofed.common.synthetic.reference_panel import refuse_patients_in_panel
from genofed.common.util.signals import terminate_as_interrupt

__all__ = [
    "DP_FEASIBILITY",
    "GENERATOR_DIGEST",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "SUMMARY_FILE",
    "SynthOptions",
    "privacy_statement",
    "reference_summary",
    "synthesize",
]

logger = logging.getLogger(__name__)

#: The key of `synthesize`'s result (never in validation.json) holding the `PublicFacts` a DP batch of
#: this cohort is judged on: what the advice after a failed batch asks (`synth_advice`).
DP_FEASIBILITY = "dp_feasibility"


def synthesize(
    genotypes: str | Path, phenotypes: str | Path, out: str | Path, options: SynthOptions
) -> dict[str, Any]:
    """Train, sample, filter, validate and write; returns the summary written to validation.json."""
    started = time.perf_counter()
    out = Path(out)
    check_phase_input(genotypes, options)
    check_out_apart_from_ledger(out, options.state_dir, inside_too=options.bound_to_data)
    check_ledger_options(options)
    check_destination(out, options)
    private = not math.isinf(options.epsilon)
    settings = options.settings()
    ledger = LocalLedger(Path(options.state_dir), options.budget, None) if private else None
    bind: Callable[[], None] | None = None
    if ledger is not None and options.bound_to_data:  # before the genotypes are read: a refusal costs little
        ledger = local_ledger(options.state_dir, options.budget, delta=options.delta)
        check_declared_size(options, ledger)
        raised = check_budget_change(ledger, raise_budget=options.raise_budget)
        if raised:  # the DPO's decision, said before anything is read (Ctrl-C still costs nothing)
            (options.warn or logger.warning)(raised)
        binding = {
            "command": "synth",
            "new_ledger": options.new_ledger,
            "data_update": options.data_update,
            # the patients bind the ledger too: a re-exported file of them is no fresh budget
            "sample_ids": site_patients(genotypes, phenotypes, label_column=options.label_column),
        }
        check_and_bind(
            ledger,
            genotypes,
            phenotypes,
            epsilon=options.epsilon,
            delta=options.delta,
            purpose="the generator",
            bind=False,  # checked now, bound with the generator's charge (`synth_charge.generate_charged`)
            own=True,  # --epsilon is the release's own: the total after is checked with the noise
            **binding,
        )
        bind = functools.partial(bind_files, ledger, genotypes, phenotypes, **binding)
    # without DP: the site the run is tied to, whose audit log records it (checked appendable now)
    site = _unprotected_site(genotypes, phenotypes, options) if not private else None
    charges_before = ledger_charges(options)
    state_existed = bool(options.state_dir) and Path(options.state_dir).exists()
    # a hospital's own run: a plain `kill` says what it leaves behind, as Ctrl-C (not in simulations)
    guard = terminate_as_interrupt() if options.bound_to_data else contextlib.nullcontext()
    try:
        with guard:
            summary = _synthesize(genotypes, phenotypes, out, options, settings, ledger, started, site, bind)
        # what the terminal says is readable by its owner only (not in validation.json, written already)
        made = [str(out)]
        if options.state_dir and not state_existed and Path(options.state_dir).is_dir():
            made.append(options.state_dir)
        return {**summary, "private_folders": made}
    except KeyboardInterrupt:
        if ledger_charges(options) == charges_before and not state_existed:
            discard_unused_state(options.state_dir)
        raise KeyboardInterrupt(interrupted_message(out, options, charges_before)) from None
    except ReleaseCharged:  # its message says the charge stands, and that a rerun is charged again
        raise
    except (GenofedError, OSError) as exc:
        if ledger_charges(options) > charges_before:
            if ledger is not None:  # its audit entry named `out`: say the output is not there
                audit_output_lost(ledger, command="synth", output=out, reason=str(exc))
            raise GenofedError(after_charge_message(exc, out, options)) from None
        if not state_existed:
            discard_unused_state(options.state_dir)
        raise


def _unprotected_site(
    genotypes: str | Path, phenotypes: str | Path, options: SynthOptions
) -> LocalLedger | None:
    """The site a run WITHOUT DP is tied to (`local_release_audit.unprotected_site`: its `--state-dir`, or
    the site its files are bound to), for a hospital's own run (`bound_to_data`); else None."""
    if not options.bound_to_data:
        return None
    try:  # the patients bind too; a file that cannot be read is refused later, by the data layer
        sample_ids = site_patients(genotypes, phenotypes, label_column=options.label_column)
    except GenofedError:
        sample_ids = []
    return unprotected_site(options.state_dir, genotypes, sample_ids)


def _synthesize(
    genotypes: str | Path,
    phenotypes: str | Path,
    out: Path,
    options: SynthOptions,
    settings: Any,
    ledger: LocalLedger | None,
    started: float,
    site: LocalLedger | None = None,
    bind: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`synthesize` once its options, destination and ledger are checked (`site`: without DP, the
    site whose audit log records the run, or None; `bind`: under DP, binds the ledger to the files,
    called with the generator's charge, or None)."""
    cohort = load_site(genotypes, phenotypes, label_column=options.label_column).cohort
    panel, focus = public_panel(options, cohort.variant_ids)
    if panel is not None:  # before anything is charged: mosaics of the patients would be no synthesis
        refuse_patients_in_panel(panel, cohort.sample_ids, cohort.dosages)
    # under DP of a public form, from each patient's own data and public values only
    prepared = generator_input(genotypes, cohort, options, panel=panel)
    dosages, missing_calls = prepared.dosages, prepared.missing_calls
    covariates, haplotypes, phase_note = prepared.covariates, prepared.haplotypes, prepared.phase_note
    labels = cohort.labels.astype(np.int8)
    if ledger is not None:  # said before the charge (Ctrl-C: nothing)
        _warn_input(options, prepared)
    elif covariates_off_note(prepared.missing_covariates):  # without DP: said before it trains
        (options.warn or logger.warning)(covariates_off_note(prepared.missing_covariates))
    # under DP the records' number and the generator's sampling rate follow public counts
    public = public_counts(options, ledger, len(labels)) if ledger is not None else None
    n = options.n or (len(labels) if public is None else public["declared_size"])
    if options.n is None and options.bound_to_data:  # a declared size under 20: still a usable batch
        n = max(n, USABLE_RECORDS)
    public_rows = None if public is None else public.get("rows")
    # what a DP batch here is judged on, before a charge and in the advice after a failed batch
    facts = public_facts(options, dp_declared_size(public, site, len(labels)), panel, focus)
    generate = functools.partial(
        generate_validated,
        dosages,
        labels,
        kind=options.generator,
        settings=settings,
        n=n,
        seed=options.seed,
        covariates=covariates,
        thresholds=options.thresholds,
        haplotypes=haplotypes,
        temperature=options.temperature,
        reference=panel,
        focus=focus,
        split=prepared.split,
        public_rows=public_rows,
    )
    if ledger is not None:
        assert prepared.split is not None  # under DP: `generator_input`'s keyed split
        batch, plan, totals = generate_charged(
            generate,
            settings,
            options,
            ledger,
            genotypes,
            dosages,
            labels,
            prepared.split,
            out,
            n_records=n,
            bind=bind,
            public_rows=public_rows,
            feasible=feasibility_check(options, facts) if bind else None,
        )
    else:
        batch, plan, totals = generate(noise_multiplier=None), None, None
        if site is not None:  # before the batch is written: nothing leaves unaudited
            audit_unprotected_release(
                site,
                command="synth",
                what=f"synthetic-data generator ({options.generator}) on {Path(genotypes).name}",
                output=out,
                genotypes_sha256=genotypes_sha256(genotypes),
                validation=batch_verdict(batch),
            )
    generator = {"settings": asdict(settings), "modelled": phase_note, "phased": haplotypes is not None}
    if panel is not None:
        generator["modelled"] = "mosaics of the public reference panel's phased haplotypes"
        generator["phased"] = True
        generator["reference"] = reference_summary(batch.generator)
    summary = batch_summary(
        batch, options, n=n, plan=plan, variant_ids=cohort.variant_ids, generator=generator
    )
    if totals is not None:  # what the ledger held before and after the charge (--epsilon is the batch's own)
        summary["ledger_epsilon_before"], summary["ledger_epsilon_after"] = totals
    summary["missing_calls"] = missing_calls
    if public is not None:
        summary["dp_sampling"] = public
    summary["missing_covariates"] = prepared.missing_covariates
    # the privacy checks' own standard errors say whether they can tell at this size (checks.precision)
    summary["warnings"] = [warning] if (warning := precision_warning(summary["validation"])) else []
    summary["seconds"] = time.perf_counter() - started
    report, with_covariates = batch.report, covariates is not None
    markdown = report.to_markdown()
    records, passed = batch.accepted(), report.passed
    ledger_dir = options.state_dir if options.bound_to_data else ""  # a ledger outside a site says so
    write_batch(out, summary, markdown, cohort.variant_ids, records, with_covariates, passed, ledger_dir)
    if options.bound_to_data:  # not in validation.json (written above): for the advice, `cli/synth.py`
        summary = {**summary, DP_FEASIBILITY: facts}
    return summary


def _warn_input(options: SynthOptions, prepared: GeneratorInput) -> None:
    """Under DP, before the charge (Ctrl-C still costs nothing): how many calls and covariate cells
    were filled. (That `--phase auto` models dosages under DP is the run's note,
    `synth_input.DP_AUTO_PHASE`.)"""
    warn = options.warn or logger.warning
    if prepared.missing_calls["missing_calls"]:
        warn(missing_calls_note(prepared.missing_calls))
    if prepared.missing_covariates.get("filled"):
        warn(missing_covariates_note(prepared.missing_covariates))

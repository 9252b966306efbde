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
for any noise to reach (`_calibrated`: it was reported as "privacy budget exhausted ... stop
contributing"). A failure after the charge says that the epsilon was charged and that a rerun spends
again (`_after_charge`), as an interrupt does (`_interrupted`); SIGTERM (a plain `kill`) interrupts
the run the way Ctrl-C does (`common.util.signals`), instead of ending it without a word.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.client.declared_size import declared_cohort_size
from genofed.client.local_budget_record import check_budget_change, record_budget
from genofed.client.local_ledger import (
    LocalLedger,
    bind_files,
    check_and_bind,
    epsilon_too_small,
    genotypes_sha256,
    ledger_words,
    local_ledger,
)
from genofed.client.local_release_audit import (
    ReleaseCharged,
    audit_output_lost,
    audit_release,
    audit_unprotected_release,
    unprotected_site,
)
from genofed.client.synth_arguments import check_arguments
from genofed.client.synth_checks import (
    check_destination,
    check_ledger_options,
    check_out_apart_from_ledger,
    check_phase_input,
    refuse_ledger_files_in,
)
from genofed.client.synth_feasibility import CannotPass, PublicFacts, refusal
from genofed.client.synth_input import (
    GeneratorInput,
    covariates_off_note,
    generator_input,
    missing_calls_note,
    missing_covariates_note,
)
from genofed.client.synthetic_use import RECORDS_DIGESTS, SUMMARY_FILE, USABLE_RECORDS, records_digests
from genofed.common.data.loading import load_site, site_patients
from genofed.common.data.writers import write_vcf
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.privacy.accountant import SIGMA_MAX, BudgetExhausted, epsilon_of
from genofed.common.privacy.ledger import LEDGER_FILE, Charge, PrivacyLedger
from genofed.common.synthetic.checks import Thresholds
from genofed.common.synthetic.checks.precision import foreseen_warning, precision_warning
from genofed.common.synthetic.generators import (
    generator_settings,
    noise_for_budget,
    planned_history,
)
from genofed.common.synthetic.pipeline import (
    ValidatedBatch,
    generate_validated,
    public_generator_rows,
)
from genofed.common.synthetic.reference_panel import ReferencePanel, refuse_patients_in_panel
from genofed.common.synthetic.site_release import case_count_noise
from genofed.common.synthetic.vae import SyntheticRecords
from genofed.common.util.atomic import (
    atomic_dir,
    write_text_atomic,
)
from genofed.common.util.checks import require
from genofed.common.util.signals import terminate_as_interrupt

logger = logging.getLogger(__name__)

#: What a generator's ledger input digest is the SHA-256 of (its audit entry's `input_digest_of`):
#: the data it read and its settings, in memory, so no file's `sha256sum` matches it; the entry
#: records the genotypes file's own as `genotypes_sha256`.
GENERATOR_DIGEST = "the imputed dosages, labels and generator settings in memory, not a file"
#: The mode of `--out` and of a ledger folder a run makes (as `genofed simulate` makes its runs):
#: they hold figures computed on the patients (exact counts, the checks' values) and, for a passing
#: batch without DP, records that carry the patients with no bound. The files in `--out`: 0600.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: The key of `synthesize`'s result (never in validation.json) holding the `PublicFacts` a DP batch of
#: this cohort is judged on: what the advice after a failed batch asks (`synth_advice`).
DP_FEASIBILITY = "dp_feasibility"


@dataclass(frozen=True)
class SynthOptions:
    #: records to generate; default: as many as the real cohort (the loader needs 20 patients),
    #: under DP its declared size (`declared_size`: the exact count is not public), for a
    #: hospital's own batch at least USABLE_RECORDS (a site refuses to train on fewer)
    n: int | None = None
    epsilon: float = math.inf  # spent on the generator; inf = no DP (then no ledger charge)
    delta: float = 1e-5
    #: the site's lifetime cap; refused if the ledger would exceed it (with `bound_to_data`, required
    #: under DP unless `state_dir` is a site's state folder with a declared budget)
    budget: float | None = None
    state_dir: str = ""  # where the site's ledger lives (required with a finite epsilon)
    #: Under DP, bind the ledger in `state_dir` to the input files by the hospital agent's rules and
    #: cap it by a site's declared budget (`client.local_ledger`): what a hospital's own `genofed
    #: synth` does. Off for simulations and experiments, whose ledgers are a run's own.
    bound_to_data: bool = False
    #: The binding's overrides: a reason to start a new ledger for data that had one, or to carry a
    #: ledger over to updated files (both written to a site's audit log).
    new_ledger: str = ""
    data_update: str = ""
    #: Raise the lifetime cap recorded beside a ledger outside any site (`ledger-budget.json`) to
    #: `budget`: the site's (its DPO's) decision, never a side effect of a larger `--budget`
    #: (`local_budget_record.check_budget_change`). False: a `--budget` above the recorded cap is refused.
    raise_budget: bool = False
    seed: int = 42
    generator: str = "vae"  # "vae", "gan" or "reference" (genofed.common.synthetic.generators)
    #: "phased": the hospital states its VCF is phased, so the generator models haplotypes (a
    #: heterozygous call that is nevertheless unphased, and a filled missing call, is phased at
    #: random per patient: `phase_for_generator`); refused for a non-VCF input. "auto": without DP,
    #: haplotype-aware when the input is a fully phased VCF with no missing calls (then the output
    #: VCF is phased too); under DP, dosages (whether every call is phased is a fact about the
    #: patients, not a public one). "ignore": always model dosages.
    phase: str = "auto"
    epochs: int | None = None  # generator training epochs; None: the generator's default
    #: Under DP, the cohort size the hospital declares public: the VAE's and GAN's DP-SGD rate and
    #: steps follow its generator share (`pipeline.public_generator_rows`), never the actual count,
    #: which moves with one patient. None: the site's declared size (its hospital.json), else the
    #: patients rounded to 10, the rule a site that declares none follows
    #: (`declared_size.declared_cohort_size`).
    declared_size: int | None = None
    temperature: float = 1.0  # sampling temperature; < 1 sharpens each variant's categorical
    #: The input phenotype file's 0/1 disease column; the synthetic phenotypes.csv always calls it
    #: `label` (the column the training path reads back, `genofed.client.synthetic_use`).
    label_column: str = "label"
    thresholds: Thresholds = Thresholds()
    #: The reference generator's public panel: a phased VCF/BCF (required with --generator
    #: reference), an optional (sample_id, population) table for its people, and an optional
    #: public gene list (BED or gene table) narrowing the variants whose per-class frequencies
    #: the site releases.
    reference: str = ""
    reference_populations: str = ""
    gene_prior: str = ""
    #: Spend on a DP batch the pre-charge check says cannot pass validation (`synth_feasibility`);
    #: False: such a batch is refused before anything is charged (a hospital's own run only).
    spend_anyway: bool = False
    #: Where a warning before the charge goes (the CLI prints "warning: ..."; None: this module's
    #: logger), so an operator reads it while Ctrl-C still charges nothing.
    warn: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_arguments(self)

    def settings(self) -> Any:
        try:
            return generator_settings(self.generator, seed=self.seed, epochs=self.epochs)
        except ValueError as exc:  # the generator's own range checks, worded for the option
            raise ConfigError(f"--epochs: {exc}") from None


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
        _check_declared_size(options, ledger)
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
            bind=False,  # checked now, bound with the generator's charge (`_generate_charged`)
            own=True,  # --epsilon is the release's own: the total after is checked with the noise
            **binding,
        )
        bind = functools.partial(bind_files, ledger, genotypes, phenotypes, **binding)
    # without DP: the site the run is tied to, whose audit log records it (checked appendable now)
    site = _unprotected_site(genotypes, phenotypes, options) if not private else None
    charges_before = _charges(options)
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
        if _charges(options) == charges_before and not state_existed:
            _discard_unused_state(options.state_dir)
        raise KeyboardInterrupt(_interrupted(out, options, charges_before)) from None
    except ReleaseCharged:  # its message says the charge stands, and that a rerun is charged again
        raise
    except (GenofedError, OSError) as exc:
        if _charges(options) > charges_before:
            if ledger is not None:  # its audit entry named `out`: say the output is not there
                audit_output_lost(ledger, command="synth", output=out, reason=str(exc))
            raise GenofedError(_after_charge(exc, out, options)) from None
        if not state_existed:
            _discard_unused_state(options.state_dir)
        raise


def _check_declared_size(options: SynthOptions, site: LocalLedger) -> None:
    """Refuse a `--declared-size` other than the one the site declared (its hospital.json): the
    size a hospital states public is one number, set by its configuration."""
    declared = site.declared_size
    require(
        options.declared_size is None or declared is None or options.declared_size == declared,
        f"--declared-size {options.declared_size} differs from the cohort size site {site.site} declared "
        f"public ({declared}, in {site.site_file}); leave --declared-size out at a site: its own is used. "
        "Nothing was read or charged.",
    )


def _public_counts(options: SynthOptions, site: LocalLedger, patients: int) -> dict[str, Any]:
    """Under DP, the counts the run follows instead of the exact ones (validation.json's
    `dp_sampling`): the cohort size the site declared, else `--declared-size`, else the patients
    rounded to 10 (`declared_size.declared_cohort_size`, what a site declaring none makes public),
    which is also the default number of records; and for the VAE and GAN the generator's training
    rows as far as anyone outside may know, the share of that size the keyed split sends to
    training (their DP-SGD's rate and steps follow it; the reference generator's one release
    samples no patients)."""
    if site.declared_size is not None:
        size, source = site.declared_size, f"the size site {site.site} declared public"
    elif options.declared_size is not None:
        size, source = options.declared_size, "--declared-size"
    else:
        size, source = declared_cohort_size(patients), "the patients rounded to 10 (no declared size)"
    rows = {} if options.generator == "reference" else {"rows": public_generator_rows(size)}
    return {**rows, "declared_size": size, "from": source}


def _discard_unused_state(state_dir: str) -> None:
    """Remove a state folder this run made that holds nothing but the ledger's lock file (a run
    refused or interrupted before its charge): a refusal leaves nothing behind, and no empty
    folder that looks like a ledger."""
    folder = Path(state_dir) if state_dir else None
    if folder is None or not folder.is_dir():
        return
    lock = folder / f"{LEDGER_FILE}.lock"
    if {entry.name for entry in folder.iterdir()} <= {lock.name}:
        lock.unlink(missing_ok=True)
        folder.rmdir()


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
    panel, focus = _reference(options, cohort.variant_ids)
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
    public = _public_counts(options, ledger, len(labels)) if ledger is not None else None
    n = options.n or (len(labels) if public is None else public["declared_size"])
    if options.n is None and options.bound_to_data:  # a declared size under 20: still a usable batch
        n = max(n, USABLE_RECORDS)
    public_rows = None if public is None else public.get("rows")
    # what a DP batch here is judged on, before a charge and in the advice after a failed batch
    facts = _public_facts(options, _dp_declared_size(public, site, len(labels)), panel, focus)
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
        batch, plan, totals = _generate_charged(
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
            feasible=_feasibility(options, facts) if bind else None,
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
                validation=_verdict(batch),
            )
    generator = {"settings": asdict(settings), "modelled": phase_note, "phased": haplotypes is not None}
    if panel is not None:
        generator["modelled"] = "mosaics of the public reference panel's phased haplotypes"
        generator["phased"] = True
        generator["reference"] = reference_summary(batch.generator)
    summary = _summary(batch, options, n=n, plan=plan, variant_ids=cohort.variant_ids, generator=generator)
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
    _write(out, summary, markdown, cohort.variant_ids, records, with_covariates, passed, ledger_dir)
    if options.bound_to_data:  # not in validation.json (written above): for the advice, `cli/synth.py`
        summary = {**summary, DP_FEASIBILITY: facts}
    return summary


def _dp_declared_size(public: dict[str, Any] | None, site: LocalLedger | None, patients: int) -> int:
    """The cohort size a DP batch follows: this DP run's (`_public_counts`); without DP, the one a DP
    run would follow (the size the site the run is tied to declared, else the patients rounded to
    10; `--declared-size` applies under DP only)."""
    if public is not None:
        return int(public["declared_size"])
    if site is not None and site.declared_size is not None:
        return int(site.declared_size)
    return declared_cohort_size(patients)


def _public_facts(
    options: SynthOptions,
    declared_size: int,
    panel: ReferencePanel | None,
    focus: np.ndarray | None,
) -> PublicFacts:
    """The public facts `synth_feasibility.cannot_pass` reads of this cohort: the declared size, the
    delta and, for the reference generator, the panel's frequencies and the released variants."""
    if panel is None:
        return PublicFacts(declared_size, options.delta)
    released = ~panel.covered | (True if focus is None else np.asarray(focus, dtype=bool))
    return PublicFacts(declared_size, options.delta, panel.alt_frequencies(), released)


def _feasibility(
    options: SynthOptions, facts: PublicFacts
) -> Callable[[float, LocalLedger, PrivacyLedger], None]:
    """A hospital's own DP run: the check, with the calibrated noise, that refuses a batch that
    cannot pass validation before anything is charged (`synth_feasibility.cannot_pass`, public
    facts only), or with `--spend-anyway` warns and goes on."""

    def check(sigma: float, local: LocalLedger, ledger: PrivacyLedger) -> None:
        problem = facts.problem(options.generator, options.epsilon, noise_multiplier=sigma)
        if problem is None:
            return
        if options.spend_anyway:
            (options.warn or logger.warning)(
                f"--spend-anyway: {problem}; epsilon {options.epsilon:g} is charged all the same"
            )
            return
        spent = ledger.epsilon(options.delta) if ledger.charges else 0.0
        left = None if local.budget is None else local.budget - spent
        raise CannotPass(
            refusal(
                problem,
                ledger=ledger_words(local.state_dir),
                left=left,
                budget=local.budget,
                smallest=facts.smallest_accepted(options.generator, options.epsilon),
                no_larger=facts.no_larger_words(options.generator),
            )
        )

    return check


def _reference(
    options: SynthOptions, variant_ids: list[str]
) -> tuple[ReferencePanel | None, np.ndarray | None]:
    """The public panel aligned to the site's variants and the released variants (`focus`, from
    the gene list), or (None, None) for the VAE and GAN."""
    if options.generator != "reference":
        return None, None
    from genofed.common.data.panel import VariantPanel
    from genofed.common.data.regions import load_gene_regions, variants_in_regions
    from genofed.common.synthetic.reference_panel import load_reference_panel

    panel = load_reference_panel(
        options.reference, variant_ids, populations=options.reference_populations or None
    )
    if not options.gene_prior:
        return panel, None
    columns = variants_in_regions(
        VariantPanel(variant_ids, np.zeros(len(variant_ids))), load_gene_regions(options.gene_prior)
    )
    focus = np.zeros(len(variant_ids), dtype=bool)
    focus[columns] = True
    return panel, focus


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


def _summary(
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


def _warn_input(options: SynthOptions, prepared: GeneratorInput) -> None:
    """Under DP, before the charge (Ctrl-C still costs nothing): how many calls and covariate cells
    were filled. (That `--phase auto` models dosages under DP is the run's note,
    `synth_input.DP_AUTO_PHASE`.)"""
    warn = options.warn or logger.warning
    if prepared.missing_calls["missing_calls"]:
        warn(missing_calls_note(prepared.missing_calls))
    if prepared.missing_covariates.get("filled"):
        warn(missing_covariates_note(prepared.missing_covariates))


def _generate_charged(
    generate: Callable[..., ValidatedBatch],
    settings: Any,
    options: SynthOptions,
    local: LocalLedger,
    genotypes: str | Path,
    dosages: np.ndarray,
    labels: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    out: Path,
    *,
    n_records: int,
    bind: Callable[[], None] | None = None,
    public_rows: int | None = None,
    feasible: Callable[[float, LocalLedger, PrivacyLedger], None] | None = None,
) -> tuple[ValidatedBatch, str, tuple[float, float]]:
    """Calibrate, train and charge under the ledger lock, refusing before training when the
    budget (`local.budget`: --budget or the site's own) or the site's coalition cap would be
    exceeded, or `--epsilon` is too small to calibrate. The charge is made whatever the verdict: a
    generator that failed validation has still looked at the patients. `bind` (the files' binding
    to this ledger, checked before the data were read) runs once the generator has trained, just
    before its charge, under the same lock: a run refused or interrupted before the charge binds
    nothing (an interrupted run had left a binding in a folder without a ledger, which then
    refused the patients' next ledger as one that "would forget the privacy already spent").
    `feasible(sigma, local, ledger)` refuses, with the
    calibrated noise and before the binding and the training, a batch that cannot pass validation
    (`synth_feasibility`). At a site, the release is written to its audit log
    too (`out`: where the batch goes), before the batch is written. `split`: the generator's
    (train, holdout) indices (`generator_input`'s keyed split). `public_rows`: the training rows
    the VAE's and GAN's sampling rate and steps follow, a public count (`_public_counts`); the noise
    is calibrated for the same (None: the split's training size). `n_records`: the batch's size,
    for the warning of what its verdict will be worth. Returns the batch, its ledger plan and the
    ledger's epsilon (at `options.delta`) before and after the charge."""
    # a ledger folder made here holds figures of the patients' releases: readable by its owner only
    local.state_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    refused = "Nothing was computed or written."
    with PrivacyLedger.locked_at(local.state_dir / LEDGER_FILE) as ledger:
        if options.bound_to_data:  # again under the lock: another run may have recorded a cap since
            check_budget_change(local, raise_budget=options.raise_budget)
        local.check_spend(
            ledger, options.epsilon, options.delta, purpose="the generator", refused=refused, own=True
        )
        n_train = len(split[0])  # the patients the generator trains on
        rows = n_train if public_rows is None else public_rows  # the rows its DP-SGD's rate follows
        count_noise = case_count_noise(options.epsilon, options.delta)  # VAE and GAN only
        # the release's noise for ITS OWN epsilon, whatever the ledger holds; the ledger is charged
        # what composing it adds (at most that epsilon), refused over the budget
        sigma = _calibrated(options, rows, settings, count_noise)
        planned = planned_history(options.generator, rows, settings, sigma, count_noise)
        before = ledger.epsilon(options.delta)
        target = local.check_total(
            ledger, planned, options.delta, epsilon=options.epsilon, purpose="the generator", refused=refused
        )
        local.check_coalition(
            ledger, planned, options.delta, epsilon=options.epsilon, purpose="the generator", refused=refused
        )
        if feasible is not None:  # a batch that cannot pass is refused before anything is charged
            feasible(sigma, local, ledger)
        if bind is not None:  # a hospital's own run: told what its verdict will be worth
            n_holdout = len(split[1])
            foreseen = foreseen_warning(
                n_train, n_holdout, n_records, epsilon=options.epsilon, thresholds=options.thresholds
            )
            if foreseen:
                (options.warn or logger.warning)(foreseen)
        batch = generate(noise_multiplier=sigma, count_noise=count_noise)
        if bind is not None:  # bound only now, with the charge: an interrupted run leaves no binding
            bind()
        digest = hashlib.sha256(
            dosages.tobytes() + labels.tobytes() + json.dumps(asdict(settings), default=str).encode()
        ).hexdigest()
        # a run of its own: the generator's noise is fresh randomness, so even the same command again
        # is a new release, charged again (under the same key it replaced the first one's charge)
        plan = f"synth-{options.generator}-{digest[:16]}-{options.seed}-{secrets.token_hex(4)}"
        own = epsilon_of(batch.history, options.delta)
        if own > options.epsilon * (1 + 1e-3):
            raise GenofedError(
                f"internal: the generator's release has epsilon {own:.4g} on its own, more than the "
                f"--epsilon {options.epsilon:g} it was calibrated for (steps {batch.history})"
            )
        _charge_generator(ledger, batch, plan, digest, options, genotypes, before=before)
        if options.bound_to_data:  # outside a site: the cap it was given, for `hospital ledger DIR`
            record_budget(local, delta=options.delta, command="synth")
        if ledger.charges_of(plan, "train"):  # the site's audit log: what was released, at what cost
            audit_release(
                local,
                ledger,
                ledger.charges_of(plan, "train")[-1],
                command="synth",
                epsilon=options.epsilon,
                output=out,
                # the digest is of the data read and the settings, in memory: no file's sha256sum
                input_digest_of=GENERATOR_DIGEST,
                genotypes_sha256=genotypes_sha256(genotypes),
                validation=_verdict(batch),
            )
        spent_after = ledger.epsilon(options.delta)
        if spent_after > target * (1 + 1e-6):
            raise GenofedError(
                f"internal: generator spent epsilon {spent_after:.3f}, more than planned {target:.3f}"
            )
        coalition_after = ledger.coalition_epsilon(options.delta)
        if coalition_after > local.coalition_cap * (1 + 1e-6):
            raise GenofedError(
                f"internal: generator brought the coalition epsilon to {coalition_after:.3f}, over the "
                f"cap {local.coalition_cap:g} it was checked against (planned steps {planned}, trained "
                f"{batch.history})"
            )
    return batch, plan, (before, ledger.epsilon(options.delta))


def _calibrated(options: SynthOptions, rows: int, settings: Any, count_noise: float) -> float:
    """The generator's noise multiplier for `--epsilon` as the release's OWN guarantee
    (`noise_for_budget` with no history), its DP-SGD sampling `rows` training rows (the public
    count, `_public_counts`), whatever the ledger already holds: until this change the noise was
    calibrated so that the ledger's composed total moved by `--epsilon`, and a ledger holding 1.99
    got a release of epsilon 2.07 on its own for `--epsilon 1` (an outside walkthrough), half the
    noise a fresh ledger got for the same command. A calibration that fails means that `--epsilon`
    is below what the generator's steps cost alone at the largest noise (`SIGMA_MAX`): refused as
    too small (`epsilon_too_small`), not as the site's budget exhausted (an audit read "privacy
    budget exhausted ... stop contributing" for `--epsilon 1e-9` at a site with 3.5 left)."""
    try:
        return noise_for_budget(
            options.generator,
            rows,
            settings,
            epsilon=options.epsilon,
            delta=options.delta,
            count_noise=count_noise,
        )
    except BudgetExhausted:
        quietest = planned_history(options.generator, rows, settings, SIGMA_MAX, max(count_noise, SIGMA_MAX))
        floor = epsilon_of(quietest, options.delta)
        raise epsilon_too_small(
            options.epsilon,
            floor,
            delta=options.delta,
            what=f"the {options.generator} generator's release",
            # the floor grows with the training steps
            alternative="" if options.generator == "reference" else ", or fewer --epochs",
            own=True,
        ) from None


def _verdict(batch: ValidatedBatch) -> dict[str, Any]:
    """A batch's verdict, for the site's audit log: a failed batch writes no records (`_write`)."""
    report = batch.report
    return {
        "passed": bool(report.passed),
        "failed_checks": list(report.failed_checks()),
        "records_written": len(batch.accepted().labels) if report.passed else 0,
    }


def _charge_generator(
    ledger: PrivacyLedger,
    batch: ValidatedBatch,
    plan: str,
    digest: str,
    options: SynthOptions,
    genotypes: str | Path,
    *,
    before: float,
) -> None:
    """One ledger entry per step kind of the generator's DP training (its accountant's history),
    each recording the site's epsilon once all of them are charged; the note says the release's
    own epsilon and what the ledger's total went from (`before`) and to."""
    after = epsilon_of([*ledger.history(), *batch.history], options.delta)
    for i, (noise, rate, steps) in enumerate(batch.history):
        ledger.charge(
            Charge(
                plan_id=plan,
                round=i,
                noise_multiplier=noise,
                sample_rate=rate,
                steps=steps,
                epsilon_after=after,
                time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                note=(
                    f"synthetic-data generator ({options.generator}) on {Path(genotypes).name}, epsilon "
                    f"{options.epsilon:g} at delta {options.delta:g} on its own (the ledger's total "
                    f"{before:.3g} -> {after:.3g})"
                ),
                input_digest=digest,
                delta=options.delta,
            )
        )


def _write(
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


def _charges(options: SynthOptions) -> int:
    """How many charges the site's ledger holds (0 without DP or a ledger yet)."""
    if math.isinf(options.epsilon) or not options.state_dir:
        return 0
    path = Path(options.state_dir) / LEDGER_FILE
    return len(PrivacyLedger(path).charges) if path.is_file() else 0


def _interrupted(out: Path, options: SynthOptions, charges_before: int) -> str:
    """What an interrupted `genofed synth` leaves behind: whether anything was written or charged."""
    wrote = _wrote(out)
    if math.isinf(options.epsilon):
        return f"{wrote}; no privacy ledger is involved without --epsilon"
    charged = _charges(options) > charges_before
    spent = _charged(options) if charged else f"nothing was charged to the ledger in {options.state_dir}"
    return f"{wrote}; {spent}"


def _after_charge(exc: GenofedError | OSError, out: Path, options: SynthOptions) -> str:
    """A failure once the generator was charged, in one line: what failed, what was written, and
    that the epsilon was charged and a rerun spends it again (the CLI's generic "run again" hid
    that the budget was spent)."""
    if isinstance(exc, OSError):
        target = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        what = f"{target}: {exc.strerror or exc}" if target is not None else str(exc)
    else:
        what = str(exc).rstrip(".")
    return f"{what}; {_wrote(out)}, but {_charged(options)}"


def _wrote(out: Path) -> str:
    """Whether the batch reached `out`."""
    written = (out / SUMMARY_FILE).is_file()
    return f"the batch was already written to {out}" if written else f"nothing was written to {out}"


def _charged(options: SynthOptions) -> str:
    """That the generator's epsilon was charged, where, and that a rerun is charged again."""
    return (
        f"the generator's epsilon {options.epsilon:g} WAS charged to the ledger in {options.state_dir} "
        "(its release was complete): a rerun is a new release and spends epsilon again"
    )

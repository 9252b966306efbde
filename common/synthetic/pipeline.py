"""One site's synthetic cohort in memory: split, train the generator, sample, drop records that
sit too close to a training record (without DP only), validate the rest. `genofed synth`
(client/synth.py) adds the files, the privacy ledger and the budget around it; the experiments
call it directly.

Why a holdout: the privacy checks (distance to closest record, adversarial accuracy, membership
inference) need real patients the generator never saw, so the generator trains on 80 % of the
site and the other 20 % is the reference for "what an unseen real person looks like".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from genofed.common.data.splits import keyed_split, stratified_split
from genofed.common.errors import GenofedError
from genofed.common.privacy.accountant import Step
from genofed.common.privacy.release import release_step
from genofed.common.synthetic.checks.leakage import record_failures
from genofed.common.synthetic.checks.thresholds import DEFAULT_THRESHOLDS, Thresholds
from genofed.common.synthetic.checks.verdict import ValidationReport, validate_synthetic
from genofed.common.synthetic.encoding import DOSAGE_STATES, PHASED_STATES, phased_states
from genofed.common.synthetic.generators import train_generator
from genofed.common.synthetic.reference_panel import ReferencePanel
from genofed.common.synthetic.site_release import CASE_COUNT_NOISE, release_case_count
from genofed.common.synthetic.vae import SyntheticRecords

HOLDOUT_FRACTION = 0.2
#: The fewest records left after the near-copy filter that a batch can be validated on (the
#: adversarial-accuracy check compares each record with its nearest other record).
MIN_KEPT = 2


class AllRecordsDropped(GenofedError):
    """The near-copy filter dropped (nearly) every record of a batch: nothing left to validate.

    Why an error of its own: validation ended in a traceback there (an outside walkthrough, with
    `--temperature 0.7` on a 220-patient hospital of real genotypes), and no file said why."""

    def __init__(self, dropped: int, sampled: int) -> None:
        super().__init__(
            f"the near-copy filter dropped {dropped} of the {sampled} generated records, each closer to "
            "one of the training patients than 95 % of the held-out real patients are (a near or exact "
            "copy): too few are left to validate, and nothing was written. The generator reproduces its "
            "training patients: sample less sharply (a --temperature nearer 1, the default), train it less "
            "(--epochs), or use --generator reference; a DP run (--epsilon) keeps every record"
        )
        self.dropped = dropped
        self.sampled = sampled


#: A seeded DP noise source for the `generate_validated` calls made inside `seeded_dp_noise`.
_SEEDED_NOISE: ContextVar[np.random.Generator | None] = ContextVar("genofed_seeded_dp_noise", default=None)


@contextmanager
def seeded_dp_noise(rng: np.random.Generator) -> Iterator[None]:
    """Within this block, `generate_validated` calls that pass no `noise_rng` draw their DP noise
    (generator DP-SGD, Poisson sampling, case-count release) from `rng` instead of secret
    randomness. For simulations only, whose virtual hospitals' secrets derive from the run's seed
    (`simulations/local/synthetic_sites.py`, around `genofed synth`'s `synthesize`): a rerun of the
    same run is then identical. A deployed hospital never enters it."""
    token = _SEEDED_NOISE.set(rng)
    try:
        yield
    finally:
        _SEEDED_NOISE.reset(token)


def seeded_noise_source() -> np.random.Generator | None:
    """The enclosing `seeded_dp_noise` block's source (a simulation's virtual site), or None (a
    hospital: secret randomness)."""
    return _SEEDED_NOISE.get()


@dataclass
class ValidatedBatch:
    """A generated batch and its verdict. `accepted()` are the records a site may use: none if
    the batch failed validation, else all but the ones dropped as too close to a real patient
    (none are dropped from a DP batch, see `filter_and_validate`)."""

    records: SyntheticRecords
    dropped: np.ndarray  # bool per generated record: exact or near copy of a training record
    report: ValidationReport
    history: list[Step]  # the batch's DP steps (empty without DP): charge them to the site
    generator: Any  # the trained generator (stays at the site)
    train_index: np.ndarray  # which real patients trained it
    holdout_index: np.ndarray

    @property
    def passed(self) -> bool:
        return self.report.passed

    def accepted(self) -> SyntheticRecords:
        keep = ~self.dropped if self.passed else np.zeros(len(self.dropped), dtype=bool)
        r = self.records
        return SyntheticRecords(
            genotypes=r.genotypes[keep],
            labels=r.labels[keep],
            sex=None if r.sex is None else r.sex[keep],
            age=None if r.age is None else r.age[keep],
            haplotypes=None if r.haplotypes is None else r.haplotypes[keep],
        )


def split_for_generator(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices, stratified by label: the split every caller must use, but a DP run
    at a site (`private_split_for_generator`)."""
    return stratified_split(np.asarray(labels), HOLDOUT_FRACTION, seed)


def private_split_for_generator(sample_ids: list[str], key: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices for a generator under DP: each patient's side decided by a keyed
    hash of its own id (`keyed_split`) with a SECRET `key`. Why not `split_for_generator`: a
    stratified shuffle by the public `--seed` moves OTHER patients between training and holdout
    when one patient joins, leaves or changes label (an audit: 10-20 of 100), so two neighbouring
    cohorts' training sets differed by more than the one patient the charge is for; and anyone
    holding the seed knew which patients the generator trained on."""
    return keyed_split(sample_ids, HOLDOUT_FRACTION, key)


def public_generator_rows(declared_size: int) -> int:
    """The generator's training rows as far as anyone outside may know, from a cohort size the
    site declared public: its expected share under the keyed split (`private_split_for_generator`
    sends each patient to the holdout with probability HOLDOUT_FRACTION). Under DP the VAE's and
    GAN's Poisson rate and steps follow this count, not the split's actual size, which moves when
    one patient joins or leaves."""
    return max(1, round(declared_size * (1 - HOLDOUT_FRACTION)))


def generate_validated(
    dosages: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    settings: Any,
    n: int,
    seed: int,
    covariates: np.ndarray | None = None,
    noise_multiplier: float | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    haplotypes: np.ndarray | None = None,
    temperature: float = 1.0,
    reference: ReferencePanel | None = None,
    focus: np.ndarray | None = None,
    noise_rng: np.random.Generator | None = None,
    count_noise: float = CASE_COUNT_NOISE,
    split: tuple[np.ndarray, np.ndarray] | None = None,
    public_rows: int | None = None,
) -> ValidatedBatch:
    """Train a `kind` generator on 80 % of (dosages, labels), sample `n` records, filter and
    validate them against the real training set and the holdout.

    `dosages` are imputed (no missing calls); `settings` from `generators.generator_settings`.
    With `haplotypes` ((n, V, 2), phased, no missing calls; their sums must be `dosages`) the VAE
    and GAN are haplotype-aware (4 phased states per variant) and the records carry haplotypes;
    validation still compares dosages, as a classifier sees them. `temperature` < 1 samples each
    variant's categorical sharpened towards its mode (VAE and GAN; on 1000 Genomes, 0.7 brought the
    VAE's adversarial accuracy from ~0.58 to ~0.54 and LD up by ~0.01; see the fidelity experiment).
    The reference generator needs `reference` (the public panel on the same columns) and may take
    `focus` (the variants whose per-class frequencies it releases); its records are always phased.

    Labels are drawn at a RELEASED case share: under DP the VAE and GAN release the training
    counts with Gaussian noise of multiplier `count_noise` (`site_release.release_case_count`;
    calibrate with the same value, `site_release.case_count_noise`; charged: its step leads the
    batch's `history`), the reference generator's release holds them; without DP the exact share
    is used (nothing leaves the site without DP). `noise_rng` is the DP noise's source, the VAE's
    and GAN's DP-SGD (noise and Poisson sampling) included; default: the `seeded_dp_noise` block's
    if inside one, else secret randomness (`seed` is public and sets only the split, the
    initialisation and the sampling of the records); experiments and tests pass a seeded one.
    `split`: the (train, holdout) indices (`private_split_for_generator` under DP at a site);
    default `split_for_generator(labels, seed)`. `public_rows` (VAE and GAN under DP): the training
    rows their DP-SGD's Poisson rate and steps follow, a public count (`public_generator_rows`);
    default the actual count of `train`. Calibrate with the same count (`noise_for_budget`).
    """
    if noise_rng is None:  # None still: each release keys its noise with 256 secret bits
        noise_rng = seeded_noise_source()
    labels = np.asarray(labels).astype(np.int8)
    train, holdout = split if split is not None else split_for_generator(labels, seed)
    trained = _train_on_share(
        kind,
        dosages,
        labels,
        train,
        settings,
        noise_multiplier,
        covariates=covariates,
        haplotypes=haplotypes,
        reference=reference,
        focus=focus,
        noise_rng=noise_rng,
        public_rows=public_rows,
    )
    history = list(trained.history)
    if kind == "reference":
        case_fraction = None  # the generator samples at its release's share
    elif noise_multiplier is None:
        case_fraction = float(labels[train].mean())
    else:
        case_fraction = release_case_count(labels[train], noise_multiplier=count_noise, rng=noise_rng)
        history = [release_step(count_noise), *history]
    records = trained.sample(n, case_fraction=case_fraction, seed=seed + 1, temperature=temperature)
    dropped, report = filter_and_validate(
        dosages, labels, train, holdout, records, thresholds, drop_near_copies=noise_multiplier is None
    )
    return ValidatedBatch(records, dropped, report, history, trained, train, holdout)


def _train_on_share(
    kind: str,
    dosages: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    settings: Any,
    noise_multiplier: float | None,
    *,
    covariates: np.ndarray | None,
    haplotypes: np.ndarray | None,
    reference: ReferencePanel | None,
    focus: np.ndarray | None,
    noise_rng: np.random.Generator | None,
    public_rows: int | None = None,
) -> Any:
    """A `kind` generator trained on the `train` rows: on dosages, or on phased states when
    `haplotypes` are given (VAE and GAN; the reference generator always reads dosages)."""
    phased = haplotypes is not None and kind != "reference"
    states, n_states = (phased_states(haplotypes), PHASED_STATES) if phased else (dosages, DOSAGE_STATES)
    return train_generator(
        kind,
        states[train],
        labels[train],
        settings=settings,
        noise_multiplier=noise_multiplier,
        covariates=None if covariates is None else covariates[train],
        n_states=n_states,
        reference=reference,
        focus=focus,
        noise_rng=noise_rng,
        public_rows=public_rows,
    )


def filter_and_validate(
    dosages: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    holdout: np.ndarray,
    records: SyntheticRecords,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    drop_near_copies: bool = True,
) -> tuple[np.ndarray, ValidationReport]:
    """The records that fail the per-record checks (`record_failures`), and the validation of the
    others against the real training rows and the holdout: what `generate_validated` does to a
    batch, for callers that sample again from its generator.

    `drop_near_copies=False` keeps every record (the mask is all False) and validates them all,
    near and exact copies counted in the report as always: what a DP batch needs. Which records a
    filter keeps depends on each real patient's position, outside the DP release, so a filtered
    batch is no longer post-processing of the release; unfiltered, the only thing the patients
    decide beyond the release is the batch's pass or fail (docs/synthetic-data.md)."""
    if drop_near_copies:
        dropped = record_failures(
            real_train=dosages[train], real_holdout=dosages[holdout], synthetic=records.genotypes
        )
    else:
        dropped = np.zeros(len(records.genotypes), dtype=bool)
    keep = ~dropped
    if keep.sum() < MIN_KEPT:  # nothing to validate: the distance checks need two records
        raise AllRecordsDropped(int(dropped.sum()), len(dropped))
    report = validate_synthetic(
        dosages[train],
        dosages[holdout],
        records.genotypes[keep],
        labels_real=labels[train],
        labels_synth=records.labels[keep],
        labels_holdout=labels[holdout],
        thresholds=thresholds,
    )
    return dropped, report

"""Genotype-aware augmentations: one small frozen dataclass per transform.

Every transform changes ONE record and returns a new array, never the input. A record is an int8
dosage row (alt-allele counts 0, 1, 2; `MISSING` = -1 for no call), except after `Mixup`, whose
convex combinations are float32 dosages (NaN for no call; see `Mixup`). The element-wise
transforms (`CallNoise`, `Mutation`, `Missingness`) also accept a whole (n, V) matrix: each call
is treated independently, so a matrix is just many rows.

`protected` (a boolean mask over the panel variants, True at the variants a clinician marks as
known-causal) is honoured by every transform, not only by `Mutation`: an augmented example keeps
its label, so a miscall, a masked call or a partner's genotype at a known-causal variant would
make, for example, a "case" without the genotype that makes it a case: label noise exactly where
we were told the signal is. Only `Mutation(allow_causal=True)` edits those variants, on request.

How often a transform fires is its `rate`:
- element-wise transforms: each eligible call (called, i.e. not MISSING, and not protected)
  changes with probability `rate`, so the share of changed calls estimates `rate`;
- pair transforms (`SegmentMix`, `Mixup`, `mixes_patients = True`): the record is mixed with a
  same-label partner with probability `rate` (`fires`); the `Augmenter` draws the partner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING
from genofed.common.util.checks import require, require_choice, require_finite, require_int, require_positive

#: `CallNoise.model` values: see `CallNoise`.
NOISE_MODELS = ("adjacent", "uniform")


def check_rate(owner: str, rate: float) -> None:
    """ConfigError (a ValueError) unless `rate` is a finite probability."""
    number = not isinstance(rate, bool) and isinstance(rate, (int, float))
    require(number and 0.0 <= float(rate) <= 1.0, f"{owner} rate must be a number in [0, 1], got {rate!r}")


def _eligible(row: np.ndarray, protected: np.ndarray | None) -> np.ndarray:
    """Calls a transform may touch: called, and not protected (broadcast over the last axis)."""
    ok = row != MISSING
    if protected is not None:
        ok &= ~np.asarray(protected, dtype=bool)
    return ok


def _hits(row: np.ndarray, rate: float, rng: np.random.Generator, protected: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the eligible calls that fire. One uniform draw per position, eligible or
    not, so how much of the Generator a row consumes does not depend on its content."""
    return (rng.random(row.shape) < rate) & _eligible(row, protected)


@dataclass(frozen=True)
class CallNoise:
    """Genotyping error: each called genotype is miscalled with probability `rate`.

    model="adjacent" (default): to a NEIGHBOURING dosage: 0 -> 1, 2 -> 1, 1 -> 0 or 2 with
    probability 1/2 each. Why: real genotype errors are overwhelmingly one-allele errors. On
    arrays the AA, AB and BB clusters lie in that order along the allele-intensity axis, so a
    misclassified call falls into the neighbouring cluster; in sequencing, a heterozygote reads
    as homozygous when one allele is under-sampled (allelic dropout, low depth), and a
    homozygote reads as heterozygous after a few erroneous reads. Turning AA into BB needs both
    alleles wrong at once, which is rare.
    model="uniform": to either of the two other genotypes with probability 1/2 each, for
    comparison with the naive noise model.
    """

    rate: float
    model: str = "adjacent"

    key: ClassVar[str] = "noise"
    mixes_patients: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_rate("noise", self.rate)
        require_choice("noise model", self.model, NOISE_MODELS)

    def apply(
        self, row: np.ndarray, rng: np.random.Generator, protected: np.ndarray | None = None
    ) -> np.ndarray:
        """A copy of `row` (int8, MISSING allowed; a row or an (n, V) matrix) with miscalls."""
        out = np.array(row, dtype=DOSAGE_DTYPE, copy=True)
        if self.rate <= 0.0:
            return out
        hit = _hits(out, self.rate, rng, protected)
        old = out[hit]
        up = rng.random(old.shape) < 0.5  # the coin for the two-way choices
        if self.model == "adjacent":
            new = np.where(old == 1, np.where(up, 2, 0), 1)
        else:  # uniform over the two other genotypes: old + 1 or old + 2, modulo 3
            new = (old + np.where(up, 1, 2)) % 3
        out[hit] = new.astype(DOSAGE_DTYPE)
        return out


@dataclass(frozen=True)
class Mutation:
    """Artificial mutations: at each called site, with probability `rate`, one allele flips.

    A flip changes the dosage by exactly one: 0 -> 1 and 2 -> 1 (a homozygote has only one way
    to change by one allele), and a heterozygote GAINS an alt allele (1 -> 2) with probability p,
    the panel's alt-allele frequency, or LOSES it (1 -> 0) with probability 1 - p. So a
    heterozygote moves towards the genotype that is commoner in the population (for a rare
    variant, almost always back to reference), never into an implausible rare homozygote.
    Because every fired call changes, the share of changed calls is `rate` whatever p is, which
    makes `rate` mean the same thing at every variant.

    Known side effect (documented, not corrected): each fired reference homozygote gains a
    carrier, so at a variant of frequency p the carrier share rises by about rate * (1 - p)^2;
    for a very rare variant at rate 0.005 that is several times its real carrier share. That is
    what artificial mutation means (new, random carriers that the model must learn to discount),
    and it is why known-causal variants are protected unless `allow_causal`.
    """

    rate: float
    allow_causal: bool = False

    key: ClassVar[str] = "mutate"
    mixes_patients: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_rate("mutate", self.rate)
        require(
            isinstance(self.allow_causal, bool),
            f"mutate allow_causal must be true or false, got {self.allow_causal!r}",
        )

    def apply(
        self,
        row: np.ndarray,
        rng: np.random.Generator,
        alt_freq: np.ndarray,
        protected: np.ndarray | None = None,
    ) -> np.ndarray:
        """A copy of `row` (int8, MISSING allowed) with mutations; `alt_freq` is the panel's p."""
        out = np.array(row, dtype=DOSAGE_DTYPE, copy=True)
        if self.rate <= 0.0:
            return out
        hit = _hits(out, self.rate, rng, None if self.allow_causal else protected)
        p = np.broadcast_to(np.asarray(alt_freq, dtype=np.float64), out.shape)[hit]
        old = out[hit]
        gain = rng.random(old.shape) < p
        out[hit] = np.where(old == 1, np.where(gain, 2, 0), 1).astype(DOSAGE_DTYPE)
        return out


@dataclass(frozen=True)
class Missingness:
    """Missingness masking: each called genotype becomes MISSING with probability `rate`.

    Nothing is imputed here: a masked call is a real `MISSING`, and the normal feature encoding
    (`genofed.common.data.features`: a missing call encodes to 0, the expected dosage 2p) treats it
    exactly like a call the laboratory did not make.
    """

    rate: float

    key: ClassVar[str] = "missing"
    mixes_patients: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_rate("missing", self.rate)

    def apply(
        self, row: np.ndarray, rng: np.random.Generator, protected: np.ndarray | None = None
    ) -> np.ndarray:
        out = np.array(row, dtype=DOSAGE_DTYPE, copy=True)
        if self.rate <= 0.0:
            return out
        out[_hits(out, self.rate, rng, protected)] = MISSING
        return out


@dataclass(frozen=True)
class SegmentMix:
    """Recombination-style mixing with a same-label partner, along segments of the panel.

    The panel is cut into blocks of `segment` consecutive variants (panel order is genomic
    order, and blocks of consecutive variants are the project's proxy for LD blocks, as in the
    synthetic generators' `block_size`; there is no genetic map). Every boundary between two
    blocks is a crossover with probability 1/2, with at least one crossover forced, and the
    first block comes from either parent with probability 1/2; segments between crossovers are
    taken alternately from the two parents. So the result is made of whole blocks, each copied
    (MISSING calls included) from exactly one of two parents, and both parents contribute.
    Protected variants keep the record's own genotype (see the module docstring).
    A panel of at most `segment` variants has no crossover point: the record comes back as is.

    Mixing two patients into one example breaks DP-SGD's per-patient accounting (one example
    carries two people), hence `mixes_patients = True`: the trainer refuses it under DP.
    """

    rate: float
    segment: int = 20

    key: ClassVar[str] = "mix"
    mixes_patients: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_rate("mix", self.rate)
        require_int(
            "mix segment",
            self.segment,
            minimum=1,
            message=f"mix segment must be a whole number of variants >= 1, got {self.segment!r}",
        )

    def fires(self, rng: np.random.Generator) -> bool:
        return self.rate > 0.0 and bool(rng.random() < self.rate)

    def parent_of_blocks(self, n_variants: int, rng: np.random.Generator) -> np.ndarray:
        """(n_blocks,) bool: True where a block is taken from the partner."""
        n_blocks = math.ceil(n_variants / self.segment)
        if n_blocks < 2:
            return np.zeros(n_blocks, dtype=bool)
        cross = rng.random(n_blocks - 1) < 0.5
        if not cross.any():
            cross[rng.integers(n_blocks - 1)] = True
        start = bool(rng.random() < 0.5)
        switches = np.concatenate([[0], np.cumsum(cross)])
        return (switches % 2 == 1) ^ start

    def apply(
        self,
        row: np.ndarray,
        partner: np.ndarray,
        rng: np.random.Generator,
        protected: np.ndarray | None = None,
    ) -> np.ndarray:
        """The recombined row (int8); call only when `fires` said so."""
        row = np.asarray(row)
        partner = np.asarray(partner)
        if row.shape != partner.shape or row.ndim != 1:
            raise ValueError(
                f"SegmentMix needs two rows of the same length, got {row.shape} and {partner.shape}"
            )
        from_partner = np.repeat(self.parent_of_blocks(row.shape[0], rng), self.segment)[: row.shape[0]]
        if protected is not None:
            from_partner &= ~np.asarray(protected, dtype=bool)
        return np.where(from_partner, partner, row).astype(DOSAGE_DTYPE)


def float_dosages(row: np.ndarray) -> np.ndarray:
    """int8 dosages with MISSING -> float32 dosages with NaN for no call."""
    r = np.asarray(row)
    if r.dtype.kind == "f":
        return r.astype(np.float32, copy=True)
    return np.where(r == MISSING, np.nan, r).astype(np.float32)


@dataclass(frozen=True)
class Mixup:
    """Mixup-style interpolation of dosages with a same-label partner, for comparison.

    With probability `rate`: lam ~ Beta(alpha, alpha), folded to max(lam, 1 - lam) so the
    example stays closer to its own record than to the partner (the labels are equal, so the
    symmetric draw would add nothing), and the output is lam * x + (1 - lam) * x_partner.

    Output type: float32 dosages in [0, 2], NaN where no call. A call missing in ONE parent is
    first filled with its expected dosage 2p (`expected`, the same value the feature encoding
    gives a missing call), so mixing in dosage space and then encoding equals mixing the
    encoded features; missing in both parents stays NaN. Protected variants keep the record's
    own value. Like `SegmentMix`, one example carries two patients: `mixes_patients = True`.
    """

    rate: float
    alpha: float = 0.4

    key: ClassVar[str] = "mixup"
    mixes_patients: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_rate("mixup", self.rate)
        bad_alpha = f"mixup alpha must be a finite number > 0, got {self.alpha!r}"
        require_finite("mixup alpha", self.alpha, message=bad_alpha)
        require_positive("mixup alpha", self.alpha, message=bad_alpha)

    def fires(self, rng: np.random.Generator) -> bool:
        return self.rate > 0.0 and bool(rng.random() < self.rate)

    def apply(
        self,
        row: np.ndarray,
        partner: np.ndarray,
        rng: np.random.Generator,
        expected: np.ndarray,
        protected: np.ndarray | None = None,
    ) -> np.ndarray:
        """float32 mixed row; `row`/`partner` are int8 (MISSING) or float (NaN) dosages,
        `expected` the (V,) expected dosages 2p that fill a call missing in one parent."""
        x, y = float_dosages(row), float_dosages(partner)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"Mixup needs two rows of the same length, got {x.shape} and {y.shape}")
        lam = float(rng.beta(self.alpha, self.alpha))
        lam = max(lam, 1.0 - lam)
        fill = np.asarray(expected, dtype=np.float32)
        both_missing = np.isnan(x) & np.isnan(y)
        mixed = lam * np.where(np.isnan(x), fill, x) + (1.0 - lam) * np.where(np.isnan(y), fill, y)
        mixed = np.where(both_missing, np.nan, mixed)
        if protected is not None:
            mixed = np.where(np.asarray(protected, dtype=bool), x, mixed)
        return mixed.astype(np.float32)


#: The transform classes in their fixed order of application (see `AugmentSpec`).
TRANSFORM_ORDER = (SegmentMix, Mutation, CallNoise, Missingness, Mixup)

"""On-the-fly augmentation inside a site's training loop: `Augmenter`.

Built once per site over its TRAINING rows; every draw turns one real record into one augmented
example. Partners for mixing are drawn among the same site's training rows with the same label,
so no record of another site, or of the site's validation / test split, ever enters an example.
Everything is a function of the Generator's state: same state, same examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from genofed.common.augment.spec import AugmentSpec
from genofed.common.augment.transforms import (
    CallNoise,
    Missingness,
    Mixup,
    Mutation,
    SegmentMix,
    float_dosages,
)
from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING
from genofed.common.data.features import FREQ_CLIP, FeatureSpec, encode_dosage_rows
from genofed.common.errors import GenofedError


class Augmenter:
    """One site's augmentation of its training rows.

    Args:
        spec: the transforms (see `AugmentSpec` for their order of application).
        dosages: (n, V) int8 training dosages, `MISSING` for no call, in panel order.
        labels: (n,) labels (0/1); partners for mixing share the record's label.
        alt_freq: (V,) the PANEL's alt-allele frequencies (federation-wide, not the site's own):
            they weight `Mutation` and fill a call missing in one parent of `Mixup`.
        protected: (V,) bool, True at known-causal variants (see `protected_mask`); None = none.

    `augment_row` / `augment_rows` return dosages of `spec.output_dtype` (int8 with MISSING, or
    float32 with NaN when mixup is on); `augment_features` returns what the model eats: the
    dosage part of `genofed.common.data.features.encode` (d - 2p, a missing call 0) for either kind.
    """

    def __init__(
        self,
        spec: AugmentSpec,
        *,
        dosages: np.ndarray,
        labels: np.ndarray,
        alt_freq: np.ndarray,
        protected: np.ndarray | None = None,
    ) -> None:
        dosages, labels, freq, protected = _checked_inputs(dosages, labels, alt_freq, protected)
        self.spec = spec
        self.dosages = dosages
        self.labels = labels
        self.alt_freq = freq
        self.protected = protected
        #: expected dosage 2p with the encoding's clipped p: what a missing call encodes to
        self.expected = (2.0 * np.clip(freq, FREQ_CLIP, 1.0 - FREQ_CLIP)).astype(np.float32)
        self._encoding = FeatureSpec(freq, covariates=())
        # same-label pools, and each record's position in its pool (to exclude it when drawing)
        self._pool: dict[object, np.ndarray] = {}
        self._rank = np.empty(dosages.shape[0], dtype=np.intp)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            self._pool[label.item()] = members
            self._rank[members] = np.arange(len(members))

    @property
    def n_records(self) -> int:
        return self.dosages.shape[0]

    @property
    def mixes_patients(self) -> bool:
        return self.spec.mixes_patients

    def draw_partner(self, index: int, rng: np.random.Generator) -> int:
        """A uniformly drawn OTHER training record with the same label (itself if it is alone)."""
        pool = self._pool[self.labels[index].item()]
        if len(pool) < 2:
            return int(index)
        j = int(rng.integers(len(pool) - 1))
        return int(pool[j + 1] if j >= self._rank[index] else pool[j])

    def augment_row(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """One augmented example of record `index` (a new array; the training rows never change)."""
        index = int(index)
        if not 0 <= index < self.n_records:
            raise IndexError(f"record {index} is not in 0..{self.n_records - 1}")
        row = self.dosages[index].copy()
        mixup: Mixup | None = None
        for t in self.spec.transforms:
            if isinstance(t, SegmentMix):
                if t.fires(rng):
                    row = t.apply(row, self.dosages[self.draw_partner(index, rng)], rng, self.protected)
            elif isinstance(t, Mutation):
                row = t.apply(row, rng, self.alt_freq, self.protected)
            elif isinstance(t, (CallNoise, Missingness)):
                row = t.apply(row, rng, self.protected)
            elif isinstance(t, Mixup):
                mixup = t
        if self.spec.output_dtype != np.float32:
            return row
        if mixup is not None and mixup.fires(rng):
            return mixup.apply(
                row, self.dosages[self.draw_partner(index, rng)], rng, self.expected, self.protected
            )
        return float_dosages(row)

    def augment_rows(self, indices: Iterable[int], rng: np.random.Generator) -> np.ndarray:
        """(len(indices), V) augmented examples, drawn one record after the other."""
        rows = [self.augment_row(i, rng) for i in indices]
        if not rows:
            return np.empty((0, self.dosages.shape[1]), dtype=self.spec.output_dtype)
        return np.stack(rows)

    def augment_features(self, indices: Iterable[int], rng: np.random.Generator) -> np.ndarray:
        """(len(indices), V) float32 model input of augmented examples (the dosage columns of
        `features.encode`, via `features.encode_dosage_rows`: d - 2p, a missing call 0, i.e. the
        same imputation as real missing data; the caller appends the records' covariates)."""
        return encode_dosage_rows(self._encoding, self.augment_rows(indices, rng))


def _checked_inputs(
    dosages: np.ndarray, labels: np.ndarray, alt_freq: np.ndarray, protected: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The Augmenter's arrays, checked against each other (ValueError: a caller's bug, not a
    user's setting); an all-False `protected` mask becomes None."""
    dosages = np.asarray(dosages)
    if dosages.ndim != 2 or dosages.dtype != DOSAGE_DTYPE:
        raise ValueError(f"dosages must be an (n, V) int8 matrix, got {dosages.dtype} {dosages.shape}")
    if dosages.size and (dosages.min() < MISSING or dosages.max() > 2):
        raise ValueError("dosages must be MISSING, 0, 1 or 2")
    n, v = dosages.shape
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"{n} dosage rows but {labels.shape[0]} labels")
    freq = np.asarray(alt_freq, dtype=np.float64).reshape(-1)
    if freq.shape[0] != v or not np.all((freq >= 0.0) & (freq <= 1.0)):
        raise ValueError(f"alt_freq must be {v} frequencies in [0, 1], one per panel variant")
    if protected is not None:
        protected = np.asarray(protected)
        if protected.dtype != bool or protected.shape != (v,):
            raise ValueError(
                f"protected must be a ({v},) boolean mask, got {protected.dtype} {protected.shape}"
            )
        if not protected.any():
            protected = None
    return dosages, labels, freq, protected


def protected_mask(variant_ids: Sequence[str], known_causal: Iterable[str]) -> np.ndarray:
    """(V,) bool: True at the panel variants listed as known-causal.

    An id that is not in the panel is an error, not ignored: it is most likely a typo or another
    genome build, and ignoring it would leave the real causal variant unprotected.
    """
    position = {vid: i for i, vid in enumerate(variant_ids)}
    mask = np.zeros(len(variant_ids), dtype=bool)
    unknown = []
    for vid in known_causal:
        vid = str(vid).strip()
        if vid in position:
            mask[position[vid]] = True
        elif vid:
            unknown.append(vid)
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise GenofedError(
            f"known-causal variant(s) {', '.join(unknown[:3])}{more} are not in the panel "
            "(ids are chrom:pos:ref:alt in the panel's build)"
        )
    return mask

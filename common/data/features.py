"""Turn a panel-aligned cohort into the float32 matrix every site feeds the shared model.

Every site must encode identically, or one global model sees different inputs at different
hospitals. So the encoding depends only on federation-wide constants (`FeatureSpec`: the panel's
alt frequencies and fixed covariate scaling), never on a site's own statistics: a site's own
mean/sd would differ between a 150-patient clinic and a 2,000-patient centre, and would itself
leak (a little) about its patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genofed.common.data.cohort import MISSING, Cohort

#: Frequencies are clipped so a monomorphic panel variant does not divide by zero.
FREQ_CLIP = 1e-3
#: The most dosages `_encode_dosages` turns into lookup indices at once (2**22: 32 MiB of intp),
#: whatever the number of people and variants.
ENCODE_CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class FeatureSpec:
    """Federation-wide encoding constants.

    alt_freq: the panel's alt-allele frequencies, one per panel variant, in panel order.
    age_center/age_scale: fixed, not estimated per site (see module docstring).
    covariates: covariate columns appended after the dosages, in this order.
    """

    alt_freq: tuple[float, ...] | np.ndarray
    age_center: float = 50.0
    age_scale: float = 15.0
    covariates: tuple[str, ...] = ("sex", "age")
    _freq: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        freq = np.clip(np.asarray(self.alt_freq, dtype=np.float64), FREQ_CLIP, 1.0 - FREQ_CLIP)
        object.__setattr__(self, "_freq", freq)
        object.__setattr__(self, "covariates", tuple(self.covariates))

    @property
    def n_variants(self) -> int:
        return len(self._freq)

    @property
    def n_features(self) -> int:
        return self.n_variants + len(self.covariates)


def encode(spec: FeatureSpec, cohort: Cohort) -> np.ndarray:
    """(n, V + len(covariates)) float32: mean-centred dosages, then covariates in spec order.

    Dosage d of a variant with panel frequency p becomes d - 2p: centred, so a missing call (and
    a panel variant the site lacks) becomes 0, exactly the expected dosage `impute_dosages`
    fills in. Not divided by sqrt(2p(1-p)): that z-score turns one copy of a 0.2 % variant into
    ~16, so DP-SGD's per-patient clipping would crush precisely the rare carriers a rare-disease
    model must learn from (measured: mean-centred beat standardised with and without DP).
    """
    if cohort.n_variants != spec.n_variants:
        raise ValueError(
            f"cohort has {cohort.n_variants} variants but the panel has {spec.n_variants}: align the cohort "
            "to the panel first"
        )
    n, v = cohort.dosages.shape
    out = np.empty((n, spec.n_features), dtype=np.float32)
    _encode_dosages(cohort.dosages, spec._freq, out[:, :v])
    for j, name in enumerate(spec.covariates):
        out[:, v + j] = _encode_covariate(spec, name, _column(cohort.covariates, name, n))
    return out


def encode_dosage_rows(spec: FeatureSpec, dosages: np.ndarray) -> np.ndarray:
    """(n, V) float32 dosage features of rows that are not a whole cohort, e.g. records made by
    genotype augmentation: int rows with MISSING, or float rows (mixup's interpolated dosages) with
    NaN for missing. The same encoding as `encode`: d - 2p, missing -> 0."""
    d = np.asarray(dosages)
    if d.ndim != 2 or d.shape[1] != spec.n_variants:
        raise ValueError(f"dosage rows must be (n, {spec.n_variants}), got shape {d.shape}")
    if np.issubdtype(d.dtype, np.integer):
        out = np.empty(d.shape, dtype=np.float32)
        _encode_dosages(d, spec._freq, out)
        return out
    centred = (d - 2.0 * spec._freq).astype(np.float32)
    return np.where(np.isnan(d), np.float32(0.0), centred)


def _encode_dosages(
    dosages: np.ndarray, freq: np.ndarray, out: np.ndarray, chunk_entries: int = ENCODE_CHUNK_ENTRIES
) -> None:
    """Fill `out` in place by lookup into a (4, V) float32 table of encoded values.

    The dosage (MISSING, 0, 1, 2) + 1 picks the table row, so each entry is read and written
    once. The lookup indices are intp (8 bytes per dosage), so rows are processed in chunks of at
    most `chunk_entries` dosages: a fixed 256 rows made 1.3 GB temporaries at a whole array's
    636,000 variants (`bench/predict_memory.py`).
    """
    mean = 2.0 * freq
    table = np.stack([np.zeros_like(freq), -mean, 1.0 - mean, 2.0 - mean]).astype(np.float32)
    flat = table.ravel()
    offsets = np.arange(dosages.shape[1], dtype=np.intp)
    chunk_rows = max(1, chunk_entries // max(1, dosages.shape[1]))
    for start in range(0, dosages.shape[0], chunk_rows):
        block = dosages[start : start + chunk_rows]
        if block.size and (block.min() < MISSING or block.max() > 2):
            raise ValueError("dosages must be MISSING, 0, 1 or 2")
        index = block.astype(np.intp)  # one temporary, then in place
        index -= MISSING
        index *= len(freq)
        index += offsets
        np.take(flat, index, out=out[start : start + chunk_rows], mode="clip")  # validated above


def _column(frame: pd.DataFrame, name: str, n: int) -> np.ndarray:
    """A covariate column as float64 (matched case-insensitively); all-NaN if the site lacks it.

    Two columns that both match (`sex` and `Sex`, in a cohort built in code: the phenotype reader
    refuses such a file) are refused rather than one picked, since they may disagree."""
    matching = [c for c in frame.columns if str(c).lower() == name.lower()]
    if len(matching) > 1:
        raise ValueError(
            f"covariate columns {', '.join(repr(str(c)) for c in matching)} all name {name!r}: keep one"
        )
    if not matching:
        return np.full(n, np.nan)
    return pd.to_numeric(frame[matching[0]], errors="coerce").to_numpy(dtype=np.float64)


def unknown_covariates(spec: FeatureSpec) -> np.ndarray:
    """The encoded value of an unknown covariate, one per `spec.covariates` in order (sex 0.5, age
    the centre): what the model reads for a person without a phenotype row."""
    return np.array(
        [_encode_covariate(spec, name, np.array([np.nan]))[0] for name in spec.covariates], dtype=np.float32
    )


def _encode_covariate(spec: FeatureSpec, name: str, values: np.ndarray) -> np.ndarray:
    """sex: 0/1, unknown 0.5 (halfway, no claim either way); age: centred and scaled, unknown 0
    (= the centre); any other covariate: as is, unknown 0."""
    key = name.lower()
    if key == "sex":
        return np.where(np.isnan(values), 0.5, values)
    if key == "age":
        return np.where(np.isnan(values), 0.0, (values - spec.age_center) / spec.age_scale)
    return np.nan_to_num(values, nan=0.0)

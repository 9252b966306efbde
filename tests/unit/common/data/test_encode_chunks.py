"""`encode` in chunks of rows: the same features as the direct computation d - 2p (missing 0),
whatever the chunk, and index temporaries bounded by the chunk, not by the cohort's rows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.features import ENCODE_CHUNK_ENTRIES, FeatureSpec, _encode_dosages, encode


def _dosages(n: int, v: int, seed: int = 0) -> np.ndarray:
    """int8 dosages 0/1/2 with about 5 % missing calls."""
    rng = np.random.default_rng(seed)
    dosages = rng.integers(0, 3, (n, v), dtype=np.int8)
    dosages[rng.random((n, v)) < 0.05] = MISSING
    return dosages


def _direct(dosages: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """The encoding computed directly: dosage minus twice the frequency, a missing call 0."""
    centred = (dosages.astype(np.float64) - 2.0 * freq).astype(np.float32)
    return np.where(dosages == MISSING, np.float32(0.0), centred)


@pytest.mark.parametrize("chunk_entries", [1, 36, 37, 38, 111, 10**9])
def test_every_chunk_gives_the_direct_computation(chunk_entries):
    # 37 variants: chunks of 1 row (1, 36, 37), 1 row and a bit (38), 3 rows, all 23 rows at once
    dosages = _dosages(23, 37)
    spec = FeatureSpec(alt_freq=np.random.default_rng(1).uniform(0.0, 1.0, 37))  # some clipped
    out = np.full(dosages.shape, np.nan, dtype=np.float32)
    _encode_dosages(dosages, spec._freq, out, chunk_entries=chunk_entries)
    np.testing.assert_array_equal(out, _direct(dosages, spec._freq))


def test_encode_gives_the_direct_computation_and_the_covariates_after_it():
    dosages = _dosages(9, 50)
    spec = FeatureSpec(alt_freq=np.linspace(0.0, 1.0, 50))
    samples, variants = [f"s{i}" for i in range(9)], [f"v{j}" for j in range(50)]
    ages = np.arange(30.0, 75.0, 5.0)
    covariates = pd.DataFrame({"sex": [0, 1] * 4 + [np.nan], "age": ages}, index=samples)
    cohort = Cohort(dosages, samples, variants, np.zeros(9, dtype=np.int8), covariates)
    features = encode(spec, cohort)
    np.testing.assert_array_equal(features[:, :50], _direct(dosages, spec._freq))
    np.testing.assert_array_equal(features[:, 50], [0, 1] * 4 + [0.5])  # sex unknown: halfway
    np.testing.assert_allclose(features[:, 51], (ages - 50.0) / 15.0, rtol=1e-6)


def test_the_lookup_temporaries_are_one_chunk_not_256_rows():
    # 512 people x 40,000 variants: a fixed 256-row chunk made intp temporaries of 82 MB each (8 bytes
    # per dosage); at an array's 636,471 variants that was 1.3 GB each
    n, v = 512, 40_000
    assert n * v > 2 * ENCODE_CHUNK_ENTRIES  # several chunks
    dosages = _dosages(n, v)
    spec = FeatureSpec(alt_freq=np.full(v, 0.3))
    out = np.empty(dosages.shape, dtype=np.float32)
    tracemalloc.start()
    try:
        _encode_dosages(dosages, spec._freq, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a chunk's indices and the last chunk's (freed once the new ones exist), and the (4, V) table
    assert peak <= 2 * 8 * ENCODE_CHUNK_ENTRIES + 2**20

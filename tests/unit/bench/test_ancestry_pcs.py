"""bench/ancestry_pcs.py: the component columns it appends are the reference panel's principal
components of the genotype part only, of unit variance over the panel's people, after the
covariates; with none the rows are unchanged."""

from __future__ import annotations

import math
import sys

import numpy as np
from helpers import load_bench_script
from helpers.bench import BENCH

sys.path.insert(0, str(BENCH))  # bench/ancestry_pcs.py imports other bench scripts
ancestry_pcs = load_bench_script("ancestry_pcs")


def _components(reference: np.ndarray, k: int):
    _, singular, axes = np.linalg.svd(reference, full_matrices=False)
    return ancestry_pcs.Components(axes[:k], singular[:k] / math.sqrt(len(reference)))


def test_the_reference_panels_own_components_are_uncorrelated_with_unit_variance():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, 30)) @ rng.normal(size=(30, 30))  # correlated columns
    reference -= reference.mean(axis=0)
    projected = _components(reference, 4).project(reference, 4, n_variants=30)
    np.testing.assert_allclose(projected.T @ projected / len(reference), np.eye(4), atol=1e-9)


def test_components_are_appended_after_the_covariates_and_read_only_the_genotypes():
    rng = np.random.default_rng(1)
    components = _components(rng.normal(size=(50, 6)), 3)
    rows = rng.normal(size=(5, 8))  # 6 variants, then 2 covariates
    extended = ancestry_pcs.with_components(rows, components, 2, n_variants=6)
    assert extended.shape == (5, 10)
    np.testing.assert_array_equal(extended[:, :8], rows)
    other_covariates = rows.copy()
    other_covariates[:, 6:] += 5.0
    changed = ancestry_pcs.with_components(other_covariates, components, 2, n_variants=6)
    np.testing.assert_array_equal(changed[:, 8:], extended[:, 8:])


def test_no_components_leave_the_rows_as_they_are():
    rows = np.arange(12.0).reshape(3, 4)
    components = _components(np.random.default_rng(2).normal(size=(20, 3)), 2)
    np.testing.assert_array_equal(ancestry_pcs.with_components(rows, components, 0, n_variants=3), rows)

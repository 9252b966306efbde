"""bench/column_exponent.py and bench/batch_size.py, the studies behind two of the logistic rule's
choices: the exponent study changes only the weighting among the variants (the covariates keep the
share of each row's squared norm they were tuned at), and at the rule's settings both reproduce
the product's own scale and step plan, so one of their rows is the product."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import load_bench_script
from helpers.bench import BENCH

from genofed.common.data.panel import VariantPanel
from genofed.common.privacy.accountant import sample_rate, steps_per_epoch
from genofed.server.training_rule import (
    LOGISTIC_BATCH_SIZE,
    column_scale,
    covariate_scale,
    training_rule,
    variant_exponent,
    variant_variances,
)

sys.path.insert(0, str(BENCH))  # both import other bench scripts
column_exponent = load_bench_script("column_exponent")
batch_size = load_bench_script("batch_size")


def _panel(v: int = 400) -> VariantPanel:
    freq = np.random.default_rng(0).uniform(0.01, 0.5, v)
    return VariantPanel([f"1:{1000 + i}:A:G" for i in range(v)], freq)


@pytest.mark.parametrize("epsilon", [1.0, 3.0, 8.0])
def test_at_the_rules_exponent_the_scale_and_lr_are_the_products(epsilon):
    """Under DP on the whole panel the rule reads plain dosages (a = 0) with the covariates at the
    share they were tuned at with a = 2: the study's a = 0 row is the product, its a = 2 row the
    rule before."""
    panel = _panel()
    assert variant_exponent(panel, (), epsilon) == 0.0
    variances = variant_variances(panel)
    scale = column_exponent.matched_scale(variances, 0.0, covariate_scale(epsilon))
    np.testing.assert_allclose(scale, column_scale(panel, (), epsilon=epsilon), rtol=1e-6)
    assert np.all(scale[:-2] == 1.0) and scale[-1] > covariate_scale(epsilon)
    lr = 1.0 / column_exponent.row_norm(variances, 0.0)
    assert lr == pytest.approx(training_rule("logistic", panel, (), epsilon).lr, rel=1e-6)
    # on a sub-panel the rule keeps a = 2 and the covariates at 1, as the study's --gene-prior row
    selected = tuple(range(0, 400, 4))
    assert variant_exponent(panel, selected, epsilon) == column_exponent.REFERENCE_EXPONENT
    sub = column_exponent.matched_scale(variances[list(selected)], column_exponent.REFERENCE_EXPONENT, 1.0)
    np.testing.assert_allclose(sub, column_scale(panel, selected, epsilon=epsilon), rtol=1e-6)


@pytest.mark.parametrize("exponent", [-1.0, 0.0, 1.0])
def test_other_exponents_keep_the_covariates_share_of_a_rows_squared_norm(exponent):
    """Only the weighting among the variants changes: the covariates' squared scale against the
    expected squared norm of the variant part, X_a^2, is the rule's at every exponent."""
    variances = variant_variances(_panel())
    rule_c = 1.53
    share = {}
    for a in (exponent, column_exponent.REFERENCE_EXPONENT):
        scale = column_exponent.matched_scale(variances, a, rule_c)
        share[a] = scale[-1] ** 2 / column_exponent.row_norm(variances, a) ** 2
        # the variant part's expected squared norm is sum_j v_j * scale_j^2 = X_a^2
        assert np.sum(variances * scale[:-2] ** 2) == pytest.approx(
            column_exponent.row_norm(variances, a) ** 2
        )
    assert share[exponent] == pytest.approx(share[column_exponent.REFERENCE_EXPONENT])
    assert not np.allclose(
        column_exponent.matched_scale(variances, exponent, rule_c)[:-2],
        column_exponent.matched_scale(variances, column_exponent.REFERENCE_EXPONENT, rule_c)[:-2],
    )


def test_batch_sizes_give_each_site_the_rate_and_steps_opacus_would():
    for n in (32, 48, 97, 240):
        assert batch_size.site_batch(str(LOGISTIC_BATCH_SIZE), n) == LOGISTIC_BATCH_SIZE
        half = batch_size.site_batch(batch_size.HALF, n)
        assert sample_rate(n, half) == pytest.approx(0.5) and steps_per_epoch(n, half) == 2
    assert sample_rate(48, batch_size.site_batch("128", 48)) == 1.0  # at or above the site's size

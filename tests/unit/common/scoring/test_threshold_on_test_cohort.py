"""What the operating threshold does on real people (`held_out_figures_at`), recorded in a
federated model file beside its noisy validation figures, and how inspect-model words the
hospitals' noisy validation AUC (an outside audit read "noisy sensitivity 1.000" and "validation
AUC 1.000" where the test cohort gave 0.80 and the AUC's noise sd was 7.5)."""

from __future__ import annotations

import numpy as np
import pytest

from genofed.cli.inspect_model import _validation_auc_words
from genofed.common.scoring.operating import held_out_figures_at, held_out_figures_words


def test_the_figures_are_the_exact_rates_at_the_threshold_with_wilson_intervals():
    labels = np.array([1] * 10 + [0] * 20)
    risks = np.array([0.9] * 8 + [0.1] * 2 + [0.8] * 5 + [0.2] * 15)
    figures = held_out_figures_at(labels, risks, 0.5)
    assert figures is not None
    assert figures["sensitivity"] == pytest.approx(0.8) and figures["specificity"] == pytest.approx(0.75)
    assert (figures["cases"], figures["controls"]) == (10, 20)
    low, high = figures["sensitivity_interval"]
    assert 0.44 < low < 0.8 < high < 0.97  # Wilson's 95 % interval for 8 of 10: 0.49-0.94
    words = held_out_figures_words(figures)
    assert "10 cases, 20 controls, exact" in words and "sensitivity 0.800 (" in words
    assert "specificity 0.750 (" in words
    # and how much a flag changes a person's odds: LR+ = 0.8 / 0.25, the report's log-method interval
    from genofed.common.reporting.clinical import ThresholdMetrics
    from genofed.common.reporting.ratios import likelihood_ratios

    positive, _ = likelihood_ratios(ThresholdMetrics(0.5, 8, 5, 15, 2))
    assert positive.value == pytest.approx(3.2)
    assert words.endswith(
        f"LR+ {positive.cell()}: a flagged person's odds of the disease are 3.20 times those before the test"
    )


def test_a_cohort_without_a_class_gives_no_figures():
    assert held_out_figures_at(np.zeros(5), np.linspace(0, 1, 5), 0.5) is None


def test_a_noisy_validation_auc_is_shown_with_its_noise_or_as_uninformative():
    assert "uninformative at this privacy level (its noise sd 7.49)" in _validation_auc_words(
        {"auc": 1.0, "auc_noise_sd": 7.49}
    )
    # a run without DP: exact counts, no noise (it read "noisy ... 0.710-0.710 from the DP noise alone")
    exact = _validation_auc_words({"auc": 0.71, "auc_noise_sd": 0.0})
    assert exact == "hospitals' validation AUC 0.710 (exact counts: a run without DP)"
    words = _validation_auc_words({"auc": 0.71, "auc_noise_sd": 0.02})
    assert words.startswith("hospitals' noisy validation AUC 0.710 (0.671-0.749")
    assert _validation_auc_words({"auc": 0.71}) == "hospitals' noisy validation AUC 0.710"


def test_predicts_threshold_line_adds_the_test_cohorts_figures_when_the_file_has_them():
    from dataclasses import replace

    from helpers.model_files import model_file

    from genofed.common.scoring.threshold_words import model_threshold_detail

    model = model_file()
    assert "test cohort" not in model_threshold_detail(model)
    labels = np.array([1] * 10 + [0] * 20)
    risks = np.array([0.9] * 8 + [0.1] * 2 + [0.8] * 5 + [0.2] * 15)
    figures = held_out_figures_at(labels, risks, 0.5)
    recorded = replace(model, provenance={**model.provenance, "metrics": {"test_at_threshold": figures}})
    line = model_threshold_detail(recorded)
    assert line.startswith("the model's operating threshold (youden")
    assert line.endswith(f"); {held_out_figures_words(figures)}")

"""The operating threshold's sensitivity and specificity are read from the hospitals' noisy
validation counts; the model file records the noise sd of each, and `predict` prints them with it at
two decimals (a biostatistician's review: three decimals with nothing to say how far the DP noise
alone moves them, a clipped noisy sensitivity of 1.000 read as a certainty)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers.model_files import HISTOGRAM, model_file

from genofed.common.scoring.operating import _ratio_noise_sd, operating_point
from genofed.common.scoring.threshold_words import model_threshold_detail

COUNTS = np.array([[4, 9, 14, 12, 8, 5, 3, 2, 1, 0], [0, 1, 2, 3, 5, 7, 8, 6, 4, 2]], dtype=float)


def test_the_noise_sd_is_what_repeated_noise_draws_give_the_rate():
    noise, cut = 2.5, 5
    rng = np.random.default_rng(0)
    draws = COUNTS + rng.normal(0.0, noise, size=(20_000, *COUNTS.shape))
    # each bin's count noised, and the rate clipped into [0, 1], as operating_point reads it
    sensitivity = np.clip(draws[:, 1, cut:].sum(axis=1) / draws[:, 1].sum(axis=1), 0, 1)
    specificity = np.clip(draws[:, 0, :cut].sum(axis=1) / draws[:, 0].sum(axis=1), 0, 1)
    assert _ratio_noise_sd(COUNTS[1, cut:], COUNTS[1, :cut], noise) == pytest.approx(
        sensitivity.std(), rel=0.05
    )
    assert _ratio_noise_sd(COUNTS[0, :cut], COUNTS[0, cut:], noise) == pytest.approx(
        specificity.std(), rel=0.05
    )


def test_the_point_records_them_under_noise_only():
    exact = operating_point(COUNTS, round_=2)
    assert "sensitivity_noise_sd" not in exact and "specificity_noise_sd" not in exact
    noisy = operating_point(COUNTS, round_=2, noise_per_count=2.5)
    cut = round(noisy["threshold"] * noisy["bins"])
    added = ("sensitivity_noise_sd", "specificity_noise_sd", "chance_youden")
    assert {k: v for k, v in noisy.items() if k not in added} == exact
    assert 0 < noisy["chance_youden"] < noisy["youden_j"]
    assert noisy["sensitivity_noise_sd"] == pytest.approx(
        _ratio_noise_sd(COUNTS[1, cut:], COUNTS[1, :cut], 2.5)
    )
    assert noisy["specificity_noise_sd"] == pytest.approx(
        _ratio_noise_sd(COUNTS[0, :cut], COUNTS[0, cut:], 2.5)
    )


def test_predict_prints_a_noisy_rate_with_its_noise_sd_and_an_older_file_as_before():
    exact = model_file()
    # a DP file from before the noise was recorded: its risk distribution has no noise_per_count
    distribution = {k: v for k, v in exact.operating["risk_distribution"].items() if k != "noise_per_count"}
    distribution["source"] = "pooled validation histogram of the hospitals (both classes), counts as released"
    model = replace(exact, operating={**exact.operating, "risk_distribution": distribution})
    older = model_threshold_detail(model)
    point = model.operating["threshold"]
    assert f"noisy sensitivity {point['sensitivity']:.3f}, specificity {point['specificity']:.3f}" in older
    noisy = operating_point(HISTOGRAM, round_=3, noise_per_count=1.5)
    recorded = replace(model, operating={**model.operating, "threshold": noisy})
    line = model_threshold_detail(recorded)
    assert (
        f"noisy sensitivity {noisy['sensitivity']:.2f} (noise sd {noisy['sensitivity_noise_sd']:.2f}), "
        f"specificity {noisy['specificity']:.2f} (noise sd {noisy['specificity_noise_sd']:.2f})"
    ) in line


def test_a_run_without_dp_says_its_threshold_figures_are_exact():
    """A run without DP releases exact counts (its risk distribution records noise_per_count 0); its
    threshold's line said "noisy sensitivity" all the same. It now gives each rate with its Wilson
    interval on the counted patients, as a `genofed adapt` file's does."""
    model = model_file()
    assert model.operating["risk_distribution"]["noise_per_count"] == 0.0
    point = model.operating["threshold"]
    cases = round(point["validation_cases"])
    controls = round(point["validation_patients"]) - cases
    line = model_threshold_detail(model)
    assert "noisy" not in line and "noise sd" not in line and "about" not in line
    assert f"youden, sensitivity {point['sensitivity']:.3f} (" in line
    assert (
        f"on {cases + controls} validation patients ({cases} cases, {controls} controls, exact; 95 % " in line
    )


def test_a_dp_run_whose_records_show_no_noise_is_not_said_exact():
    """A DP run's release whose replies named no noise (`val-noise` absent counts as 0) records
    noise_per_count 0 as a run without DP does; its settings name a finite epsilon, so its
    threshold's figures stay noisy. A run without DP records epsilon "inf"."""
    model = model_file()
    dp = replace(model, provenance={**model.provenance, "settings": {"epsilon": 8.0}})
    line = model_threshold_detail(dp)
    assert "exact" not in line and "noisy sensitivity" in line and "on about" in line
    no_dp = replace(model, provenance={**model.provenance, "settings": {"epsilon": "inf"}})
    assert "exact; 95 % intervals" in model_threshold_detail(no_dp)

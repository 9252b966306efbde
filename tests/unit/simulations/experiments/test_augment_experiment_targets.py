"""The augmentation experiment's "more than one standard error" judgments: with one seed there is
no standard error, so the robustness target and a size's clear gain are not measurable (neither
met nor missed), and the report says so."""

from __future__ import annotations

import pytest

from genofed.simulations.experiments.augmentation import report
from genofed.simulations.experiments.augmentation.run import _clear, _robustness


def _gain(mean, sd, pairs, size=25):
    return {
        "arm": "mix",
        "size": size,
        "epsilon": "inf",
        "pairs": pairs,
        "auc_gain": mean,
        "auc_gain_sd": sd,
        "auc_err0.05_gain": mean,
        "auc_err0.05_gain_sd": sd,
    }


@pytest.mark.parametrize(("mean", "sd", "pairs"), [(0.5, None, 1), (0.5, 0.01, 1), (-0.5, None, 1)])
def test_no_standard_error_is_not_measurable(mean, sd, pairs):
    assert _clear(_gain(mean, sd, pairs)) is None


def test_with_seeds_a_gain_is_judged_against_the_floor_and_one_standard_error():
    assert _clear(_gain(0.05, 0.02, 4)) is True  # 0.05 > 0.02 / 2
    assert _clear(_gain(0.05, 0.2, 4)) is False  # within one standard error
    assert _clear(_gain(0.005, 0.0, 4)) is False  # below MIN_RELEVANT_GAIN
    assert _clear(_gain(None, None, 0)) is False


def test_robustness_with_one_seed_is_neither_met_nor_missed():
    best = _gain(0.001, None, 1)
    robust = _robustness([best], 25, best, "mix", 0.05)
    assert robust["met"] is None and robust["gain_sd"] is None
    text = "\n".join(
        report._targets(
            {
                "targets": {
                    "gain": {"size": 25, "best_arm": None},
                    "robustness": robust,
                    "privacy": {"met": None},
                }
            }
        )
    )
    assert "not measurable with one seed (needs 2 or more)" in text
    assert "**met**" not in text and "MISSED" not in text


def test_robustness_with_seeds_is_met_or_missed():
    best = _gain(0.03, 0.01, 3)
    assert _robustness([best], 25, best, "mix", 0.05)["met"] is True
    worse = _gain(-0.03, 0.01, 3)
    assert _robustness([worse], 25, worse, "mix", 0.05)["met"] is False


def test_the_vanishing_line_says_one_seed_is_not_measurable():
    results = {
        "vanishing": [
            {
                "arm": "mix",
                "epsilon": "inf",
                "gain_by_size": {25: 0.2},
                "sizes_with_clear_gain": [],
                "smallest_clear": None,
                "sizes_not_measurable": [25],
            }
        ]
    }
    line = report._vanishing(results)[-1]
    assert line.endswith("not measurable with one seed (needs 2 or more)")
    assert "no clear gain" not in line

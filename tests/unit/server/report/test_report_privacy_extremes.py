"""The privacy section at a huge epsilon, a synthetic generator's release in the release costs,
and the Hospitals table's noise-multiplier note under local and distributed DP."""

from __future__ import annotations

from typing import Any

import pytest

from genofed.common.privacy.accountant import epsilon_of
from genofed.server.report.hospital_terms import hospital_terms
from genofed.server.report.privacy import exp_words, privacy_section, vacuous_percent
from genofed.server.results import with_generator_release


def _results(epsilon: float, **extra: Any) -> dict[str, Any]:
    return {
        "epsilon": epsilon,
        "epsilon_budget": epsilon,
        "delta": 1e-5,
        "sites": {"a": {"epsilon": min(epsilon, 7.5), "noise_multiplier": 0.9, "train": 80}},
        "config": {"clip": 1.0},
        **extra,
    }


@pytest.mark.parametrize("epsilon", [1000.0, 1e308])
def test_privacy_section_copes_with_a_huge_epsilon(epsilon: float) -> None:
    text = privacy_section(_results(epsilon), plot_written=False)
    assert "more than 10^300 times as likely" in text
    assert "wrongly accuses more than 10^-300 % of non-participants" in text
    assert "more than less than" not in text
    assert "the guarantee is vacuous" in text


def test_ordinary_epsilons_keep_their_numbers() -> None:
    assert exp_words(8.0) == "2,981"
    assert vacuous_percent(8.0, 1e-5) == "0.0335 %"
    text = privacy_section(_results(8.0), plot_written=False)
    assert "e^8 = 2,981" in text and "vacuous" not in text


def test_generator_release_is_listed_and_composed() -> None:
    delta = 1e-5
    training, evaluation = [(0.97, 1 / 3, 6)], [(2.0, 1.0, 1)]
    generator = [(7.7, 1.0, 1), (18.4, 1 / 3, 600)]
    cost = {
        "training": epsilon_of(training, delta),
        "evaluation": epsilon_of(evaluation, delta),
        "run": epsilon_of(training + evaluation, delta),
        "rounds": 1,
        "evaluations": 1,
    }
    row = with_generator_release(cost, generator, training + evaluation, delta)
    assert row["generator"] == pytest.approx(epsilon_of(generator, delta))
    assert row["run"] == pytest.approx(epsilon_of(generator + training + evaluation, delta))
    assert row["run"] > cost["run"]
    assert with_generator_release(cost, [], training + evaluation, delta) == cost
    text = privacy_section(_results(8.0, release_costs={"a": row}), plot_written=False)
    assert "synthetic-data generator (trained under DP on its patients before the federation" in text
    assert f"composed, {row['run']:.2f}" in text


def test_noise_multiplier_note_in_both_modes() -> None:
    local = hospital_terms(_results(8.0))
    assert "how much random noise the hospital added to each training step" in local
    distributed = hospital_terms(_results(8.0, config={"clip": 1.0, "privacy": "distributed"}))
    assert "the hospital added to each training step" not in distributed
    assert "in the sum the coordinator sees" in distributed
    assert "divided by the square root of m" in distributed

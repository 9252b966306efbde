"""`epsilons_after_each`: the epsilon after every step of a history, from one running sum."""

from __future__ import annotations

import numpy as np

from genofed.common.privacy.accountant import epsilon_of, epsilons_after_each


def test_each_value_is_the_epsilon_of_its_prefix_exactly() -> None:
    rng = np.random.default_rng(0)
    history = [
        (float(rng.choice([0.8, 1.1, 2.0])), float(rng.choice([0.05, 0.3, 1.0])), int(rng.choice([0, 1, 10])))
        for _ in range(60)
    ]
    history[0] = (1.1, 0.3, 0)  # a charge of no step (a release declared public) before any
    expected = [epsilon_of(history[: i + 1], 1e-5) for i in range(len(history))]
    assert epsilons_after_each(history, 1e-5) == expected
    assert expected[0] == 0.0 and expected[-1] > expected[len(expected) // 2] > 0


def test_an_empty_history_has_no_epsilons() -> None:
    assert epsilons_after_each([], 1e-5) == []

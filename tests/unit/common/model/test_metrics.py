"""Binary metrics on cases small enough to compute by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genofed.common.model.metrics import binary_metrics, expected_calibration_error


def test_hand_computed_case() -> None:
    labels = [0, 0, 1, 1]
    probs = [0.1, 0.6, 0.4, 0.8]
    m = binary_metrics(labels, probs)
    # pairs (case, control): (0.4,0.1) ok, (0.4,0.6) wrong, (0.8,*) ok -> 3/4
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)  # predicted 0,1,0,1
    assert m["sensitivity"] == pytest.approx(0.5) and m["specificity"] == pytest.approx(0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.04) / 4)
    # bins: 0.1 -> [0.1,0.2) gap 0.1; 0.4 -> gap 0.6; 0.6 -> gap 0.6; 0.8 -> gap 0.2 ; each weight 1/4
    assert m["ece"] == pytest.approx((0.1 + 0.6 + 0.6 + 0.2) / 4)
    assert (m["n"], m["cases"], m["threshold"]) == (4, 2, 0.5)
    json.dumps(m)


def test_threshold_moves_sensitivity() -> None:
    m = binary_metrics([0, 1, 1], [0.2, 0.3, 0.9], threshold=0.25)
    assert m["sensitivity"] == 1.0 and m["specificity"] == 1.0 and m["accuracy"] == 1.0


def test_one_class_gives_no_auc() -> None:
    m = binary_metrics([1, 1], [0.7, 0.9])
    assert m["auc"] is None and m["specificity"] is None and m["sensitivity"] == 1.0
    json.dumps(m)


def test_ece_same_bin_and_perfect_calibration() -> None:
    # two predictions in one bin: |mean p - rate| = |0.55 - 0.5|
    assert expected_calibration_error(np.array([0, 1]), np.array([0.51, 0.59])) == pytest.approx(0.05)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == pytest.approx(0.0)

"""The transfer-learning experiment's setup, without running it: nested sites keep the clinics'
case share, the fine-tuning rule, and sites larger than a clinic refused before simulating. The
experiment itself runs in tests/e2e/experiments/test_transfer.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genofed.simulations.experiments.base import nested_order
from genofed.simulations.experiments.transfer import run as transfer_module
from genofed.simulations.experiments.transfer.run import TransferConfig, run_transfer_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[TransferConfig, dict]:
    config = TransferConfig.small(str(tmp_path_factory.mktemp("transfer") / "out"))
    return config, run_transfer_experiment(config)


@pytest.mark.parametrize("seed", [1, 2])
def test_nested_sites_keep_the_clinics_case_share(seed):
    labels = np.array([1] * 40 + [0] * 60)
    order = nested_order(labels, seed)
    assert sorted(order) == list(range(100))
    for size in (10, 25, 50, 80):
        assert abs(labels[order[:size]].sum() - 0.4 * size) <= 1
    assert not np.array_equal(nested_order(labels, 1), nested_order(labels, 2))


def test_finetune_rule_trains_less_under_dp():
    assert transfer_module.finetune_mode(math.inf) == "full"
    assert transfer_module.finetune_mode(3.0) == "frozen"


def test_sites_larger_than_a_clinic_are_refused_before_simulating(tmp_path, capsys):
    from genofed.cli.main import main

    assert main(["experiment", "transfer", "--small", "--sizes", "500", "--out", str(tmp_path / "x")]) == 2
    assert "larger than the smallest clinic" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

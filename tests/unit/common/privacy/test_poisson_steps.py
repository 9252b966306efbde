"""The DP-SGD steps a run takes, and the rate its accountant records, are the ones planned.

Plans use the rate 1 / k with k = ceil(rows / batch) (`accountant.sample_rate`). Opacus' sampler
ran int(1 / rate) batches, and for k = 93, 99, 105, ... the float 1 / (1 / k) is just below k: the
run took k - 1 steps per epoch and its accountant recorded the rate 1 / (k - 1), so the ledger's
charge differed from the plan (a reviewer: a synth run with a declared size of 3,700 charged
epsilon 3.004 against 3, then refused to write its batch; a federated site with about 2,960
declared training rows was exposed the same way).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import TensorDataset

from genofed.client.trainer import TrainSettings, train_model
from genofed.common.privacy.accountant import sample_rate, steps_per_epoch
from genofed.common.privacy.opacus_noise import poisson_steps, private_dp_sgd, secret_poisson_loader
from genofed.common.privacy.secret_noise import SecretNoise

#: k whose float 1 / (1 / k) is below k (int() of it is k - 1), and two whose is not
BROKEN_K = (93, 99, 105, 117)


@pytest.mark.parametrize("k", [*BROKEN_K, 2, 7])
def test_a_planned_rate_of_1_over_k_runs_k_batches(k):
    assert int(1 / (1.0 / k)) == (k - 1 if k in BROKEN_K else k)  # what Opacus' default ran
    loader = secret_poisson_loader(
        TensorDataset(torch.zeros(5, 1)), sample_rate=1.0 / k, noise=SecretNoise(1, "poisson sampling")
    )
    assert len(loader) == poisson_steps(1.0 / k) == k
    assert 1 / len(loader) == 1.0 / k  # the rate Opacus' engine reads back


def test_a_rate_that_is_no_reciprocal_keeps_opacus_count():
    assert poisson_steps(0.3) == 3 and poisson_steps(1.0) == 1


def test_private_dp_sgd_runs_the_planned_steps_at_a_broken_k():
    rows, batch = 2976, 32  # ceil(2976 / 32) = 93
    engine = PrivacyEngine(accountant="rdp")
    module = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    _, _, private_loader = private_dp_sgd(
        engine,
        module,
        optimizer,
        TensorDataset(torch.zeros(8, 2)),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        noise_key=3,
        rows=rows,
        batch_size=batch,
    )
    assert len(private_loader) == steps_per_epoch(rows, batch) == 93  # Opacus records 1 / len


class _Score(nn.Module):
    """A linear score per patient (the shape the site's models return)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


def test_federated_training_charges_the_planned_rate_and_steps_at_a_broken_k():
    """One epoch of the site's DP-SGD with 2,976 declared training rows: 93 steps at rate 1 / 93."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40).astype(np.float32)
    model = _Score()
    result = train_model(
        model, x, y, TrainSettings(epochs=1, batch_size=32), noise_multiplier=1.0, seed=5, public_rows=2976
    )
    assert result.history == [(1.0, sample_rate(2976, 32), steps_per_epoch(2976, 32))]
    assert result.history[0][1:] == (1 / 93, 93)

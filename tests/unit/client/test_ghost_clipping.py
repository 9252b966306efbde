"""Ghost clipping (client/ghost_clipping.py) computes what Opacus' per-example gradients compute:
the same per-example norms, and through the trainer the same clipped, noised update and the
same privacy history."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import genofed.client.trainer as trainer_module
from genofed.client.trainer import TrainSettings, train_model
from genofed.common.model.network import ModelConfig, build_model, set_trainable

# isort: off
from opacus import GradSampleModule
from opacus.grad_sample import GradSampleModuleFastGradientClipping
# isort: on

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook")

V = 45  # not a multiple of the block size: the last block is zero-padded
MODELS = {
    "network": (ModelConfig(n_variants=V, block_size=8, hidden_per_block=1, hidden=4), "full"),
    "network, 2 units per block": (
        ModelConfig(n_variants=V, block_size=8, hidden_per_block=2, hidden=4),
        "full",
    ),
    "network, encoder frozen": (ModelConfig(n_variants=V, block_size=8, hidden=4), "partial"),
    "network, linear path": (ModelConfig(n_variants=V, block_size=8, hidden=4, linear_path=True), "full"),
    "logistic": (ModelConfig(n_variants=V, architecture="logistic"), "full"),
    "logistic, sub-panel": (
        ModelConfig(n_variants=V, architecture="logistic", selected=(1, 4, 9, 30)),
        "full",
    ),
}


def _model(name: str) -> nn.Module:
    config, mode = MODELS[name]
    model = build_model(config, seed=2)
    if config.architecture == "logistic":  # a nonzero start and a column scale, as a trained model has
        with torch.no_grad():
            model.linear.weight.normal_(generator=torch.Generator().manual_seed(5))
            model.scale.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(6))
    set_trainable(model, mode)
    return model


def _data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, V + 2)) * rng.uniform(0.1, 3.0, size=(n, 1))  # examples of very different norms
    return torch.tensor(x, dtype=torch.float64), torch.tensor(rng.integers(0, 2, n), dtype=torch.float64)


@pytest.mark.parametrize("name", MODELS)
def test_ghost_norms_equal_the_norms_of_opacus_per_example_gradients(name: str) -> None:
    x, y = _data(16)
    reference = GradSampleModule(_model(name).double())
    nn.BCEWithLogitsLoss()(reference(x), y).backward()
    trained = [p for p in reference.parameters() if p.requires_grad]
    expected = torch.stack([p.grad_sample.reshape(len(x), -1).norm(dim=1) for p in trained]).norm(dim=0)

    ghost = GradSampleModuleFastGradientClipping(_model(name).double(), max_grad_norm=1.0)
    nn.BCEWithLogitsLoss()(ghost(x), y).backward()
    assert all(type(m) not in ghost.GRAD_SAMPLERS or type(m) in ghost.NORM_SAMPLERS for m in ghost.modules())
    torch.testing.assert_close(ghost.get_norm_sample(), expected, rtol=1e-10, atol=1e-12)
    assert expected.min() < 1.0 < expected.max()  # the clip at 1.0 bites for some examples only


class _HooksEngine(trainer_module.PrivacyEngine):
    """The trainer's engine on Opacus' per-example-gradient path ("hooks"), the reference."""

    def make_private(self, **kwargs):
        criterion = kwargs.pop("criterion")
        kwargs["grad_sample_mode"] = "hooks"
        module, optimizer, loader = super().make_private(**kwargs)
        return module, optimizer, criterion, loader


@pytest.mark.parametrize("noise", [0.0, 1.3])
@pytest.mark.parametrize("name", MODELS)
def test_the_trained_update_and_history_equal_opacus_per_example_path(
    name: str, noise: float, monkeypatch
) -> None:
    x, y = (t.float().numpy() for t in _data(60, seed=1))
    settings = TrainSettings(epochs=1, batch_size=16, max_grad_norm=0.5)
    ghost = train_model(_model(name), x, y, settings, noise_multiplier=noise, seed=7, public_rows=64)
    monkeypatch.setattr(trainer_module, "PrivacyEngine", _HooksEngine)
    hooks = train_model(_model(name), x, y, settings, noise_multiplier=noise, seed=7, public_rows=64)

    assert ghost.history == hooks.history and ghost.steps == hooks.steps and ghost.history
    assert ghost.mean_loss == pytest.approx(hooks.mean_loss, abs=1e-6)
    start = _model(name).state_dict()
    for key, value in hooks.state_dict.items():
        torch.testing.assert_close(ghost.state_dict[key], value, rtol=0, atol=1e-6, msg=key)
    moved = [k for k, v in hooks.state_dict.items() if not torch.equal(v, start[k])]
    assert moved  # a real update was compared, not two copies of the start


def test_the_trainer_clips_with_ghost_norms(monkeypatch) -> None:
    from opacus.optimizers import DPOptimizerFastGradientClipping

    seen = []

    class RecordingEngine(trainer_module.PrivacyEngine):
        def make_private(self, **kwargs):
            private = super().make_private(**kwargs)
            seen.append((kwargs["grad_sample_mode"], type(private[0]), type(private[1])))
            return private

    monkeypatch.setattr(trainer_module, "PrivacyEngine", RecordingEngine)
    x, y = (t.float().numpy() for t in _data(20))
    train_model(_model("network"), x, y, TrainSettings(batch_size=8), noise_multiplier=1.0, seed=0)
    assert seen == [("ghost", GradSampleModuleFastGradientClipping, DPOptimizerFastGradientClipping)]

"""Ghost clipping (client/ghost_clipping.py) computes what Opacus' per-example gradients compute:
the same per-example norms, in one backward pass the clipped sum Opacus' two ghost passes leave,
and through the trainer the same clipped, noised update and the same privacy history."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import genofed.client.trainer as trainer_module
from genofed.client.ghost_clipping import OneBackwardClipping, clipped_loss, supports
from genofed.client.trainer import TrainSettings, train_model
from genofed.common.model.network import ModelConfig, build_model, set_trainable

# isort: off
from opacus import GradSampleModule, PrivacyEngine
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


def _ghost(model: nn.Module, x: torch.Tensor, y: torch.Tensor, clip: float) -> tuple:
    """Opacus' ghost clipping as make_private sets it up: (model, optimizer, loss)."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=len(x))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    private = PrivacyEngine(accountant="rdp").make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        criterion=nn.BCEWithLogitsLoss(),
        noise_multiplier=0.0,
        max_grad_norm=clip,
        poisson_sampling=False,
        grad_sample_mode="ghost",
    )
    return private[0], private[1], private[2]


@pytest.mark.parametrize("name", MODELS)
def test_the_one_pass_clipped_sum_equals_opacus_two_ghost_passes(name: str) -> None:
    x, y = _data(16)
    clip = 1.0
    two_pass_model, _, two_pass_loss = _ghost(_model(name).double(), x, y, clip)
    two_pass_loss(two_pass_model(x), y).backward()  # Opacus' own: norms, then a second pass
    expected = {n: p.grad.clone() for n, p in two_pass_model._module.named_parameters() if p.requires_grad}
    norms = two_pass_model.get_norm_sample()
    assert norms.min() < clip < norms.max()  # the clip bites for some examples only
    two_pass_model.remove_hooks()

    one_pass_model, _, opacus_loss = _ghost(_model(name).double(), x, y, clip)
    with clipped_loss(one_pass_model, opacus_loss, clip) as loss_fn:
        assert isinstance(loss_fn, OneBackwardClipping)
        loss = loss_fn(one_pass_model(x), y)
        torch.testing.assert_close(loss.detach(), nn.BCEWithLogitsLoss()(one_pass_model(x), y))
        loss_fn(one_pass_model(x), y).backward()
    got = {n: p.grad for n, p in one_pass_model._module.named_parameters() if p.requires_grad}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-10, atol=1e-12, msg=key)
    frozen = [p.grad for p in one_pass_model._module.parameters() if not p.requires_grad]
    assert all(g is None for g in frozen)  # a frozen layer gets no gradient, so neither clip nor noise
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in one_pass_model.modules())


def test_an_empty_batch_gives_a_zero_clipped_sum() -> None:
    """An empty Poisson batch still steps (the trainer's `_run`): its clipped sum is zero."""
    model = _model("network").double()
    clipping = OneBackwardClipping(model, 1.0)
    x, y = _data(3)
    clipping(model(x[:0]), y[:0]).backward()
    for param in model.parameters():
        assert param.grad is not None and param.grad.shape == param.shape and not param.grad.any()


def test_other_layers_keep_opacus_two_passes() -> None:
    """A model with a trained layer the closed forms do not cover trains with Opacus' loss."""
    x, y = _data(8)
    model = nn.Sequential(nn.Linear(V + 2, 3), nn.LayerNorm(3), nn.Linear(3, 1), nn.Flatten(0)).double()
    assert not supports(model) and supports(_model("network"))
    private_model, _, opacus_loss = _ghost(model, x, y, 1.0)
    with clipped_loss(private_model, opacus_loss, 1.0) as loss_fn:
        assert loss_fn is opacus_loss
    with pytest.raises(ValueError, match="Linear"):
        OneBackwardClipping(model, 1.0)


def test_a_layer_run_twice_is_refused() -> None:
    """Tied weights: each call's norm is not the example's norm (Opacus' ghost refuses it too)."""
    layer = nn.Linear(4, 4).double()
    model = nn.Sequential(layer, nn.Tanh(), layer)
    clipping = OneBackwardClipping(model, 1.0)
    with pytest.raises(NotImplementedError, match="twice"):
        model(torch.ones(2, 4, dtype=torch.float64))
    clipping.remove()
    model(torch.ones(2, 4, dtype=torch.float64))  # no hook left


def test_the_trainer_takes_one_backward_pass_per_step(monkeypatch) -> None:
    calls = []
    original = OneBackwardClipping.backward
    counted = lambda self, loss: calls.append(original(self, loss))  # noqa: E731
    monkeypatch.setattr(OneBackwardClipping, "backward", counted)
    x, y = (t.float().numpy() for t in _data(40))
    model = _model("logistic")
    result = train_model(model, x, y, TrainSettings(batch_size=8), noise_multiplier=1.0, seed=0)
    assert len(calls) == result.steps > 0
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("input_norm", [1e4, 1e6, 4e6, 1e9])
@pytest.mark.parametrize("residual", [0.51, 0.6, 0.9])
def test_at_the_smallest_clip_a_site_accepts_no_example_passes_above_it(input_norm, residual):
    """A red-team audit (stop 64): with a clip so small that C / |g| fell below float32's smallest
    normal number (a large column scale makes |g| large), the factor and d x factor were rounded to
    multiples of 2^-149 and one control's "clipped" gradient had norm 3.8 C. At the clip's floor in
    TRAINING_LIMITS the factor stays a normal float32 for any finite norm, and the bound holds."""
    from genofed.common.training_limits import TRAINING_LIMITS

    clip = TRAINING_LIMITS["clip"][0]
    layer = nn.Linear(4, 1)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(float(np.log(residual / (1 - residual))))  # a control's d = p - 0 = residual
    x = torch.full((1, 4), input_norm / 2)
    clipping = OneBackwardClipping(layer, clip)
    layer.train()
    clipping(layer(x).squeeze(1), torch.zeros(1)).backward()
    clipping.remove()
    gradient = torch.cat([layer.weight.grad.reshape(-1), layer.bias.grad.reshape(-1)]).double()
    assert 0.99 * clip < float(gradient.norm()) <= clip * (1 + 1e-5)

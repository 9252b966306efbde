"""The risk network: shapes, padding, exact per-example gradients, and Opacus compatibility."""

from __future__ import annotations

import warnings

import pytest
import torch
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset

from genofed.common.model.network import (
    BlockLinear,
    GenotypeRiskNet,
    ModelConfig,
    block_linear_grad_sample,
    build_model,
)


def test_output_shape_and_padding() -> None:
    cfg = ModelConfig(n_variants=23, block_size=5, hidden_per_block=2, hidden=4)
    model = build_model(cfg, seed=0)
    assert model.blocks.n_blocks == 5 and model.blocks.weight.shape == (5, 5, 2)
    assert model(torch.randn(7, 25)).shape == (7,)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(7, 24))


def test_block_linear_equals_dense_block_diagonal() -> None:
    layer = BlockLinear(7, 3, 2)  # blocks of 3, 3 and 1 (+2 zero pads)
    x = torch.randn(4, 7)
    dense = torch.zeros(9, 6)
    for b in range(3):
        dense[3 * b : 3 * b + 3, 2 * b : 2 * b + 2] = layer.weight[b].detach()
    expected = torch.nn.functional.pad(x, (0, 2)) @ dense + layer.bias.detach().reshape(-1)
    torch.testing.assert_close(layer(x), expected)
    # the padded inputs get no gradient signal
    layer(x).sum().backward()
    assert torch.all(layer.weight.grad[2, 1:] == 0)


def test_build_model_is_deterministic_and_leaves_global_rng() -> None:
    cfg = ModelConfig(n_variants=30, block_size=4)
    state = torch.random.get_rng_state()
    a, b = build_model(cfg, 5), build_model(cfg, 5)
    assert torch.equal(state, torch.random.get_rng_state())
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=False):
        assert torch.equal(p, q), name
    assert not torch.equal(a.blocks.weight, build_model(cfg, 6).blocks.weight)


def test_config_round_trip() -> None:
    cfg = ModelConfig(n_variants=100, block_size=7, hidden_per_block=3, hidden=5, linear_path=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_block_linear_per_sample_grads_match_a_loop() -> None:
    torch.manual_seed(0)
    layer = BlockLinear(11, 4, 3)
    x = torch.randn(5, 11)
    upstream = torch.randn(5, 3 * layer.n_blocks)  # d loss / d output, per example
    fast = block_linear_grad_sample(layer, [x], upstream)
    for i in range(5):
        layer.zero_grad()
        (layer(x[i : i + 1]) * upstream[i : i + 1]).sum().backward()
        torch.testing.assert_close(fast[layer.weight][i], layer.weight.grad)
        torch.testing.assert_close(fast[layer.bias][i], layer.bias.grad)


def test_opacus_grad_samples_of_whole_model_match_a_loop() -> None:
    cfg = ModelConfig(n_variants=13, block_size=4, hidden_per_block=2, hidden=3)
    model = build_model(cfg, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")
        x, y = torch.randn(6, 15), torch.randint(0, 2, (6,)).float()
        loader = DataLoader(TensorDataset(x, y), batch_size=6)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        private, _, _ = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=False,
        )
        loss_fn = torch.nn.BCEWithLogitsLoss()  # mean: Opacus rescales backprops by the batch size
        loss_fn(private(x), y).backward()
    per_sample = {name: p.grad_sample.clone() for name, p in model.named_parameters()}
    private.remove_hooks()
    reference = build_model(cfg, 0)
    for i in range(6):
        reference.zero_grad()
        loss_fn(reference(x[i : i + 1]), y[i : i + 1]).backward()
        for name, p in reference.named_parameters():
            torch.testing.assert_close(per_sample[name][i], p.grad, msg=name)
    assert isinstance(private._module, GenotypeRiskNet)


def test_the_logistic_model_reads_its_selection_through_its_column_scale() -> None:
    config = ModelConfig(n_variants=6, n_covariates=2, architecture="logistic", selected=(1, 4))
    model = build_model(config, seed=0)
    assert sorted(model.state_dict()) == ["linear.bias", "linear.weight", "scale"]
    assert [name for name, _ in model.named_parameters()] == [
        "linear.weight",
        "linear.bias",
    ]  # scale: not trained
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
        model.scale.copy_(torch.tensor([0.5, 0.25, 1.0, 1.0]))
    x = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    expected = 0.5 * x[:, 1] + 2 * 0.25 * x[:, 4] + 3 * x[:, 6] + 4 * x[:, 7]
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model.variant_weights(), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(2, 7))
    with pytest.raises(ValueError, match="ascending"):
        ModelConfig(n_variants=6, architecture="logistic", selected=(4, 1))

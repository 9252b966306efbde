"""Public prior knowledge from a source model (`genofed.server.prior`): variant importance for a
logistic and a network source, the top-k selection and its union with forced variants, the
starting weights a federation's logistic model takes from the source, and the refusals (k out of
range, an index outside the panel, a model for another panel, a model of another selection).

Most source models here are built by hand (known weights, so the right answer is known); one is
pretrained on the session's small simulated source cohort, to show the ranking finds causal
variants in practice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import (
    PretrainedModel,
    PretrainedModelError,
    Task,
    save_pretrained,
)
from genofed.server.pretraining.train import PretrainSettings, pretrain
from genofed.server.prior import SourcePrior, source_prior, variant_importance
from genofed.server.settings import RunSettings

N_VARIANTS = 40
STRONG = 23  # the planted variant


@pytest.fixture
def panel() -> VariantPanel:
    freq = np.linspace(0.05, 0.5, N_VARIANTS)
    return VariantPanel([f"1:{1000 + i}:A:G" for i in range(N_VARIANTS)], freq)


def _logistic(
    panel: VariantPanel, weights: np.ndarray, *, n_outputs: int = 1, bias: float = -1.5
) -> PretrainedModel:
    """A logistic source model over the whole panel with the given (n_outputs, V + 2) weights."""
    config = ModelConfig(n_variants=len(panel), n_outputs=n_outputs, architecture="logistic")
    state = {
        "linear.weight": torch.as_tensor(weights, dtype=torch.float32).reshape(n_outputs, -1),
        "linear.bias": torch.full((n_outputs,), bias),
        "scale": torch.ones(len(panel) + 2),  # a pretrained logistic model's: no column scale
    }
    task = (
        Task("binary", "label")
        if n_outputs == 1
        else Task("multiclass", "group", ("a", "b", "c")[:n_outputs])
    )
    return PretrainedModel(state, config, panel, task, {"source": "hand-made"})


def _save(model: PretrainedModel, path: Path) -> Path:
    save_pretrained(path, model)
    return path


def _small_weights(rng: np.random.Generator, n_outputs: int = 1) -> np.ndarray:
    weights = rng.normal(0, 0.01, size=(n_outputs, N_VARIANTS + 2))
    weights[:, N_VARIANTS:] = [0.3, -0.2]  # covariates
    return weights


# --------------------------------------------------------------------------- importance


def test_a_logistic_sources_importance_is_its_weight_per_allele(panel) -> None:
    rng = np.random.default_rng(0)
    weights = _small_weights(rng)
    weights[0, STRONG] = 1.0
    importance = variant_importance(_logistic(panel, weights))

    np.testing.assert_allclose(importance, np.abs(weights[0, :N_VARIANTS]), rtol=1e-6)
    assert int(np.argmax(importance)) == STRONG


def test_a_networks_importance_weighs_an_effect_by_how_much_the_genotype_varies(panel) -> None:
    """The same weight on a rarer variant moves fewer people: for a network source (whose barely
    trained rare variants keep their random initial weights) it ranks lower."""
    config = ModelConfig(n_variants=N_VARIANTS, block_size=N_VARIANTS, hidden=4)
    net = build_model(config, seed=2)
    with torch.no_grad():
        net.blocks.weight.zero_()
        net.blocks.weight[0, 0, 0] = net.blocks.weight[0, N_VARIANTS - 1, 0] = 1.0  # freq 0.05, 0.5
    importance = variant_importance(PretrainedModel(net.state_dict(), config, panel, Task("binary", "label")))
    p = panel.alt_freq[[0, N_VARIANTS - 1]]
    assert importance[N_VARIANTS - 1] / importance[0] == pytest.approx(
        np.sqrt(p[1] * (1 - p[1]) / (p[0] * (1 - p[0])))
    )


def test_a_multiclass_sources_importance_is_the_norm_across_classes_centred(panel) -> None:
    weights = np.zeros((3, N_VARIANTS + 2))
    weights[:, 5] = 2.0  # moves every class alike: changes no prediction
    weights[0, STRONG], weights[1, STRONG] = 0.5, -0.5
    importance = variant_importance(_logistic(panel, weights, n_outputs=3))
    assert importance[5] == pytest.approx(0.0, abs=1e-9)
    assert int(np.argmax(importance)) == STRONG


def test_a_network_sources_importance_finds_its_planted_variant(panel) -> None:
    config = ModelConfig(n_variants=N_VARIANTS, block_size=10, hidden=8)
    net = build_model(config, seed=3)
    with torch.no_grad():
        net.blocks.weight.mul_(0.02)
        block, offset = divmod(STRONG, config.block_size)
        net.blocks.weight[block, offset, 0] = 2.0
    model = PretrainedModel(net.state_dict(), config, panel, Task("binary", "label"))
    importance = variant_importance(model)
    assert importance.shape == (N_VARIANTS,) and np.all(importance >= 0)
    assert int(np.argmax(importance)) == STRONG


def test_importance_matches_the_logits_finite_difference_for_a_network(panel) -> None:
    """The first-order rule is what it says: the logit's slope at the average genome x the SD."""
    config = ModelConfig(n_variants=N_VARIANTS, block_size=10, hidden=8)
    net = build_model(config, seed=4)
    model = PretrainedModel(net.state_dict(), config, panel, Task("binary", "label"))
    importance = variant_importance(model)
    x = torch.zeros(1, N_VARIANTS + 2, dtype=torch.float64)
    net = net.double().eval()
    h = 1e-6
    for j in (0, 17, 39):
        up, down = x.clone(), x.clone()
        up[0, j], down[0, j] = h, -h
        with torch.no_grad():
            slope = float((net(up) - net(down))[0]) / (2 * h)
        p = panel.alt_freq[j]
        assert importance[j] == pytest.approx(abs(slope) * np.sqrt(2 * p * (1 - p)), rel=1e-4)


# --------------------------------------------------------------------------- selection


def test_selection_is_the_top_k_sorted_with_ties_to_the_lower_index(tmp_path) -> None:
    panel = VariantPanel([f"1:{1000 + i}:A:G" for i in range(N_VARIANTS)], np.full(N_VARIANTS, 0.3))
    weights = np.full((1, N_VARIANTS + 2), 0.01)  # every variant equally important ...
    weights[0, [30, 4, 12]] = [3.0, -2.0, 1.0]  # ... but these three
    path = _save(_logistic(panel, weights), tmp_path / "source.pt")

    prior = source_prior(path, panel, 3)
    assert prior.selected == (4, 12, 30)
    np.testing.assert_allclose(prior.importance[[30, 4, 12]], [3.0, 2.0, 1.0], rtol=1e-6)
    # five: the three, then the two lowest indices among the tied rest
    assert source_prior(path, panel, 5).selected == (0, 1, 4, 12, 30)
    assert source_prior(path, panel, N_VARIANTS).selected == tuple(range(N_VARIANTS))


def test_include_is_added_to_the_top_k(panel, tmp_path) -> None:
    rng = np.random.default_rng(1)
    weights = _small_weights(rng)
    weights[0, STRONG] = 1.0
    path = _save(_logistic(panel, weights), tmp_path / "source.pt")
    top = source_prior(path, panel, 4)

    forced = [39, 0, STRONG, 0]  # duplicates and a variant already in the top k count once
    prior = source_prior(path, panel, 4, include=forced)
    assert prior.selected == tuple(sorted(set(top.selected) | {0, 39, STRONG}))
    assert list(prior.selected) == sorted(prior.selected)
    added = len(set(prior.selected) - set(top.selected))
    assert prior.description["added_by_include"] == added and prior.description["included"] == 3
    assert prior.description["k"] == 4 and prior.description["selected"] == len(prior.selected)


def test_the_description_names_the_source(panel, tmp_path) -> None:
    model = _logistic(panel, _small_weights(np.random.default_rng(2)))
    path = _save(model, tmp_path / "source.pt")
    prior = source_prior(path, panel, 10, expected_hash=model.content_hash[:16])
    assert prior.description["content_hash"] == model.content_hash
    assert prior.description["source"] == "hand-made"
    assert prior.description["architecture"] == "logistic"
    json.dumps(prior.description)  # recordable as it is


# --------------------------------------------------------------------------- starting weights


def test_start_weights_put_the_source_weights_at_the_selected_positions(panel, tmp_path) -> None:
    """With the source's weights outside the selection zero, the federation's model started from
    the prior computes the source's logit exactly, on full-panel input."""
    rng = np.random.default_rng(3)
    weights = np.zeros((1, N_VARIANTS + 2))
    chosen = [2, 9, STRONG, 31]
    weights[0, chosen] = rng.normal(0, 1, size=len(chosen))
    weights[0, N_VARIANTS:] = [0.4, -0.3]
    source = _logistic(panel, weights, bias=-2.0)
    prior = source_prior(_save(source, tmp_path / "source.pt"), panel, len(chosen))
    assert prior.selected == tuple(chosen)

    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=prior.selected)
    target = build_model(config, seed=0)
    target.load_state_dict(prior.start_weights(config))
    x = torch.randn(16, N_VARIANTS + 2)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source.build()(x))
    assert target.linear.weight.shape == (1, len(chosen) + 2)
    assert float(target.linear.bias.detach()) == pytest.approx(-2.0)


def test_start_weights_from_a_source_that_reads_a_selection_itself(panel, tmp_path) -> None:
    """A source that reads a sub-panel: its weights are placed by panel index, not by column."""
    source_selection = (1, 5, STRONG, 36)
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=source_selection)
    state = {
        "linear.weight": torch.tensor([[0.1, 0.2, 0.9, 0.3, 0.5, -0.5]]),
        "linear.bias": torch.tensor([-1.0]),
        "scale": torch.ones(6),
    }
    source = PretrainedModel(state, config, panel, Task("binary", "label"))
    prior = source_prior(_save(source, tmp_path / "source.pt"), panel, 2)
    assert prior.selected == (STRONG, 36)  # weights 0.9 and 0.3 against 0.2 and 0.1
    assert prior.importance[[0, 2, 39]].tolist() == [0.0, 0.0, 0.0]  # not read by the source

    target_config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=prior.selected)
    start = prior.start_weights(target_config)
    by_index = dict(zip(source_selection, state["linear.weight"][0, :4].tolist(), strict=True))
    expected = [by_index[i] for i in prior.selected] + [0.5, -0.5]
    torch.testing.assert_close(start["linear.weight"][0], torch.tensor(expected))


def test_start_weights_are_fresh_for_a_network_target_or_source(panel, tmp_path) -> None:
    rng = np.random.default_rng(4)
    logistic = source_prior(_save(_logistic(panel, _small_weights(rng)), tmp_path / "log.pt"), panel, 8)
    network_config = ModelConfig(n_variants=N_VARIANTS, block_size=10, selected=logistic.selected)
    start = logistic.start_weights(network_config, seed=7)
    fresh = build_model(network_config, seed=7).state_dict()
    assert set(start) == set(fresh) and all(torch.equal(start[k], fresh[k]) for k in fresh)
    assert not logistic.gives_weights(network_config)
    assert logistic.start_text(network_config).startswith("fresh weights") and "trains a network" in (
        logistic.start_text(network_config)
    )

    net_config = ModelConfig(n_variants=N_VARIANTS, block_size=10)
    net_source = PretrainedModel(
        build_model(net_config, 1).state_dict(), net_config, panel, Task("binary", "label")
    )
    from_net = source_prior(_save(net_source, tmp_path / "net.pt"), panel, 8)
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=from_net.selected)
    assert "the source is a network" in from_net.start_text(config) and not from_net.gives_weights(config)
    start = from_net.start_weights(config)
    assert all(float(start[k].abs().sum()) == 0.0 for k in ("linear.weight", "linear.bias"))


def test_a_multiclass_source_offers_its_selection_and_a_zero_start(panel, tmp_path) -> None:
    weights = _small_weights(np.random.default_rng(5), n_outputs=3)
    weights[0, STRONG] = 1.0
    prior = source_prior(_save(_logistic(panel, weights, n_outputs=3), tmp_path / "mc.pt"), panel, 5)
    assert STRONG in prior.selected
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=prior.selected)
    assert "multi-class" in prior.start_text(config) and not prior.gives_weights(config)
    start = prior.start_weights(config)
    assert start["linear.weight"].shape == (1, 7) and float(start["linear.weight"].abs().sum()) == 0.0


def test_start_weights_refuse_a_model_of_another_selection(panel, tmp_path) -> None:
    prior = source_prior(
        _save(_logistic(panel, _small_weights(np.random.default_rng(6))), tmp_path / "s.pt"), panel, 5
    )
    for config in (
        ModelConfig(n_variants=N_VARIANTS, architecture="logistic"),
        ModelConfig(n_variants=N_VARIANTS, architecture="logistic", selected=prior.selected[:-1]),
    ):
        with pytest.raises(ValueError, match="not this prior's selection"):
            prior.start_weights(config)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("k", [-3, N_VARIANTS + 1])
def test_k_outside_the_panel_is_refused_with_the_panels_size(panel, tmp_path, k) -> None:
    path = _save(_logistic(panel, _small_weights(np.random.default_rng(7))), tmp_path / "s.pt")
    with pytest.raises(ConfigError, match=f"panel's size \\({N_VARIANTS} variants\\), or 0 for all, got {k}"):
        source_prior(path, panel, k)


def test_k_zero_the_default_selects_every_variant(panel, tmp_path) -> None:
    path = _save(_logistic(panel, _small_weights(np.random.default_rng(7))), tmp_path / "s.pt")
    prior = source_prior(path, panel, RunSettings().prior_variants)
    assert RunSettings().prior_variants == 0
    assert prior.selected == tuple(range(N_VARIANTS)) and prior.description["k"] == N_VARIANTS


def test_an_included_index_outside_the_panel_is_refused(panel, tmp_path) -> None:
    path = _save(_logistic(panel, _small_weights(np.random.default_rng(8))), tmp_path / "s.pt")
    with pytest.raises(ConfigError, match="index 40 to include is outside the panel"):
        source_prior(path, panel, 3, include=[1, 40])


def test_a_source_for_another_panel_or_hash_is_refused(panel, tmp_path) -> None:
    path = _save(_logistic(panel, _small_weights(np.random.default_rng(9))), tmp_path / "s.pt")
    shifted = VariantPanel(panel.variant_ids, np.clip(panel.alt_freq + 0.01, 0, 1))
    with pytest.raises(PretrainedModelError, match="other allele frequencies"):
        source_prior(path, shifted, 3)
    shorter = VariantPanel(panel.variant_ids[:30], panel.alt_freq[:30])
    with pytest.raises(PretrainedModelError, match="panel of 40 variants"):
        source_prior(path, shorter, 3)
    with pytest.raises(PretrainedModelError, match="not the approved"):
        source_prior(path, panel, 3, expected_hash="0" * 16)
    with pytest.raises(PretrainedModelError, match="not found"):
        source_prior(tmp_path / "missing.pt", panel, 3)


# --------------------------------------------------------------------------- on a trained source


def test_a_pretrained_logistic_source_ranks_causal_variants_high(simulated_cohorts, tmp_path) -> None:
    """On the small simulated source of a related trait, the top 100 of 480 variants hold well over
    their share (21 %) of that trait's causal variants."""
    fed = simulated_cohorts(5, with_sources=True)
    source = fed / "sources" / "near"
    model, _ = pretrain(source, fed / "panel.tsv", tmp_path / "near.pt", PretrainSettings(model="logistic"))
    panel = VariantPanel.load(fed / "panel.tsv")
    prior = source_prior(tmp_path / "near.pt", panel, 100)
    assert isinstance(prior, SourcePrior) and len(prior.selected) == 100
    causal = {v["id"] for v in json.loads((source / "truth.json").read_text())["model"]["causal_variants"]}
    found = sum(panel.variant_ids[i] in causal for i in prior.selected)
    assert found / len(causal & set(panel.variant_ids)) > 1.5 * 100 / len(panel)


def test_k_above_the_variants_the_source_reads_is_refused(panel, tmp_path) -> None:
    """Variants of importance 0 would be padded in by index and reported as the source's top K."""
    weights = _small_weights(np.random.default_rng(11))
    weights[0, :30] = 0.0  # the source gives 10 variants an importance
    path = _save(_logistic(panel, weights), tmp_path / "s.pt")
    assert len(source_prior(path, panel, 10).selected) == 10
    with pytest.raises(ConfigError, match="only 10 variants an importance"):
        source_prior(path, panel, 11)
    assert len(source_prior(path, panel, 0).selected) == N_VARIANTS  # 0: the whole panel, as documented


def test_a_federated_model_is_not_a_public_prior(panel, tmp_path) -> None:
    model = _logistic(panel, _small_weights(np.random.default_rng(12)))
    federated = PretrainedModel(
        model.state_dict, model.model_config, model.panel, model.task, {"kind": "federated", "epsilon": 7.97}
    )
    with pytest.raises(ConfigError, match="federated model .* not a public source.* --pretrained"):
        source_prior(_save(federated, tmp_path / "fed.pt"), panel, 5)


def test_a_start_from_a_federated_model_names_its_earlier_spend(panel, tmp_path) -> None:
    """--pretrained may continue a federation's own model; what its hospitals spent on it is in no
    ledger of the new run, so results, report and the new model file say it."""
    from genofed.cli.inspect_model import _start_lines
    from genofed.common.scoring.model_file import describe
    from genofed.server.report.facts import _start_text
    from genofed.server.results import _started_from

    model = _logistic(panel, _small_weights(np.random.default_rng(13)))
    spent = {"rostov": 7.94, "elista": 7.97}
    federated = PretrainedModel(
        model.state_dict, model.model_config, model.panel, model.task, {"kind": "federated", "epsilon": spent}
    )
    described = describe(federated)
    assert described["kind"] == "federated" and described["epsilon"] == spent
    assert describe(model)["epsilon"] is None  # a public source's provenance has no spend to carry
    assert "epsilon up to 7.97 per hospital" in _start_text({"pretrained": described})
    # a hospital by the same name in the new run: the two spends, composed
    again = _start_text({"pretrained": described, "epsilon": {"rostov": 3.01, "taganrog": 2.9}})
    assert "the epsilons add, and so do the two runs' deltas: rostov 7.94 + 3.01 = 10.95)" in again
    assert "elista" not in again.split("deltas:")[1] and "taganrog" not in again
    assert "spent epsilon" not in _start_text({"pretrained": describe(model)})
    (line,) = _start_lines(_started_from(described))
    assert line.startswith(f"started from model {federated.content_hash[:12]}") and "up to 7.97" in line


def test_a_prior_that_gives_neither_weights_nor_a_narrower_panel_is_refused(panel, tmp_path) -> None:
    """A network source at --prior-variants 0 (the default) selects every variant and gives a run
    no weights: an audit's run trained from scratch on the whole panel, labelled as using a prior."""
    from genofed.server.start_model import start_model

    net_config = ModelConfig(n_variants=N_VARIANTS, block_size=10)
    net_source = PretrainedModel(
        build_model(net_config, 1).state_dict(), net_config, panel, Task("binary", "label")
    )
    path = _save(net_source, tmp_path / "net.pt")
    with pytest.raises(ConfigError, match="would change nothing.*--prior-variants K"):
        start_model(RunSettings(data_dir=str(tmp_path), prior=str(path)), panel)
    narrowed = start_model(RunSettings(data_dir=str(tmp_path), prior=str(path), prior_variants=8), panel)
    assert len(narrowed.config.selected) == 8  # a selection of its own: a prior that does something
    logistic = _save(_logistic(panel, _small_weights(np.random.default_rng(5))), tmp_path / "log.pt")
    whole = start_model(RunSettings(data_dir=str(tmp_path), prior=str(logistic)), panel)
    assert whole.prior is not None  # all of a logistic source: its weights are the start

"""The training rule: settings left at 0 are filled from public facts only, and explicit ones win."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.layout import GENE_LIST, PANEL
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.model.network import DEFAULT_ARCHITECTURE, ModelConfig
from genofed.server import settings as settings_module
from genofed.server.federation import train_config
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.server.training_rule import (
    NETWORK_RULE,
    distributed_step,
    expected_row_norm,
    resolve_settings,
    training_rule,
)


@pytest.fixture(scope="module")
def fed(simulated_cohorts):
    return simulated_cohorts(5)


@pytest.fixture(scope="module")
def panel(fed) -> VariantPanel:
    return VariantPanel.load(fed / PANEL)


def test_the_settings_default_model_mirrors_the_model_package():
    assert settings_module.DEFAULT_MODEL == DEFAULT_ARCHITECTURE


def test_the_network_rule_is_the_network_s_measured_defaults(panel):
    resolved = resolve_settings(RunSettings(model="network"), panel)
    assert (resolved.rounds, resolved.local_epochs, resolved.batch_size) == (10, 2, 32)
    assert (resolved.lr, resolved.clip, resolved.momentum) == (0.05, 1.0, 0.9)
    assert training_rule("network", panel) == NETWORK_RULE
    # the experiment id of a network run is what it was before the model choice existed
    before = RunSettings(model="network", rounds=10, local_epochs=2, batch_size=32, lr=0.05, clip=1.0)
    assert resolved.experiment_id() == resolve_settings(before, panel).experiment_id()


def test_the_logistic_rule_scales_the_step_by_the_public_row_norm(panel):
    resolved = resolve_settings(RunSettings(), panel)
    assert resolved.model == DEFAULT_ARCHITECTURE == "logistic" and resolved.by_rule == ()
    freq = np.clip(panel.alt_freq, FREQ_CLIP, 1 - FREQ_CLIP)
    assert expected_row_norm(panel) == pytest.approx(
        math.sqrt(float(np.sum(2 * freq * (1 - freq)))), rel=1e-3
    )
    # a sub-panel has a smaller row norm, so a larger step: the rule reads the selection
    assert training_rule("logistic", panel, (0, 1, 2)).lr > resolved.lr


def test_explicit_settings_win_over_the_rule_and_resolving_is_idempotent(panel):
    mine = RunSettings(model="logistic", lr=0.5, rounds=3, momentum=0.0)
    resolved = resolve_settings(mine, panel)
    assert (resolved.lr, resolved.rounds, resolved.momentum) == (0.5, 3, 0.0)
    assert resolve_settings(resolved, panel) == resolved


def test_rule_settings_refuse_negative_values_with_the_rule_named():
    with pytest.raises(ConfigError, match="0 = the model's rule"):
        RunSettings(lr=-1)
    with pytest.raises(ConfigError, match="momentum must be in"):
        RunSettings(momentum=1.5)


def test_settings_that_contradict_the_model_choice_are_refused():
    with pytest.raises(ConfigError, match="needs secagg"):
        RunSettings(privacy="distributed")
    with pytest.raises(ConfigError, match="finite epsilon"):
        RunSettings(privacy="distributed", secagg=True, epsilon=math.inf)
    with pytest.raises(ConfigError, match="one layer"):
        RunSettings(model="logistic", finetune="partial", pretrained="x.pt")
    with pytest.raises(ConfigError, match="not both"):
        RunSettings(prior="a.pt", pretrained="b.pt")


def test_a_fresh_logistic_start_is_zero_and_reads_the_whole_panel(fed, panel):
    begin = start_model(RunSettings(data_dir=str(fed)), panel)
    assert begin.config == ModelConfig(n_variants=len(panel), architecture="logistic")
    assert not torch.any(begin.weights["linear.weight"]) and not torch.any(begin.weights["linear.bias"])
    assert begin.prior is None
    # the rule's column scale: each variant's Hardy-Weinberg variance, the covariates as they are
    freq = np.clip(panel.alt_freq, FREQ_CLIP, 1 - FREQ_CLIP)
    expected = np.concatenate([2 * freq * (1 - freq), [1.0, 1.0]])
    np.testing.assert_allclose(begin.weights["scale"].numpy(), expected, rtol=1e-6)
    assert begin.settings.lr == pytest.approx(1 / math.sqrt(float(np.sum((2 * freq * (1 - freq)) ** 3))))


def test_a_gene_prior_restricts_the_model_to_the_variants_in_the_genes(fed, panel):
    begin = start_model(RunSettings(data_dir=str(fed), gene_prior=str(fed / GENE_LIST)), panel)
    selected = begin.config.selected
    assert 0 < len(selected) < len(panel) and list(selected) == sorted(set(selected))
    assert begin.prior == {
        "gene_list": {"file": str(fed / GENE_LIST), "variants": len(selected)},
        "variants": len(selected),
    }
    assert begin.settings.lr == training_rule("logistic", panel, selected).lr
    assert begin.weights["linear.weight"].shape == (1, len(selected) + 2)


def test_a_distributed_round_steps_along_the_sum_only_from_a_start_with_weights():
    """The coordinator asks for the "sum" step when the run starts from a model's weights, and the
    train config every site receives says so; from scratch and under local DP nothing changes."""
    distributed = {"secagg": True, "privacy": "distributed", "epsilon": 3.0}
    cases = {
        RunSettings(**distributed): "mean",
        RunSettings(**distributed, prior="source.pt"): "sum",
        RunSettings(**distributed, pretrained="pretrained.pt"): "sum",
        RunSettings(prior="source.pt"): "",
    }
    for settings, step in cases.items():
        assert distributed_step(settings) == step
        config = train_config(settings, "plan", "{}")
        assert config.get("distributed-step") == ("sum" if step == "sum" else None)


def test_a_gene_list_with_all_of_a_sources_variants_is_refused_as_restricting_nothing():
    with pytest.raises(ConfigError, match="the gene list would restrict nothing"):
        RunSettings(prior="source.pt", gene_prior="genes.bed")
    assert RunSettings(prior="source.pt", gene_prior="genes.bed", prior_variants=1000).prior_variants == 1000

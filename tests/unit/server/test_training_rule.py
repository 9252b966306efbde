"""The training rule: settings left at 0 are filled from public facts only, and explicit ones win."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.layout import GENE_LIST, PANEL
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.model.network import DEFAULT_ARCHITECTURE, ModelConfig, build_model
from genofed.server import settings as settings_module
from genofed.server.federation import train_config
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.server.training_rule import (
    NETWORK_RULE,
    column_scale,
    covariate_scale,
    distributed_step,
    expected_row_norm,
    resolve_settings,
    step_share,
    training_rule,
    variant_exponent,
)


def _variances(panel: VariantPanel) -> np.ndarray:
    freq = np.clip(panel.alt_freq, FREQ_CLIP, 1 - FREQ_CLIP)
    return 2 * freq * (1 - freq)


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
    # the rule's column scale under DP (epsilon 8 by default) on the whole panel: plain dosages,
    # the covariates at the covariate scale times X_0 / X_2 (the share it was tuned at with v_j)
    v = _variances(panel)
    x0, x2 = math.sqrt(float(np.sum(v))), math.sqrt(float(np.sum(v**3)))
    expected = np.concatenate([np.ones(len(panel)), [math.sqrt(1 + 12 / 64) * x0 / x2] * 2])
    np.testing.assert_allclose(begin.weights["scale"].numpy(), expected, rtol=1e-5)
    assert begin.settings.lr == pytest.approx(1 / x0)


def test_the_covariates_scale_grows_with_the_noise_and_is_one_without_dp(fed, panel):
    assert covariate_scale(math.inf) == 1.0
    assert covariate_scale(1.0) == pytest.approx(math.sqrt(13))
    values = [covariate_scale(eps) for eps in (0.5, 1, 2, 3, 8, 100)]
    assert values == sorted(values, reverse=True) and values[-1] > 1
    with pytest.raises(ValueError, match="epsilon"):
        covariate_scale(0.0)
    no_dp = start_model(RunSettings(data_dir=str(fed), epsilon=math.inf), panel)
    np.testing.assert_array_equal(no_dp.weights["scale"].numpy()[-2:], [1.0, 1.0])
    strict = start_model(RunSettings(data_dir=str(fed), epsilon=1.0), panel)
    loose = start_model(RunSettings(data_dir=str(fed), epsilon=8.0), panel)
    share = strict.weights["scale"][-1] / loose.weights["scale"][-1]
    assert float(share) == pytest.approx(covariate_scale(1.0) / covariate_scale(8.0), rel=1e-6)
    # under DP only the covariates move with epsilon: the variants' scale and the learning rate
    # are the same at every epsilon (plain dosages); without DP the variants take v_j
    np.testing.assert_array_equal(strict.weights["scale"][:-2], loose.weights["scale"][:-2])
    assert strict.settings.lr == loose.settings.lr < no_dp.settings.lr  # X_0 > X_2
    assert float(no_dp.weights["scale"][:-2].max()) <= 0.5 < float(strict.weights["scale"][:-2].min())


def test_the_rule_reads_plain_dosages_only_under_dp_on_the_whole_panel(panel):
    assert variant_exponent(panel, (), 3.0) == 0.0
    assert variant_exponent(panel, tuple(range(len(panel))), 3.0) == 0.0  # a selection of all
    assert variant_exponent(panel, (), math.inf) == 2.0
    assert variant_exponent(panel, (0, 1, 2), 3.0) == 2.0
    # a start from a model's weights keeps a = 2 (its step share was chosen there; not studied)
    assert variant_exponent(panel, (), 3.0, from_scratch=False) == 2.0
    np.testing.assert_array_equal(
        column_scale(panel, (), 2, 3.0, from_scratch=False)[:-2], column_scale(panel)[:-2]
    )
    assert column_scale(panel, (), 2, 3.0, from_scratch=False)[-1] == pytest.approx(covariate_scale(3.0))
    # X_a: the expected norm of a row scaled by v_j^(a/2)
    v = _variances(panel)
    assert expected_row_norm(panel, exponent=2.0) == pytest.approx(math.sqrt(float(np.sum(v**3))), rel=1e-6)
    assert training_rule("logistic", panel, (), 3.0).lr == pytest.approx(1 / expected_row_norm(panel))
    assert training_rule("logistic", panel).lr == pytest.approx(1 / expected_row_norm(panel, exponent=2.0))


def test_a_start_with_weights_scores_the_same_under_any_covariate_scale(panel):
    """A source prior's or pretrained model's covariate weights are divided by the scale they now
    meet, so the round-0 model computes the same score at every epsilon."""
    from genofed.common.model.logistic import LogisticRiskModel
    from genofed.server.start_model import _scaled

    rng = np.random.default_rng(0)
    model = LogisticRiskModel(len(panel), 2)
    weights = {
        k: torch.as_tensor(rng.normal(size=tuple(v.shape)), dtype=torch.float32)
        for k, v in model.state_dict().items()
    }
    weights["scale"] = torch.ones(len(panel) + 2)  # as in a pretrained file
    x = torch.as_tensor(rng.normal(size=(5, len(panel) + 2)), dtype=torch.float32)
    scores = []
    for eps in (math.inf, 3.0, 1.0):
        model.load_state_dict(_scaled(weights, column_scale(panel, (), 2, eps)))
        scores.append(model(x).detach())
    torch.testing.assert_close(scores[1], scores[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores[2], scores[0], rtol=1e-4, atol=1e-4)


def test_a_prior_that_offers_no_weights_trains_as_from_scratch_and_says_so(fed, panel, tmp_path):
    """A network source gives a logistic model its selection only: the run starts from zeros, so
    its rule is the from-scratch one (the lr of a gene list reading the same variants), and the
    results say fresh weights (the report quotes them)."""
    from genofed.common.scoring.model_file import PretrainedModel, Task, save_pretrained
    from genofed.server.report.facts import _prior_text

    config = ModelConfig(n_variants=len(panel), block_size=10)
    source = PretrainedModel(build_model(config, 1).state_dict(), config, panel, Task("binary", "label"))
    save_pretrained(tmp_path / "net.pt", source)
    begin = start_model(
        RunSettings(data_dir=str(fed), prior=str(tmp_path / "net.pt"), prior_variants=8, epsilon=1.0), panel
    )
    assert not begin.prior["from_weights"] and not torch.any(begin.weights["linear.weight"])
    assert begin.prior["source"]["start"].startswith("fresh weights")
    assert begin.settings.lr == pytest.approx(training_rule("logistic", panel, begin.config.selected, 1.0).lr)
    text = _prior_text(begin.prior)
    assert "fresh weights" in text and "started from its weights" not in text


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
    # a sub-panel already leaves the covariates a large share of the clipping budget: no scale-up
    strict = start_model(RunSettings(data_dir=str(fed), gene_prior=str(fed / GENE_LIST), epsilon=1.0), panel)
    np.testing.assert_array_equal(strict.weights["scale"].numpy()[-2:], [1.0, 1.0])
    everything = tuple(range(len(panel)))  # a source prior that keeps all variants reads the whole panel
    np.testing.assert_array_equal(column_scale(panel, everything, 2, 1.0), column_scale(panel, (), 2, 1.0))


def test_a_distributed_round_steps_along_the_sum_from_a_start_with_weights_or_for_the_network():
    """The coordinator asks for the "sum" step when the run starts from a model's weights or
    trains the network, and the train config every site receives says so; the logistic model
    from scratch steps along the mean, and under local DP nothing changes."""
    distributed = {"secagg": True, "privacy": "distributed", "epsilon": 3.0}
    cases = {
        RunSettings(**distributed): "mean",
        RunSettings(**distributed, model="logistic"): "mean",
        RunSettings(**distributed, model="network"): "sum",
        RunSettings(**distributed, prior="source.pt"): "sum",
        RunSettings(**distributed, pretrained="pretrained.pt"): "sum",
        RunSettings(prior="source.pt"): "",
        RunSettings(model="network"): "",
    }
    for settings, step in cases.items():
        assert distributed_step(settings) == step
        config = train_config(settings, "plan", "{}")
        assert config.get("distributed-step") == ("sum" if step == "sum" else None)


def test_a_source_prior_that_gives_only_its_selection_steps_as_a_run_from_scratch():
    """A network or multi-class source gives a logistic run its selection, not its weights: round 0
    is fresh, so the distributed step is the mean, as from scratch (it was the sum, read off the
    settings' --prior alone)."""
    from genofed.server.start_model import StartModel

    settings = RunSettings(secagg=True, privacy="distributed", epsilon=3.0, model="logistic", prior="net.pt")
    selection_only = StartModel(settings, None, {}, prior={"from_weights": False})  # type: ignore[arg-type]
    weights = StartModel(settings, None, {}, prior={"from_weights": True})  # type: ignore[arg-type]
    pretrained = StartModel(settings, None, {}, pretrained={"content_hash": "x"})  # type: ignore[arg-type]
    assert [m.from_weights for m in (selection_only, weights, pretrained)] == [False, True, True]
    assert distributed_step(settings, from_weights=False) == "mean"
    assert train_config(settings, "plan", "{}", from_weights=False).get("distributed-step") is None
    assert train_config(settings, "plan", "{}", from_weights=True).get("distributed-step") == "sum"


def test_a_start_with_weights_steps_less_under_local_dp_the_more_noise_its_epsilon_implies(panel):
    """lr x epsilon^2 / (epsilon^2 + 3) for a logistic run that starts from a model's weights
    under local DP; from scratch, under distributed DP, for the network and for an lr the user
    set, the rule's lr as it was."""
    assert [round(step_share(e), 3) for e in (1.0, 3.0, 8.0)] == [0.25, 0.75, 0.955]
    assert step_share(math.inf) == 1.0
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        step_share(0.0)
    for epsilon in (1.0, 3.0, 8.0, math.inf):
        full = training_rule("logistic", panel, (), epsilon, from_scratch=False).lr  # a = 2 from a start
        for start in ({"prior": "source.pt"}, {"pretrained": "pretrained.pt"}):
            resolved = resolve_settings(RunSettings(model="logistic", epsilon=epsilon, **start), panel)
            assert resolved.lr == pytest.approx(full * step_share(epsilon))
            assert resolve_settings(resolved, panel) == resolved  # applied once
        scratch = training_rule("logistic", panel, (), epsilon).lr
        assert resolve_settings(RunSettings(model="logistic", epsilon=epsilon), panel).lr == scratch
    distributed = RunSettings(epsilon=1.0, prior="source.pt", secagg=True, privacy="distributed")
    start_lr = training_rule("logistic", panel, (), 1.0, from_scratch=False).lr
    assert resolve_settings(distributed, panel).lr == start_lr
    assert resolve_settings(RunSettings(model="network", epsilon=1.0, pretrained="p.pt"), panel).lr == 0.05
    assert resolve_settings(RunSettings(epsilon=1.0, prior="source.pt", lr=0.3), panel).lr == 0.3


def test_the_network_under_distributed_dp_takes_the_step_share(panel):
    """Its server step moves as far as a local round with momentum (client.distributed_round),
    the longest and so the noisiest step: lr 0.05 x the share; under local DP, without DP and with
    an lr the user set, as it was."""
    for epsilon in (1.0, 3.0, 8.0):
        distributed = RunSettings(model="network", epsilon=epsilon, secagg=True, privacy="distributed")
        assert resolve_settings(distributed, panel).lr == pytest.approx(0.05 * step_share(epsilon))
        assert resolve_settings(replace(distributed, lr=0.2), panel).lr == 0.2
        assert resolve_settings(RunSettings(model="network", epsilon=epsilon), panel).lr == 0.05
    assert resolve_settings(RunSettings(model="network"), panel).lr == 0.05


def test_a_gene_list_with_all_of_a_sources_variants_is_refused_as_restricting_nothing():
    with pytest.raises(ConfigError, match="the gene list would restrict nothing"):
        RunSettings(prior="source.pt", gene_prior="genes.bed")
    assert RunSettings(prior="source.pt", gene_prior="genes.bed", prior_variants=1000).prior_variants == 1000

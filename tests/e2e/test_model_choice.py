"""The model choice end to end on Flower's simulation engine (small preset): the default logistic
model with its rule, a gene-list prior and a source-model prior, as `genofed simulate` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from genofed.common.data.layout import GENE_LIST, PANEL
from genofed.common.data.panel import VariantPanel
from genofed.server.pretraining.settings import PretrainSettings
from genofed.server.pretraining.train import pretrain
from genofed.server.settings import RunSettings
from genofed.server.training_rule import training_rule
from genofed.simulations.local.simulate import simulate


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(5, with_sources=True)


def _run(federation: Path, out: Path, **settings) -> dict:
    base = dict(data_dir=str(federation), out_dir=str(out), epsilon=3.0, seed=5, quiet=True)
    return simulate(RunSettings(**{**base, **settings}), references=False)


def test_the_default_is_the_logistic_model_trained_by_its_rule(federation, tmp_path):
    results = _run(federation, tmp_path / "default")
    panel = VariantPanel.load(federation / PANEL)
    rule = training_rule("logistic", panel, (), 3.0)  # the run's epsilon decides the column exponent
    assert results["model"]["architecture"] == "logistic" and "selected" not in results["model"]
    assert results["model"]["parameters"] == len(panel) + 3  # a weight per variant, sex, age; a bias
    config = results["config"]
    assert (config["model"], config["lr"], config["rounds"]) == ("logistic", rule.lr, rule.rounds)
    assert all(0 < eps <= 3.0 + 1e-6 for eps in results["epsilon"].values())
    assert 0.0 <= results["test_auc"] <= 1.0


def test_a_gene_prior_and_a_source_prior_choose_the_variants_the_model_reads(federation, tmp_path):
    source = tmp_path / "near.pt"
    pretrain(
        federation / "sources" / "near",
        federation / PANEL,
        source,
        PretrainSettings(model="logistic", seed=5),
    )
    genes = _run(federation, tmp_path / "genes", gene_prior=str(federation / GENE_LIST))
    selected = genes["model"]["selected"]
    assert genes["prior"]["gene_list"]["variants"] == len(selected) > 0
    both = _run(
        federation,
        tmp_path / "both",
        prior=str(source),
        prior_variants=50,
        gene_prior=str(federation / GENE_LIST),
    )
    assert set(selected) <= set(both["model"]["selected"])  # the genes' variants, then the prior's top ones
    assert len(both["model"]["selected"]) <= len(selected) + 50
    assert (
        both["prior"]["source"]["content_hash"]
        and "public prior" in (tmp_path / "both" / "report.md").read_text()
    )

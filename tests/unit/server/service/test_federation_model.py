"""`coordinator init` with public priors (server/service/federation_model.py): the prior files are
checked as a run checks them, copied with their SHA-256, and model.json describes the model the
coordinator will send, with the digest the hospitals' ClientApp computes for it; a bad prior
leaves no folder; `coordinator start` and the ServerApp's run config refuse a changed copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genofed.client.agent.keys import init_site
from genofed.client.agent.model_pin import whole_panel
from genofed.client.coordinator_request import architecture_digest
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError, GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.scoring.model_file import PretrainedModel, Task, save_pretrained
from genofed.common.util.hashing import file_sha256
from genofed.server.service.enrollment import enroll
from genofed.server.service.federation_folder import (
    deployed_run_config,
    init_federation,
    read_federation_file,
)
from genofed.server.service.launch import ServiceOptions, start_coordinator
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model

K = 5


@pytest.fixture(scope="module")
def cohorts(simulated_cohorts) -> Path:
    return simulated_cohorts(11)


def _source(panel_file: Path, path: Path, seed: int = 0) -> Path:
    """A logistic source model of a related trait on `panel_file`, random weights (a public prior)."""
    panel = VariantPanel.load(panel_file)
    config = ModelConfig(n_variants=len(panel), architecture="logistic")
    weights = np.random.default_rng(seed).normal(0.0, 0.5, (1, len(panel) + 2))
    state = {
        "linear.weight": torch.as_tensor(weights, dtype=torch.float32),
        "linear.bias": torch.zeros(1),
        "scale": torch.ones(len(panel) + 2),
    }
    save_pretrained(path, PretrainedModel(state, config, panel, Task("binary", "label"), {"source": "test"}))
    return path


def _init(tmp_path: Path, cohorts: Path, **settings) -> Path:
    fed = tmp_path / "fed"
    init_federation(
        fed,
        ["localhost"],
        panel=cohorts / "panel.tsv",
        settings={"rounds": 2, "min_nodes": 1, **settings},
        digest=architecture_digest,
    )
    return fed


def test_init_copies_the_priors_and_model_json_is_what_the_coordinator_sends(tmp_path, cohorts):
    source = _source(cohorts / "panel.tsv", tmp_path / "near.pt")
    genes = cohorts / "known_genes.bed"
    fed = _init(tmp_path, cohorts, prior=str(source), prior_variants=K, gene_prior=str(genes))

    priors = read_federation_file(fed)["priors"]
    assert priors["source"]["file"] == "priors/near.pt" and priors["source"]["k"] == K
    assert priors["gene_list"]["file"] == "priors/known_genes.bed"
    for role, original in (("source", source), ("gene_list", genes)):
        copy = fed / priors[role]["file"]
        assert copy.read_bytes() == original.read_bytes()
        assert priors[role]["sha256"] == file_sha256(original)
    # the run uses the copies, and starts from exactly the model model.json describes
    run_config = deployed_run_config(fed)
    assert run_config["prior"] == str(fed / "priors" / "near.pt")
    assert run_config["gene-prior"] == str(fed / "priors" / "known_genes.bed")
    panel = VariantPanel.load(fed / "panel.tsv")
    begin = start_model(RunSettings.from_config(run_config), panel)
    model = json.loads((fed / "model.json").read_text())
    assert model["model_config"] == begin.config.to_dict()
    assert model["digest"] == architecture_digest(begin.config.to_dict())  # what the ClientApp computes
    selected = begin.config.selected
    gene_variants = priors["gene_list"]["variants"]
    assert gene_variants > 0 and max(K, gene_variants) <= len(selected) <= K + gene_variants < len(panel)
    assert model["reads"] == len(selected) and model["architecture"] == "logistic"
    assert model["selected_ids"] == [panel.variant_ids[i] for i in selected]
    assert model["panel"]["sha256"] == file_sha256(fed / "panel.tsv")
    assert model["priors"]["source"]["sha256"] == priors["source"]["sha256"]
    assert "source" not in model["priors"]["source"]  # the coordinator's own paths stay in federation.json


def test_without_priors_model_json_is_the_whole_panel_a_hospital_pins_by_default(tmp_path, cohorts):
    fed = _init(tmp_path, cohorts)
    model = json.loads((fed / "model.json").read_text())
    assert read_federation_file(fed)["priors"] == {} and model["selected_ids"] == []
    assert model["reads"] == len(VariantPanel.load(cohorts / "panel.tsv"))
    assert model["digest"] == whole_panel(cohorts / "panel.tsv", "logistic").digest
    assert "prior" not in deployed_run_config(fed)


@pytest.mark.parametrize("bad", ["gene-list", "missing", "other-panel", "k"])
def test_a_bad_prior_is_refused_naming_it_and_nothing_is_written(tmp_path, cohorts, bad):
    if bad == "gene-list":
        path = tmp_path / "genes.bed"
        path.write_text("1\tx\t100\n")
        settings, named = {"gene_prior": str(path)}, "genes.bed, line 1"
    elif bad == "missing":
        settings, named = {"gene_prior": str(tmp_path / "nope.bed")}, "nope.bed"
    elif bad == "other-panel":
        small = tmp_path / "small_panel.tsv"
        panel = VariantPanel.load(cohorts / "panel.tsv")
        VariantPanel(panel.variant_ids[:20], panel.alt_freq[:20]).save(small)
        settings, named = {"prior": str(_source(small, tmp_path / "other.pt"))}, "other.pt"
    else:
        source = _source(cohorts / "panel.tsv", tmp_path / "near.pt")
        settings, named = {"prior": str(source), "prior_variants": 10**6}, "prior-variants"
    with pytest.raises(GenofedError, match=named):
        _init(tmp_path, cohorts, **settings)
    assert not (tmp_path / "fed").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fed")]  # no staging debris


def test_start_refuses_a_prior_copy_changed_since_init(tmp_path, cohorts):
    fed = _init(tmp_path, cohorts, gene_prior=str(cohorts / "known_genes.bed"))
    init_site(tmp_path / "site", "rostov")
    enroll(fed, "rostov", tmp_path / "site" / "supernode.pub", declared_size=100)
    copy = fed / "priors" / "known_genes.bed"
    copy.write_text(copy.read_text() + "1\t1\t2\textra\n")
    with pytest.raises(DataError, match="known_genes.bed: changed since `coordinator init`"):
        deployed_run_config(fed)  # what the ServerApp reads
    with pytest.raises(DataError, match="changed since `coordinator init`"):
        start_coordinator(fed, ServiceOptions(nginx=str(tmp_path / "no-nginx")))  # before anything runs
    assert not (fed / "superlink.log").exists()
    copy.unlink()
    with pytest.raises(DataError, match="missing"):
        deployed_run_config(fed)

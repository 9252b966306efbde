"""What `genofed hospital check` fixes in the hospital's own configuration, and that the ClientApp
holds the coordinator to it: the declared cohort size, the model architecture, the evaluation cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import node_config
from genofed.client.app import make_client_app
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _checked(tmp_path: Path, cohorts: Path, **options) -> tuple[Path, dict]:
    site = tmp_path / "site"
    init_site(site, "rostov")
    data = hospital_folders(cohorts)[0]
    bound = check_site(
        site,
        data.genotypes,
        data.phenotypes,
        cohorts / "panel.tsv",
        ledger_index=tmp_path / "home" / "ledgers.json",
        **options,
    )
    return site, bound


def _train(config: ModelConfig, **settings) -> Message:
    base = {
        "server-round": 1,
        "num-rounds": 1,
        "plan-id": "p",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.03,
        "clip": 1.0,
        "epsilon": 8.0,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
        "site-evaluations": 1,
    }
    content = RecordDict(
        {
            "arrays": ArrayRecord(build_model(config, seed=0).state_dict()),
            "config": ConfigRecord({**base, **settings}),
        }
    )
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7)


def test_check_pins_size_architecture_and_evaluations_and_the_client_app_holds_to_them(tmp_path, cohorts):
    site, bound = _checked(tmp_path, cohorts, declared_size=60, max_evaluations=2)
    assert (bound["declared_size"], bound["max_evaluations"]) == (60, 2) and len(bound["model_digest"]) == 64
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    assert (config["declared-size"], config["max-evaluations"], config["model-digest"]) == (
        60,
        2,
        bound["model_digest"],
    )

    app = make_client_app()
    context = Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})
    # the federation's default model on this panel: what `hospital check` pins
    agreed = ModelConfig(n_variants=len(VariantPanel.load(cohorts / "panel.tsv")), architecture="logistic")
    reply = app(_train(agreed), context)
    assert not reply.has_error(), reply.error
    assert next(iter(reply.content.metric_records.values()))["num-examples"] == 48  # 80 % of the declared 60
    other = ModelConfig(n_variants=agreed.n_variants)  # a network: not what this hospital agreed to
    refused = app(_train(other, **{"plan-id": "q"}), context)
    assert refused.has_error() and "did not agree" in refused.error.reason
    greedy = app(_train(agreed, **{"plan-id": "r", "site-evaluations": 3}), context)
    assert greedy.has_error() and "at most 2" in greedy.error.reason


def test_the_default_declared_size_is_the_cohort_rounded_to_ten(tmp_path, cohorts):
    _site, bound = _checked(tmp_path, cohorts)
    samples = bound["summary"]["samples"]
    assert bound["declared_size"] == max(10, 10 * round(samples / 10)) and bound["max_evaluations"] == 20
    with pytest.raises(GenofedError, match="declared-size"):
        _checked(tmp_path / "again", cohorts, declared_size=1)


def test_a_hospital_can_agree_to_the_network_instead(tmp_path, cohorts):
    site, bound = _checked(tmp_path, cohorts, model="network")
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    app = make_client_app()
    context = Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})
    network = ModelConfig(n_variants=len(VariantPanel.load(cohorts / "panel.tsv")))
    assert not app(_train(network), context).has_error()
    logistic = ModelConfig(n_variants=network.n_variants, architecture="logistic")
    refused = app(_train(logistic, **{"plan-id": "q"}), context)
    assert refused.has_error() and "did not agree" in refused.error.reason


def test_a_hospital_pins_the_sub_panel_of_its_federations_model_json(tmp_path, cohorts):
    """`hospital check --model-config`: the model a gene prior chose trains; the whole panel (the
    model the hospital would pin with `--model logistic`) is refused."""
    from genofed.client.coordinator_request import architecture_digest
    from genofed.server.service.federation_folder import init_federation

    fed = tmp_path / "fed"
    init_federation(
        fed,
        ["localhost"],
        panel=cohorts / "panel.tsv",
        settings={"gene_prior": str(cohorts / "known_genes.bed")},
        digest=architecture_digest,
    )
    published = json.loads((fed / "model.json").read_text())
    site, bound = _checked(tmp_path, cohorts, model_config=fed / "model.json")
    assert bound["model_digest"] == published["digest"]
    assert bound["model"]["reads"] == published["reads"] < bound["model"]["n_variants"]
    assert bound["model"]["source"] == str((fed / "model.json").resolve())
    config = node_config(site, json.loads((site / "hospital.json").read_text()))
    assert config["model-digest"] == published["digest"]
    app = make_client_app()
    context = Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})
    sub_panel = ModelConfig.from_dict(published["model_config"])
    reply = app(_train(sub_panel), context)
    assert not reply.has_error(), reply.error
    whole = ModelConfig(n_variants=sub_panel.n_variants, architecture="logistic")
    refused = app(_train(whole, **{"plan-id": "q"}), context)
    assert refused.has_error() and "did not agree" in refused.error.reason

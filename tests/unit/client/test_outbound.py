"""What leaves a hospital: the real ClientApp's replies hold model arrays and aggregate numbers
only, and the outbound guard blocks anything else."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict

from genofed.client.app import FAILED, REFUSED, REFUSED_THIS_ROUND, make_client_app
from genofed.client.outbound import (
    ALLOWED_METRICS,
    BLOCKED,
    CHARGED,
    PUBLIC,
    OutboundViolation,
    Release,
    check_outbound,
    outbound_guard,
)
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import read_phenotypes
from genofed.common.model.network import ModelConfig, build_model


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 11 (read only: the tests that damage a site copy it)."""
    return simulated_cohorts(11)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _server_message(kind: str, content: RecordDict, node_id: int = 7) -> Message:
    return Message(content, message_type=kind, dst_node_id=node_id)


def _model_records(federation: Path) -> tuple[ModelConfig, RecordDict]:
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")))
    model = build_model(config, seed=0)
    settings = ConfigRecord(
        {
            "server-round": 1,
            "num-rounds": 2,
            "plan-id": "p1",
            "local-epochs": 1,
            "batch-size": 16,
            "lr": 0.03,
            "clip": 1.0,
            "epsilon": 8.0,
            "delta": 1e-5,
            "model": json.dumps(config.to_dict()),
            "site-evaluations": 1,
        }
    )
    return config, RecordDict({"arrays": ArrayRecord(model.state_dict()), "config": settings})


def _all_strings_and_lists(reply: Message) -> tuple[list[str], list]:
    strings, lists = [], []
    for record in reply.content.values():
        if isinstance(record, ArrayRecord):
            continue
        for value in record.values():
            (strings if isinstance(value, str) else lists if isinstance(value, list) else []).append(value)
    return strings, lists


def test_real_replies_hold_only_arrays_and_aggregate_metrics(federation, tmp_path):
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    site = hospital_folders(federation)[0]
    sample_ids = set(read_phenotypes(site.phenotypes).sample_ids)
    config, train_content = _model_records(federation)
    expected_shapes = {k: tuple(v.shape) for k, v in build_model(config, seed=0).state_dict().items()}
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})

    replies = {
        "query": app(_server_message(MessageType.QUERY, RecordDict()), context),
        "train": app(_server_message(MessageType.TRAIN, train_content), context),
        "evaluate": app(_server_message(MessageType.EVALUATE, train_content), context),
    }
    for kind, reply in replies.items():
        assert not reply.has_error(), (kind, reply.error)
        strings, lists = _all_strings_and_lists(reply)
        # the only list: an evaluation's noisy score histogram, 2 classes x 10 risk bins, whatever
        # the cohort size
        assert lists == ([] if kind != "evaluate" else [lists[0]]) and all(len(v) == 20 for v in lists), (
            f"{kind}: per-sample lists in a reply"
        )
        assert not sample_ids & set(strings), f"{kind}: a sample id left the site"
        for record in reply.content.values():
            if isinstance(record, ArrayRecord):
                assert {k: tuple(a.shape) for k, a in record.items()} == expected_shapes
    train = replies["train"].content
    assert len(train.array_records) == 1 and len(train.metric_records) == 1
    metrics = next(iter(train.metric_records.values()))
    assert metrics["num-examples"] > 0 and 0 < metrics["epsilon"] <= 8.0
    assert set(replies["query"].content["site"].keys()) == {"name"}


def _reply(sent: Message, content: RecordDict) -> Message:
    return Message(content, reply_to=sent)


def test_guard_blocks_sample_ids_per_sample_values_and_foreign_arrays(federation):
    _config, content = _model_records(federation)
    sent = _server_message(MessageType.TRAIN, content)
    good = content["arrays"]
    bad_replies = [
        RecordDict({"arrays": good, "metrics": MetricRecord({"num-examples": 10, "risk": [0.1, 0.9]})}),
        RecordDict({"arrays": good, "metrics": MetricRecord({"num-examples": 10, "per-patient-loss": 0.3})}),
        RecordDict({"arrays": good, "ids": ConfigRecord({"sample": "ROS0001"})}),
        RecordDict(
            {
                "arrays": ArrayRecord([np.zeros((60, 523), dtype=np.float32)]),
                "metrics": MetricRecord({"num-examples": 60}),
            }
        ),
    ]
    for content_ in bad_replies:
        with pytest.raises(OutboundViolation):
            check_outbound(_reply(sent, content_), sent)
        blocked = outbound_guard(
            sent, Context(1, 7, {}, RecordDict(), {}), lambda m, c, r=content_: _reply(m, r)
        )
        assert blocked.has_error() and "outbound guard" in blocked.error.reason
        # its own code: an operator's log tells a blocked reply from a refusal of this round only
        assert blocked.error.code == BLOCKED not in (REFUSED, FAILED, REFUSED_THIS_ROUND)
    check_outbound(
        _reply(
            sent, RecordDict({"arrays": good, "metrics": MetricRecord({"num-examples": 10, "epsilon": 0.5})})
        ),
        sent,
    )
    for exact in (
        "train-loss",
        "val-auc",
        "val-loss",
        "val-accuracy",
        "cases",
        "train-seconds",
    ):  # exact numbers on patients
        with pytest.raises(OutboundViolation):
            check_outbound(
                _reply(
                    sent,
                    RecordDict({"arrays": good, "metrics": MetricRecord({"num-examples": 10, exact: 0.5})}),
                ),
                sent,
            )
    nan_arrays = ArrayRecord(
        {k: torch.full_like(t, float("nan")) for k, t in good.to_torch_state_dict().items()}
    )
    with pytest.raises(OutboundViolation, match="NaN"):
        check_outbound(
            _reply(sent, RecordDict({"arrays": nan_arrays, "metrics": MetricRecord({"num-examples": 10})})),
            sent,
        )


def test_data_errors_reach_the_coordinator_without_sample_ids(federation, tmp_path):
    broken = tmp_path / "fed"
    shutil.copytree(federation, broken)
    site = hospital_folders(broken)[0]
    lines = site.phenotypes.read_text().splitlines()
    first_id = lines[1].split(",")[0]
    lines[1] = f"{first_id},maybe,F,40"
    site.phenotypes.write_text("\n".join(lines) + "\n")
    app = make_client_app({"data-dir": str(broken), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    reply = app(_server_message(MessageType.QUERY, RecordDict()), context)
    assert reply.has_error()
    assert "failed validation" in reply.error.reason and first_id not in reply.error.reason


def test_a_round_rerun_on_different_inputs_is_refused(federation, tmp_path):
    """Same plan and round, different global weights: a second release under a charged round's
    key (with its noise, the two replies could be subtracted), so the site refuses; the identical
    request gets the reply it got, free."""
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 3})
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    config, content = _model_records(federation)
    first = app(_server_message(MessageType.TRAIN, content), context)
    again = app(_server_message(MessageType.TRAIN, content), context)
    assert not first.has_error() and not again.has_error()
    for key in first.content["arrays"].keys():  # identical inputs, identical release
        np.testing.assert_array_equal(
            first.content["arrays"][key].numpy(), again.content["arrays"][key].numpy()
        )

    other = build_model(config, seed=1)
    changed = RecordDict({"arrays": ArrayRecord(other.state_dict()), "config": content["config"]})
    refused = app(_server_message(MessageType.TRAIN, changed), context)
    assert refused.has_error() and "already trained here and its reply sent" in refused.error.reason


def test_a_deployed_site_keeps_its_own_budget(tmp_path):
    from genofed.client.app import spend_limit
    from genofed.client.site import SiteConfig
    from genofed.common.errors import GenofedError

    deployed = SiteConfig(
        "rostov",
        tmp_path / "g.vcf.gz",
        tmp_path / "p.csv",
        tmp_path / "panel.tsv",
        tmp_path,
        epsilon_budget=3.0,
    )
    assert spend_limit(deployed, 8.0, 1e-5) == (3.0, 1e-5)  # the coordinator cannot raise it
    assert spend_limit(deployed, 1.0, 1e-6) == (1.0, 1e-6)  # but may ask for less
    with pytest.raises(GenofedError, match="delta"):
        spend_limit(deployed, 3.0, 1e-2)
    with pytest.raises(GenofedError, match="no privacy budget"):
        spend_limit(SiteConfig("x", tmp_path, tmp_path, tmp_path, tmp_path, epsilon_budget=None), 8.0, 1e-5)


def _deployed_context(federation: Path, tmp_path: Path, **extra) -> Context:
    site = hospital_folders(federation)[0]
    node_config = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(tmp_path / "state"),
        **extra,
    }
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def test_a_coordinator_cannot_switch_off_a_deployed_sites_privacy(federation, tmp_path):
    app = make_client_app()
    context = _deployed_context(federation, tmp_path, **{"epsilon-budget": 3.0})
    _config, content = _model_records(federation)
    content["config"]["epsilon"] = float("inf")
    reply = app(_server_message(MessageType.TRAIN, content), context)
    assert reply.has_error() and "without differential privacy" in reply.error.reason
    assert not (tmp_path / "state" / "privacy-ledger.json").exists()
    content["config"]["epsilon"] = 8.0  # asks for more than the site allows: it spends its own 3 at most
    reply = app(_server_message(MessageType.TRAIN, content), context)
    assert not reply.has_error()
    assert 0 < next(iter(reply.content.metric_records.values()))["epsilon"] <= 3.0
    assert (tmp_path / "state" / "secret.key").stat().st_mode & 0o777 == 0o600


def test_an_unexpected_failure_sends_no_details(federation, tmp_path):
    copy = tmp_path / "fed"
    shutil.copytree(federation, copy)
    app = make_client_app()
    context = _deployed_context(copy, tmp_path, **{"epsilon-budget": 3.0})
    hospital_folders(copy)[0].genotypes.unlink()  # an OSError, not a GenofedError
    reply = app(_server_message(MessageType.QUERY, RecordDict()), context)
    assert reply.has_error() and "internal error" in reply.error.reason
    assert str(copy) not in reply.error.reason


def test_every_allowed_metric_says_why_it_may_leave_and_the_guide_lists_the_same():
    """A key added to the allow-list without a privacy argument once let each hospital's exact
    training loss leave every round, charged nothing (an ML engineer's walkthrough)."""
    for key, release in ALLOWED_METRICS.items():
        assert isinstance(release, Release) and release.basis in (CHARGED, PUBLIC), key
        assert len(release.because.split()) >= 5, key  # a reason, not a word
    for basis, because in (("exact", "the mean training loss"), (PUBLIC, " ")):
        with pytest.raises(ValueError, match="charged to its ledger or public"):
            Release(basis, because)
    guide = (Path(__file__).parents[3] / "docs" / "extending.md").read_text()
    table = dict(re.findall(r"^\| `([a-z-]+)` \| (charged|public) \|", guide, flags=re.MULTILINE))
    assert table == {key: release.basis for key, release in ALLOWED_METRICS.items()}


def test_an_unlisted_metrics_refusal_tells_the_developer_where_and_what_rule():
    sent = _server_message(MessageType.TRAIN, RecordDict({"arrays": ArrayRecord({"w": torch.zeros(2)})}))
    content = RecordDict(
        {"arrays": ArrayRecord({"w": torch.zeros(2)}), "metrics": MetricRecord({"local-loss": 0.6})}
    )
    with pytest.raises(OutboundViolation) as refused:
        check_outbound(_reply(sent, content), sent)
    for words in (
        "'local-loss'",
        "ALLOWED_METRICS",
        "client/outbound.py",
        "charged to its privacy ledger",
        "public",
    ):
        assert words in str(refused.value)

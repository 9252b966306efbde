"""A deployed site uses only the synthetic batch whose verdict `genofed hospital check --synthetic`
declared (red-team audit, finding 1).

The verdict (passed or failed validation) is an exact bit on the patients; it may leave the site
only declared public, in the ledger. `check` recorded the folder's path only, so a new batch put at
that path was used by the running agent at its next message (a failed one refused every message
with UNUSABLE_BATCH, a passing one trained) and by `hospital start`: the coordinator read each
swapped batch's verdict undeclared. Now the agent and `start` refuse a batch whose validation.json
has no declaration in the site's ledger, before its verdict is read, in the same words whatever
the verdict. The batches are written directly (`helpers.synthetic.write_batch`, no generator),
at a site without DP so that a batch made without DP may be used."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from flwr.app import Context, Message, MessageType, RecordDict
from helpers.round_message import round_message
from helpers.synthetic import write_batch

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site, load_site_file
from genofed.client.agent.launch import AgentOptions, node_config, prepare_start
from genofed.client.app import make_client_app
from genofed.client.synthetic_use import SyntheticCohortError
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, PrivacyLedger

pytestmark = pytest.mark.usefixtures("flower_task_identity")

NOT_DECLARED = "is not the one `genofed hospital check --synthetic` declared"


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(21)


def _check(federation: Path, site: Path, batch: Path, index: Path) -> dict:
    data = hospital_folders(federation)[0]
    return check_site(
        site,
        data.genotypes,
        data.phenotypes,
        federation / "panel.tsv",
        epsilon_budget=math.inf,
        ledger_index=index,
        synthetic=batch,
        synthetic_ratio=0.5,
    )


def _ask(federation: Path, site: Path, kind: str) -> str:
    """What the coordinator reads of the site's reply to a `kind` message: its refusal, or that it
    answered (with its synthetic count, for a train message)."""
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")), architecture="logistic")
    if kind == MessageType.TRAIN:
        message = round_message(kind, build_model(config, seed=0).state_dict(), config, math.inf)
    else:
        message = Message(RecordDict(), message_type=kind, dst_node_id=7)
    context = Context(
        run_id=1,
        node_id=7,
        node_config=node_config(site, load_site_file(site)),
        state=RecordDict(),
        run_config={},
    )
    reply = make_client_app()(message, context)
    if reply.has_error():
        return "refused: " + reply.error.reason
    metrics = dict(next(iter(reply.content.metric_records.values())))
    return f"answered ({metrics.get('synthetic-examples', metrics.get('synthetic'))} synthetic)"


def _swap(batch: Path, new: Path) -> None:
    """The operator's swap: the checked batch moved away, a new one put at its path."""
    shutil.move(batch, batch.with_name(batch.name + ".old"))
    shutil.move(new, batch)


def _verdicts(site: Path) -> list[str]:
    return [
        c.input_digest
        for c in PrivacyLedger(site / "state" / LEDGER_FILE).charges
        if c.kind == DECLARED_PUBLIC
    ]


def test_a_batch_swapped_in_after_check_is_refused_in_the_same_words_whatever_its_verdict(
    federation, tmp_path
):
    panel = VariantPanel.load(federation / "panel.tsv")
    site, batch = tmp_path / "site", tmp_path / "syn"
    init_site(site, "rostov")
    write_batch(batch, panel, 40)
    _check(federation, site, batch, tmp_path / "index")
    assert _ask(federation, site, MessageType.TRAIN).startswith("answered")  # the declared batch trains
    declared = _verdicts(site)
    assert len(declared) == 1

    seen = {}
    for verdict, new in (
        ("passed", write_batch(tmp_path / "new-passing", panel, 60, seed=1)),
        ("failed", write_batch(tmp_path / "new-failed", panel, 60, passed=False, seed=1)),
    ):
        _swap(batch, new)
        seen[verdict] = [_ask(federation, site, kind) for kind in (MessageType.QUERY, MessageType.TRAIN)]
        shutil.rmtree(batch.with_name(batch.name + ".old"))
    assert seen["passed"] == seen["failed"], seen  # the coordinator cannot tell them apart
    for reply in seen["passed"]:
        # the coordinator reads the folder's role, not its path (test_refusals_leave_without_paths.py)
        assert reply.startswith("refused: <synthetic folder>: ") and NOT_DECLARED in reply
        assert "failed" not in reply and "--synthetic" in reply
    assert _verdicts(site) == declared  # nothing declared, nothing used

    # `check --synthetic` on the new batch declares its verdict: then the site uses it
    _swap(batch, write_batch(tmp_path / "newer", panel, 50, seed=2))
    _check(federation, site, batch, tmp_path / "index")
    assert len(_verdicts(site)) == 2
    assert _ask(federation, site, MessageType.TRAIN).startswith("answered")


def test_start_refuses_a_swapped_batch_in_the_same_words_whatever_its_verdict(federation, tmp_path):
    from genofed.server.service.pki import write_pki

    write_pki(tmp_path / "pki", ["localhost"])
    options = AgentOptions("localhost:9", tmp_path / "pki" / "ca.pem", ledger_index=tmp_path / "index")
    panel = VariantPanel.load(federation / "panel.tsv")
    site, batch = tmp_path / "site", tmp_path / "syn"
    init_site(site, "rostov")
    write_batch(batch, panel, 40)
    _check(federation, site, batch, tmp_path / "index")
    words = {}
    for verdict, passed in (("passed", True), ("failed", False)):
        _swap(batch, write_batch(tmp_path / verdict, panel, 60, passed=passed, seed=1))
        with pytest.raises(SyntheticCohortError, match=NOT_DECLARED) as refused:
            prepare_start(site, options)
        words[verdict] = str(refused.value)
        shutil.rmtree(batch.with_name(batch.name + ".old"))
    assert words["passed"] == words["failed"]

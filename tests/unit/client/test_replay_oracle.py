"""A coordinator that sends a charged round's request again learns nothing about the site's data
from the answer, on the real ClientApp message path (`make_client_app`, Flower's mods included),
against a deployed hospital (its own node config, budget 8).

A red-team audit (stop 54) replayed a train and an evaluate message: the site trained them again,
giving the identical reply when its data had not changed and refusing ("already trained on other
inputs") when it had, uncharged, as often as asked: whether any training or validation patient's
record had changed since that round, an exact bit about the patients. Now the same request is
answered with the reply the site kept (`genofed.client.kept_replies`), and any other request under a
charged round's key is refused in words that do not depend on the data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message, MessageType, RecordDict
from helpers.round_message import deployed_node_config, round_message

from genofed.client.app import make_client_app
from genofed.client.kept_replies import KEPT_REPLIES
from genofed.client.site import load_site_tensors, resolve_site, split_seed, validation_split
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger

BUDGET = 8.0

pytestmark = pytest.mark.usefixtures("flower_task_identity")


@pytest.fixture
def hospital(simulated_cohorts, tmp_path) -> Path:
    """A copy of one hospital of the session's small cohorts, with its panel: its labels change."""
    federation = simulated_cohorts(11)
    source = sorted(p for p in federation.iterdir() if (p / "phenotypes.csv").exists())[0]
    copy = tmp_path / "federation" / source.name
    shutil.copytree(source, copy)
    shutil.copy(federation / "panel.tsv", copy.parent / "panel.tsv")
    return copy


def _context(hospital: Path, state: Path) -> Context:
    node_config = deployed_node_config(hospital, state, BUDGET)
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def _messages(hospital: Path, state: Path, **settings) -> tuple[Message, Message]:
    """Round 1's train and evaluate requests of a logistic model from zeros."""
    site = resolve_site(deployed_node_config(hospital, state, BUDGET), {})
    n_variants = load_site_tensors(site, split_seed(site, 0)).n_variants
    config = ModelConfig(n_variants=n_variants, architecture="logistic")
    weights = build_model(config, seed=0).state_dict()
    asked = {"site-evaluations": 2, **settings}
    return (
        round_message(MessageType.TRAIN, weights, config, BUDGET, asked),
        round_message(MessageType.EVALUATE, weights, config, BUDGET, asked),
    )


def _flip_labels(hospital: Path, state: Path) -> None:
    """One training and one validation patient change label (a control diagnosed, a case revised)."""
    site = resolve_site(deployed_node_config(hospital, state, BUDGET), {})
    table = hospital / "phenotypes.csv"
    lines = table.read_text().splitlines()
    ids = [line.split(",")[0] for line in lines[1:]]
    train, validation = validation_split(ids, split_seed(site, 0))
    for row in (int(train[0]) + 1, int(validation[0]) + 1):
        fields = lines[row].split(",")
        fields[1] = "1" if fields[1] == "0" else "0"
        lines[row] = ",".join(fields)
    table.write_text("\n".join(lines) + "\n")


def _same(first: Message, second: Message) -> bool:
    """Whether two replies carry the same content, bit for bit."""
    ours, theirs = first.content, second.content
    if ours.array_records.keys() != theirs.array_records.keys():
        return False
    for name, record in ours.array_records.items():
        for key, value in record.items():
            if value.numpy().tobytes() != theirs.array_records[name][key].numpy().tobytes():
                return False
    return {k: dict(v) for k, v in ours.metric_records.items()} == {
        k: dict(v) for k, v in theirs.metric_records.items()
    }


def _charges(state: Path) -> list[tuple]:
    ledger = PrivacyLedger(state / LEDGER_FILE)
    return [(c.plan_id, c.kind, c.round, c.noise_multiplier) for c in ledger.charges]


def test_a_replayed_round_gets_its_reply_again_whatever_the_patients_have_become(hospital, tmp_path):
    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, evaluate = _messages(hospital, state)
    trained, evaluated = app(train, context), app(evaluate, context)
    assert not trained.has_error() and not evaluated.has_error(), (trained.error, evaluated.error)
    charged = _charges(state)
    assert [c[1] for c in charged] == ["train", "evaluate"]

    _flip_labels(hospital, state)
    for sent, before in ((train, trained), (evaluate, evaluated)):
        again = app(sent, context)
        assert not again.has_error(), again.error  # before: refused, "already trained on other inputs"
        assert _same(again, before)
    assert _charges(state) == charged  # nothing new released, nothing charged


def test_another_request_under_a_charged_round_is_refused_in_the_same_words_whatever_the_data(
    hospital, tmp_path
):
    """The refusal of a changed request must not depend on the data either."""
    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, _ = _messages(hospital, state)
    assert not app(train, context).has_error()
    other, _ = _messages(hospital, state, lr=0.01)
    before = app(other, context)
    _flip_labels(hospital, state)
    after = app(other, context)
    assert before.has_error() and after.has_error()
    assert before.error.code == after.error.code and before.error.reason == after.error.reason
    assert "already trained here and its reply sent" in after.error.reason


def test_a_charged_round_whose_reply_was_not_kept_is_refused_even_on_unchanged_data(hospital, tmp_path):
    """A site that stopped between the charge and keeping the reply (or a round an earlier genofed
    charged) cannot tell the same release from a new one without reading its data: it refuses, so
    the answer is the same whether the data changed or not (fail closed; the charge stands)."""
    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, _ = _messages(hospital, state)
    first = app(train, context)
    assert not first.has_error()
    shutil.rmtree(state / KEPT_REPLIES)
    again = app(train, context)
    assert again.has_error() and "already trained here and its reply sent" in again.error.reason
    assert len(_charges(state)) == 1


def test_a_kept_reply_is_private_to_the_site(hospital, tmp_path):
    """The kept reply is as private as the ledger beside it (mode 0600), and only the latest round of
    each plan and kind is kept."""
    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, _ = _messages(hospital, state)
    assert not app(train, context).has_error()
    second, _ = _messages(hospital, state, **{"server-round": 2})
    assert not app(second, context).has_error()
    kept = list((state / KEPT_REPLIES).iterdir())
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o777 == 0o600
    # round 1's reply is gone: its request again is refused, round 2's is answered
    assert app(train, context).has_error()
    assert not app(second, context).has_error()
    np.testing.assert_array_equal([c[2] for c in _charges(state)], [1, 2])


def test_a_masked_rounds_reply_is_never_sent_again_in_a_plain_message(hospital, tmp_path):
    """A review: the kept reply of a SecAgg+ round (local DP: the coordinator sees only the sum) was
    sent unmasked when the coordinator sent the same weights and config again as a plain message,
    the site's own update instead of the sum. The masked stage is part of the request."""
    from genofed.client import train_handler
    from genofed.client.app import _settings, _site

    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, _ = _messages(hospital, state)
    site, settings = _site(context, {}), _settings(context, {})
    masked = train_handler.train(train, context, site, settings, masked=True)  # SecAgg+'s masked stage
    again = train_handler.train(train, context, site, settings, masked=True)
    for key, value in masked["arrays"].items():  # the masked stage again: the same reply
        assert again["arrays"][key].numpy().tobytes() == value.numpy().tobytes()
    plain = app(train, context)
    assert plain.has_error() and "already trained here and its reply sent" in plain.error.reason


def test_a_reply_that_cannot_be_kept_says_the_round_is_charged(hospital, tmp_path, monkeypatch):
    """A review: with the kept-replies folder unwritable the site said "nothing was trained or sent"
    while its ledger held the round's charge. (The write is refused by a stand-in: tests may run as
    root, whom no permission stops.)"""
    from genofed.client import kept_replies

    def refused(path, mode=None):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(kept_replies, "atomic_path", refused)
    state = tmp_path / "state"
    app, context = make_client_app({}), _context(hospital, state)
    train, _ = _messages(hospital, state)
    reply = app(train, context)
    assert reply.has_error() and "nothing was trained or sent" not in reply.error.reason
    assert "(Permission denied): it was not sent, and the round stays charged" in reply.error.reason
    assert len(_charges(state)) == 1

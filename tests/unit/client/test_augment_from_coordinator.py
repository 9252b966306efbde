"""A coordinator's `augment` is inline key=value pairs only: it never names a file on the hospital's
disk, and its refusal says nothing about that disk.

Read as a path (the old behaviour), a coordinator's train message learned for free, before any
charge and without limit, whether any file the agent can read exists ("must be .toml or .json"
against "is not key=value") and the first key of a JSON/TOML file ("unknown key 'version'" for the
privacy ledger): a membership oracle where a hospital keeps per-patient files. These tests drive
the real ClientApp (`make_client_app`, Flower's mods included) as a curious coordinator would.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from genofed.client.app import make_client_app
from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.ledger import LEDGER_FILE

#: Stands for the probed path in a reply, so replies for different paths can be compared.
PLACEHOLDER = "<PATH>"


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    """The session's small cohorts, seed 31 (read only: each site's state dir is in tmp_path)."""
    return simulated_cohorts(31)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


def _deployed(federation: Path, state: Path, **extra) -> Context:
    site = hospital_folders(federation)[0]
    node = {
        "genotypes": str(site.genotypes),
        "phenotypes": str(site.phenotypes),
        "panel": str(federation / "panel.tsv"),
        "state-dir": str(state),
        "epsilon-budget": 4.0,
        **extra,
    }
    return Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config={})


def _train(federation: Path, epsilon: float = 4.0, augment: str | None = None) -> Message:
    config = ModelConfig(n_variants=len(VariantPanel.load(federation / "panel.tsv")), architecture="logistic")
    settings = {
        "server-round": 1,
        "num-rounds": 2,
        "plan-id": "augment-probe",
        "local-epochs": 1,
        "batch-size": 16,
        "lr": 0.03,
        "clip": 1.0,
        "epsilon": epsilon,
        "delta": 1e-5,
        "model": json.dumps(config.to_dict()),
    }
    if augment is not None:
        settings["augment"] = augment
    content = RecordDict(
        {"arrays": ArrayRecord(build_model(config, seed=0).state_dict()), "config": ConfigRecord(settings)}
    )
    return Message(content, message_type=MessageType.TRAIN, dst_node_id=7)


def _probe_files(federation: Path, tmp_path: Path) -> dict[str, tuple[str, bool]]:
    """name -> (path, whether it exists): files a hospital's agent can read, and paths it cannot."""
    own = hospital_folders(federation)[0]
    ledger_like = tmp_path / "disk" / "privacy-ledger.json"  # a JSON file whose first key a reply leaked
    ledger_like.parent.mkdir()
    ledger_like.write_text(json.dumps({"version": 2, "patient-ROS0042": 1}))
    valid_toml = tmp_path / "disk" / "per-patient.toml"  # a real augmentation file: once trained on
    valid_toml.write_text("noise = 0.05\n")
    hostname = Path("/etc/hostname")
    if not hostname.is_file():  # not on every machine: a readable file outside the site's folders
        hostname = tmp_path / "disk" / "hostname"
        hostname.write_text("vm\n")
    return {
        "phenotypes (the site's own)": (str(own.phenotypes), True),
        "a missing csv beside it": (str(own.phenotypes.parent / "NOT-A-PATIENT.csv"), False),
        "/etc/hostname": (str(hostname), True),
        "a missing system file": ("/etc/genofed-does-not-exist", False),
        "an existing .json": (str(ledger_like), True),
        "a missing .json": (str(ledger_like.parent / "no-such-ledger.json"), False),
        "an existing augmentation .toml": (str(valid_toml), True),
        "a missing .toml": (str(valid_toml.parent / "no-such.toml"), False),
        "truth.json of the cohorts": (str(federation / "truth.json"), (federation / "truth.json").is_file()),
    }


def test_a_path_from_the_coordinator_gets_one_reply_whether_or_not_the_file_exists(federation, tmp_path):
    app = make_client_app()
    state = tmp_path / "state"
    context = _deployed(federation, state)
    probes = _probe_files(federation, tmp_path)
    assert {exists for _, exists in probes.values()} == {True, False}, "the probe needs both kinds"
    replies = {}
    for name, (path, _exists) in probes.items():
        reply = app(_train(federation, augment=path), context)
        assert reply.has_error(), f"{name}: the coordinator's path was read as an augmentation"
        replies[name] = (reply.error.code, reply.error.reason.replace(path, PLACEHOLDER))
    assert len(set(replies.values())) == 1, replies  # existing and missing files: the same words
    code, reason = next(iter(replies.values()))
    assert (
        f"augment '{PLACEHOLDER}'" in reason and "is not key=value" in reason and "never as a file" in reason
    )
    for leaked in ("version", "patient", "ROS0042", "preset", "sample_id", "must be .toml", "not found"):
        assert leaked not in reason, leaked
    # refused before anything was trained or charged
    assert not (state / LEDGER_FILE).exists()
    assert not any(name.startswith("privacy") for name in (p.name for p in state.rglob("*")))


def test_an_inline_spec_that_looks_like_a_key_of_a_file_is_answered_by_its_text_alone(federation, tmp_path):
    """A path with '=' or a bad key: the parser's words name only the coordinator's string."""
    app = make_client_app()
    context = _deployed(federation, tmp_path / "state")
    existing = hospital_folders(federation)[0].phenotypes
    for text in (f"{existing}=1", f"{existing.parent / 'missing.csv'}=1"):
        reply = app(_train(federation, augment=text), context)
        assert reply.has_error() and "unknown key" in reply.error.reason
        assert "sample_id" not in reply.error.reason and "must be" not in reply.error.reason
    reasons = {
        app(_train(federation, augment=f"{p}=1"), context).error.reason.replace(str(p), PLACEHOLDER)
        for p in (existing, existing.parent / "missing.csv")
    }
    assert len(reasons) == 1, reasons
    assert not (tmp_path / "state" / LEDGER_FILE).exists()


def test_an_inline_spec_from_the_coordinator_still_trains(federation, tmp_path):
    reply = make_client_app()(
        _train(federation, augment="noise=0.05,missing=0.02"), _deployed(federation, tmp_path / "state")
    )
    assert not reply.has_error(), reply.error.reason


def test_the_hospitals_own_node_config_may_name_a_file(federation, tmp_path):
    """The site's own `augment` file is the site's choice: read, and the coordinator's value ignored."""
    own = tmp_path / "our-augmentation.toml"
    own.write_text("noise = 0.05\n[sites.nobody]\nmissing = 0.1\n")
    reply = make_client_app()(
        _train(federation, augment="/etc/genofed-does-not-exist"),
        _deployed(federation, tmp_path / "state", augment=str(own)),
    )
    assert not reply.has_error(), reply.error.reason


def test_a_simulated_hospital_reads_the_operators_file(federation, tmp_path):
    """`genofed simulate --augment FILE`: the coordinator is the operator, the file is on its machine."""
    spec = tmp_path / "run-augmentation.toml"
    spec.write_text("noise = 0.05\n")
    app = make_client_app({"data-dir": str(federation), "ledger-dir": str(tmp_path / "ledgers"), "seed": 0})
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0}, state=RecordDict(), run_config={})
    reply = app(_train(federation, epsilon=math.inf, augment=str(spec)), context)
    assert not reply.has_error(), reply.error.reason

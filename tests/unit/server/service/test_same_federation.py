"""`coordinator init NEW_DIR --same-federation-as OLD_DIR` (server/service/same_federation.py): a
second study keeps the federation's CA, enrolments, declared sizes and revocations, gets a new
plan id, and OLD_DIR holds the federation no more; every refusal leaves nothing behind.

Why: a study under other settings meant a new CA, a new ca.pem at every hospital and every
hospital enrolled again (walkthrough h12, "Costly second run"). The deployed proof that a running
agent joins the second study: tests/e2e/test_deployed_second_study.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from genofed.client.agent.keys import init_site
from genofed.common.errors import GenofedError
from genofed.server.service import pki
from genofed.server.service.enrollment import (
    EnrollmentError,
    enroll,
    load_registry,
    revoke,
    set_size,
    unenroll,
)
from genofed.server.service.federation_folder import init_federation, read_federation_file
from genofed.server.service.folder_files import hold_federation
from genofed.server.service.handover import HANDOVER_FILE, handed_over_to
from genofed.server.service.launch import start_coordinator
from genofed.server.service.same_federation import init_same_federation

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A first study: rostov enrolled (its size changed once), elista revoked, a typo unenrolled."""
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    folder = tmp_path / "study1"
    init_federation(
        folder, ["fl.example.org"], panel=tmp_path / "panel.tsv", settings={"epsilon": 4.0, "min_nodes": 1}
    )
    for name in ("rostov", "elista"):
        init_site(tmp_path / name, name)
    enroll(folder, "rostov", tmp_path / "rostov" / "supernode.pub", declared_size=100)
    set_size(folder, "rostov", 110)
    enroll(folder, "elista", tmp_path / "elista" / "supernode.pub", declared_size=60)
    revoke(folder, "elista")
    init_site(tmp_path / "typo", "astrakhan")
    enroll(folder, "astrkhan", tmp_path / "typo" / "supernode.pub", declared_size=150)
    unenroll(folder, "astrkhan")
    return folder


def _left_nothing(new: Path, old: Path) -> None:
    """A refusal wrote nothing: no new folder, no staging debris beside it, no mark in OLD_DIR."""
    assert not new.exists()
    assert not [p for p in new.parent.iterdir() if p.name.startswith(f".{new.name}.")]
    assert not (old / HANDOVER_FILE).exists()


def test_the_second_study_keeps_the_ca_the_enrolments_and_the_revocations(old, tmp_path):
    new = tmp_path / "study2"
    config, predecessor = init_same_federation(new, old, settings={"epsilon": 6.0, "rounds": 5})
    # the CA every hospital trusts, and a new server certificate it signed for the recorded hosts
    assert (new / "ca.pem").read_bytes() == (old / "ca.pem").read_bytes()
    assert (new / "ca.key").read_bytes() == (old / "ca.key").read_bytes()
    assert (new / "server.pem").read_bytes() != (old / "server.pem").read_bytes()
    pki.check_folder_pki(new)  # signed by ca.pem, valid now, server.key its key
    assert config["tls"]["ca_sha256"] == read_federation_file(old)["tls"]["ca_sha256"]
    assert {"fl.example.org", "localhost", "127.0.0.1"} == set(config["tls"]["hosts"])
    # the enrolments as they stood: keys, names, sizes with their history, revocations, unenrolments
    before, after = load_registry(old), load_registry(new)
    for key in ("hospitals", "revoked", "unenrolled"):
        assert after[key] == before[key], key
    assert after["hospitals"][0]["size_history"][0]["declared_size"] == 100
    assert after["carried_from"]["folder"] == str(old.resolve())
    # new settings and a new plan id: a study is never the earlier study's privacy plan continued
    assert config["settings"]["epsilon"] == 6.0 and config["settings"]["rounds"] == 5
    assert config["plan_id"] != read_federation_file(old)["plan_id"]
    assert config["same_federation_as"]["plan_id"] == read_federation_file(old)["plan_id"]
    assert (new / "panel.tsv").read_bytes() == (old / "panel.tsv").read_bytes()  # the default panel
    assert predecessor.folder == old.resolve()
    # nothing of the first study's run or coordinator state
    assert {p.name for p in new.iterdir()} == {
        "ca.key",
        "ca.pem",
        "federation.json",
        "hospitals.json",
        "model.json",
        "panel.tsv",
        "server.key",
        "server.pem",
    }


def test_a_revoked_key_stays_revoked_and_an_unenrolled_one_stays_enrollable(old, tmp_path):
    new = tmp_path / "study2"
    init_same_federation(new, old)
    with pytest.raises(EnrollmentError, match="was revoked for 'elista'"):
        enroll(new, "elista", tmp_path / "elista" / "supernode.pub", declared_size=60)
    with pytest.raises(EnrollmentError, match="already enrolled"):
        enroll(new, "rostov", tmp_path / "rostov" / "supernode.pub", declared_size=110)
    assert (
        enroll(new, "astrakhan", tmp_path / "typo" / "supernode.pub", declared_size=150)["name"]
        == "astrakhan"
    )


def test_the_old_folder_holds_the_federation_no_more(old, tmp_path, capsys):
    new = tmp_path / "study2"
    init_same_federation(new, old)
    assert handed_over_to(old).successor == new.resolve()
    for change in (
        lambda: revoke(old, "rostov"),
        lambda: set_size(old, "rostov", 120),
        lambda: enroll(old, "astrakhan", tmp_path / "typo" / "supernode.pub", declared_size=150),
    ):
        with pytest.raises(GenofedError, match=f"carried over to {new.resolve()}.*there, not here"):
            change()
    with pytest.raises(GenofedError, match="start the coordinator there, not here"):
        start_coordinator(old)
    assert load_registry(old)["hospitals"][0]["declared_size"] == 110  # nothing changed in OLD_DIR
    # carrying from OLD_DIR again is refused, naming the folder that holds the federation now
    with pytest.raises(GenofedError, match=f"already carried over to {new.resolve()}"):
        init_same_federation(tmp_path / "study3", old)
    init_same_federation(tmp_path / "study3", new)  # from the latest folder: a third study
    assert handed_over_to(new).successor == (tmp_path / "study3").resolve()


def test_a_successor_deleted_before_it_ran_leaves_the_old_folder_as_it_was(old, tmp_path):
    new = tmp_path / "study2"
    init_same_federation(new, old)
    shutil.rmtree(new)
    assert handed_over_to(old) is None  # the mark counts only while its successor confirms it
    set_size(old, "rostov", 120)


def test_a_ca_key_kept_offline_signs_and_stays_out_of_the_new_folder(old, tmp_path):
    offline = tmp_path / "offline-ca.key"
    shutil.move(old / "ca.key", offline)
    with pytest.raises(GenofedError, match=r"ca.key not found.*--ca-key"):
        init_same_federation(tmp_path / "study2", old)
    _left_nothing(tmp_path / "study2", old)
    init_same_federation(tmp_path / "study2", old, ca_key=offline)
    assert not (tmp_path / "study2" / "ca.key").exists()
    pki.check_folder_pki(tmp_path / "study2")


def test_another_cas_key_is_refused(old, tmp_path):
    (tmp_path / "other-panel.tsv").write_text(PANEL_TEXT)
    other = tmp_path / "other"
    init_federation(other, ["localhost"], panel=tmp_path / "other-panel.tsv")
    with pytest.raises(GenofedError, match="is not the key of"):
        init_same_federation(tmp_path / "study2", old, ca_key=other / "ca.key")
    _left_nothing(tmp_path / "study2", old)


def test_refused_when_old_dir_is_no_federation_folder(tmp_path):
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "panel.tsv").write_text(PANEL_TEXT)
    for folder, said in (
        (tmp_path / "missing", "not a folder"),
        (tmp_path / "cohort", "is not a federation folder"),
    ):
        with pytest.raises(GenofedError, match=f"--same-federation-as {folder}: .*{said}"):
            init_same_federation(tmp_path / "study2", folder)
        assert not (tmp_path / "study2").exists()


def test_refused_when_old_dir_is_incomplete(old, tmp_path):
    (old / "hospitals.json").unlink()  # the revocations with it: never an empty list made anew
    with pytest.raises(GenofedError, match=r"incomplete federation folder: hospitals.json missing"):
        init_same_federation(tmp_path / "study2", old)
    _left_nothing(tmp_path / "study2", old)


def test_refused_when_new_dir_exists(old, tmp_path):
    (tmp_path / "study2").mkdir()
    (tmp_path / "study2" / "notes.txt").write_text("x")
    with pytest.raises(GenofedError, match="exists and is not empty"):
        init_same_federation(tmp_path / "study2", old)
    with pytest.raises(GenofedError, match="exists and is not empty"):
        init_same_federation(old, old)
    assert (tmp_path / "study2" / "notes.txt").read_text() == "x"
    assert not (old / HANDOVER_FILE).exists()


def test_refused_when_the_ca_expired(tmp_path, monkeypatch):
    """An expired CA is the one case a new CA is needed: the refusal says so, in init's words."""
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=pki.CA_DAYS + 30)
    monkeypatch.setattr(pki, "_now", lambda: long_ago)
    init_federation(tmp_path / "old", ["localhost"], panel=tmp_path / "panel.tsv")
    monkeypatch.undo()
    with pytest.raises(
        GenofedError, match=r"ca.pem \(the federation's CA\) expired on .*without --same-federation-as"
    ):
        init_same_federation(tmp_path / "study2", tmp_path / "old")
    _left_nothing(tmp_path / "study2", tmp_path / "old")


def test_refused_while_the_old_coordinator_runs(old, tmp_path):
    with hold_federation(old):  # as a running `coordinator start` holds it
        with pytest.raises(GenofedError, match="already running.*must be stopped while its federation"):
            init_same_federation(tmp_path / "study2", old)
    _left_nothing(tmp_path / "study2", old)


def test_a_bad_setting_leaves_nothing_behind(old, tmp_path):
    with pytest.raises(GenofedError, match="min-nodes"):
        init_same_federation(tmp_path / "study2", old, settings={"min_nodes": 0})
    _left_nothing(tmp_path / "study2", old)
    assert json.loads((old / "hospitals.json").read_text())["hospitals"][0]["name"] == "rostov"

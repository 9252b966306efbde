"""An enrolment typo undone without burning the hospital's key (an operator's walkthrough).

The operator enrolled rostov's key as `rostv`. The only way back was `coordinator revoke`, and a
revoked key is never enrolled again, so enrolling it as rostov was refused and rostov had to rotate
a key nothing was wrong with; then `hospital rotate-key` advised `coordinator revoke FED --name
rostov`, an enrolment that did not exist (the old key was enrolled, and revoked, as `rostv`).
Now `coordinator unenroll` withdraws an enrolment no coordinator registered, keeping its key
enrollable and the entry in hospitals.json; it is refused once `coordinator start` registered the
key (it may have connected: only `revoke` then); `revoke` says what it does to the key and takes
the key's fingerprint, which is what rotate-key's advice names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli_refusal import refused

from genofed.cli.main import main
from genofed.client.agent.keys import init_site
from genofed.server.service.federation_folder import init_federation

PANEL_TEXT = "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n"


@pytest.fixture
def fed(tmp_path: Path) -> Path:
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    folder = tmp_path / "fed"
    init_federation(folder, ["localhost"], panel=tmp_path / "panel.tsv", settings={})
    return folder


@pytest.fixture
def rostov(tmp_path: Path) -> Path:
    """rostov's site folder; its public key is `supernode.pub` in it."""
    init_site(tmp_path / "site", "rostov")
    return tmp_path / "site"


def _enroll(fed: Path, name: str, site: Path, capsys) -> str:
    key = str(site / "supernode.pub")
    assert (
        main(
            ["coordinator", "enroll", str(fed), "--name", name, "--public-key", key, "--declared-size", "100"]
        )
        == 0
    )
    return capsys.readouterr().err


def _registry(fed: Path) -> dict:
    return json.loads((fed / "hospitals.json").read_text())


def test_a_mistyped_enrolment_is_unenrolled_and_the_key_enrolled_under_the_right_name(fed, rostov, capsys):
    warned = _enroll(fed, "rostv", rostov, capsys)
    # the key's comment names rostov: the warning points to unenroll, not to a revocation that burns it
    assert f"`genofed coordinator unenroll {fed} --name rostv`" in warned and "or revoke it" not in warned
    assert main(["coordinator", "unenroll", str(fed), "--name", "rostv"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("unenrolled 'rostv' (key SHA256:") and "its key is not revoked" in said
    _enroll(fed, "rostov", rostov, capsys)  # the same key, now under the right name
    registry = _registry(fed)
    assert [e["name"] for e in registry["hospitals"]] == ["rostov"] and registry["revoked"] == []
    (typo,) = registry["unenrolled"]  # the audit trail keeps the withdrawn enrolment, with its time
    assert typo["name"] == "rostv" and typo["unenrolled_at"]
    assert typo["fingerprint"] == registry["hospitals"][0]["fingerprint"]
    assert main(["coordinator", "hospitals", str(fed)]) == 0
    listed = capsys.readouterr().out
    assert "rostv" in listed and "unenrolled" in listed and "the key is not revoked" in listed


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("nodes.json", {"rostv": {"node_id": "42", "fingerprint": "SHA256:x"}}),
        (
            "coordinator.json",
            {"state": "stopped", "hospitals": {"rostv": {"node_id": "42", "status": "online"}}},
        ),
    ],
)
def test_unenroll_is_refused_once_a_coordinator_registered_the_key(fed, rostov, file, text, capsys):
    """Registered with the SuperLink, the key may have connected and taken part: only `revoke` then."""
    _enroll(fed, "rostv", rostov, capsys)
    (fed / file).write_text(json.dumps(text))
    before = (fed / "hospitals.json").read_bytes()
    err = refused(["coordinator", "unenroll", str(fed), "--name", "rostv"], capsys, max_lines=1)
    assert "hospital 'rostv' cannot be unenrolled: `genofed coordinator start` registered its key" in err
    assert f"as node 42 ({file})" in err and f"`genofed coordinator revoke {fed} --name rostv`" in err
    assert (fed / "hospitals.json").read_bytes() == before


def test_unenroll_is_refused_when_the_admission_map_holds_the_key_under_another_name(fed, rostov, capsys):
    _enroll(fed, "rostv", rostov, capsys)
    fingerprint = _registry(fed)["hospitals"][0]["fingerprint"]
    (fed / "nodes.json").write_text(json.dumps({"other": {"node_id": "7", "fingerprint": fingerprint}}))
    assert "cannot be unenrolled" in refused(["coordinator", "unenroll", str(fed), "--name", "rostv"], capsys)
    (fed / "nodes.json").write_text("{not json")  # what it held is not known: counted as registered
    err = refused(["coordinator", "unenroll", str(fed), "--name", "rostv"], capsys, max_lines=1)
    assert "nodes.json cannot be read to tell whether its key was registered" in err


def test_unenroll_of_a_name_not_enrolled_says_so(fed, rostov, capsys):
    _enroll(fed, "rostv", rostov, capsys)
    assert main(["coordinator", "unenroll", str(fed), "--name", "rostv"]) == 0
    capsys.readouterr()
    err = refused(["coordinator", "unenroll", str(fed), "--name", "rostv"], capsys, max_lines=1)
    assert "'rostv' was unenrolled on " in err and "is not enrolled" in err


def test_revoke_says_what_it_does_to_the_key(fed, rostov, capsys):
    _enroll(fed, "rostv", rostov, capsys)
    assert main(["coordinator", "revoke", str(fed), "--name", "rostv"]) == 0
    said = capsys.readouterr().out
    assert "this key is never enrolled again, under any name" in said
    assert "`genofed hospital rotate-key SITE`" in said
    key = str(rostov / "supernode.pub")
    args = [
        "coordinator",
        "enroll",
        str(fed),
        "--name",
        "rostov",
        "--public-key",
        key,
        "--declared-size",
        "100",
    ]
    err = refused(args, capsys, max_lines=1)
    assert "was revoked for 'rostv'" in err and "`genofed hospital rotate-key SITE`" in err


def test_rotate_key_names_the_old_key_and_revoke_finds_its_enrolment_by_it(fed, rostov, capsys):
    """The key enrolled as `rostv`: rotate-key's advice revokes it by fingerprint, not as rostov."""
    _enroll(fed, "rostv", rostov, capsys)
    old = _registry(fed)["hospitals"][0]["fingerprint"]
    assert main(["hospital", "rotate-key", str(rostov)]) == 0
    advice = capsys.readouterr().err
    assert f"`genofed coordinator revoke FED --fingerprint {old}`" in advice
    assert "revoke FED --name rostov" not in advice
    assert main(["coordinator", "revoke", str(fed), "--fingerprint", old]) == 0
    assert capsys.readouterr().out.startswith(f"revoked hospital 'rostv' (key {old})")
    assert _registry(fed)["hospitals"] == []
    err = refused(["coordinator", "revoke", str(fed), "--fingerprint", old], capsys, max_lines=1)
    assert f"key {old} was already revoked (enrolled as 'rostv')" in err and "nothing to revoke" in err
    err = refused(["coordinator", "revoke", str(fed), "--fingerprint", "SHA256:nope"], capsys, max_lines=1)
    assert "no enrolled hospital has key SHA256:nope" in err


def test_a_damaged_unenrolled_list_is_one_error(fed, capsys):
    registry = _registry(fed)
    (fed / "hospitals.json").write_text(json.dumps(dict(registry, unenrolled=[{"name": "rostv"}])))
    err = refused(["coordinator", "hospitals", str(fed)], capsys)
    assert "'unenrolled' entry 1 ('rostv')" in err and "'fingerprint' is missing" in err

"""`genofed coordinator init NEW_DIR --same-federation-as OLD_DIR` at the command line: what the
operator is told (what was carried over, what each hospital must do for the new study, that the
ledgers go on) and its refusals in one line, never a traceback. The carrying itself:
tests/unit/server/service/test_same_federation.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli_refusal import refused

from genofed.cli.main import main
from genofed.client.agent.keys import init_site

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def old(tmp_path: Path, capsys) -> Path:
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    folder = tmp_path / "study1"
    init = [
        "coordinator",
        "init",
        str(folder),
        "--host",
        "fl.example.org",
        "--panel",
        str(tmp_path / "panel.tsv"),
    ]
    assert main([*init, "--epsilon", "4"]) == 0
    init_site(tmp_path / "rostov", "rostov")
    enroll = ["coordinator", "enroll", str(folder), "--name", "rostov", "--declared-size", "100"]
    assert main([*enroll, "--public-key", str(tmp_path / "rostov" / "supernode.pub")]) == 0
    capsys.readouterr()
    return folder


def test_the_operator_is_told_what_was_kept_and_that_the_hospitals_need_do_nothing(old, tmp_path, capsys):
    new = tmp_path / "study2"
    assert main(["coordinator", "init", str(new), "--same-federation-as", str(old), "--epsilon", "6"]) == 0
    out = capsys.readouterr().out
    assert "a second study on the federation of" in out and "hospitals keep their ca.pem" in out
    assert "1 enrolled (rostov)" in out and "0 revoked key(s) stay revoked" in out
    assert "server certificate for fl.example.org, localhost, 127.0.0.1" in out
    assert "the hospitals need do nothing" in out
    # the new epsilon is a ceiling on the ledger, earlier studies included: never a fresh budget
    assert "--epsilon 6 is the most each hospital's ledger may reach" in out and "asked 4" in out
    assert f"next: genofed coordinator start {new}" in out


def test_another_model_or_panel_names_the_one_command_each_hospital_runs(old, tmp_path, capsys):
    assert (
        main(
            [
                "coordinator",
                "init",
                str(tmp_path / "s2"),
                "--same-federation-as",
                str(old),
                "--model",
                "network",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "another model" in out and "--model-config model.json" in out
    assert "need do nothing" not in out
    other_panel = tmp_path / "other.tsv"
    other_panel.write_text(PANEL_TEXT + "1:300:G:A\t1\t300\tG\tA\t0.2\n")
    args = ["coordinator", "init", str(tmp_path / "s3"), "--same-federation-as", str(tmp_path / "s2")]
    assert main([*args, "--panel", str(other_panel), "--host", "fl2.example.org"]) == 0
    out = capsys.readouterr().out
    assert "another panel" in out and "--panel panel.tsv --model-config model.json" in out
    assert "no longer names fl.example.org" in out


def test_refusals_are_one_line(old, tmp_path, capsys):
    new = str(tmp_path / "study2")
    err = refused(
        ["coordinator", "init", new, "--same-federation-as", str(tmp_path / "nowhere")], capsys, max_lines=1
    )
    assert "not a folder" in err
    err = refused(
        ["coordinator", "init", new, "--same-federation-as", str(old), "--ca-key", str(tmp_path / "k")],
        capsys,
        max_lines=1,
    )
    assert "--ca-key" in err and "not found" in err
    err = refused(
        ["coordinator", "init", new, "--panel", str(old / "panel.tsv"), "--ca-key", "k"], capsys, max_lines=1
    )
    assert "--ca-key" in err and "without --same-federation-as" in err
    err = refused(["coordinator", "init", new, "--panel", str(old / "panel.tsv")], capsys, max_lines=1)
    assert "--host" in err
    err = refused(["coordinator", "init", new, "--host", "localhost"], capsys, max_lines=1)
    assert "--panel" in err
    assert not Path(new).exists()
    assert main(["coordinator", "init", new, "--same-federation-as", str(old)]) == 0
    capsys.readouterr()
    enroll = [
        "coordinator",
        "enroll",
        str(old),
        "--name",
        "elista",
        "--public-key",
        "x.pub",
        "--declared-size",
        "60",
    ]
    err = refused(enroll, capsys, max_lines=1)
    assert f"carried over to {Path(new).resolve()}" in err
    assert main(["coordinator", "status", str(old)]) == 0
    assert f"carried over to {Path(new).resolve()}" in capsys.readouterr().out

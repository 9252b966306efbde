"""A coordinator's operator edits DIR/federation.json by hand, gives a hospital's summary as the
panel's --out, or a header-only panel: each is one error naming the file, before anything is
launched or written, never a traceback (an operator audit found JSONDecodeError, KeyError and
ZeroDivisionError tracebacks, and a hospital's summary replaced by the panel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli_refusal import refused

from genofed.cli.main import main

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def federation(tmp_path) -> Path:
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT)
    fed = tmp_path / "fed"
    assert (
        main(["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(tmp_path / "panel.tsv")])
        == 0
    )
    return fed


def _refused(args: list[str], capsys) -> str:
    return refused(args, capsys)


def _edit(fed: Path, change) -> None:
    path = fed / "federation.json"
    path.write_text(change(path.read_text()))


def _setting(key: str, value):
    def change(text: str) -> str:
        federation = json.loads(text)
        if value is None:
            del federation["settings"][key]
        else:
            federation["settings"][key] = value
        return json.dumps(federation)

    return change


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda text: text[:300], "cannot read it"),
        (lambda text: "", "cannot read it"),
        (lambda text: "[]", "holds no 'settings' object"),
        (_setting("min-nodes", None), "the setting(s) min-nodes are missing"),
        (_setting("rounds", "abc"), "rounds='abc' is not a valid int"),
        (_setting("epsilon", -1), "epsilon"),
    ],
)
def test_a_broken_federation_file_is_one_error_for_status_start_and_enroll(
    federation, tmp_path, capsys, change, said
):
    _edit(federation, change)
    for command in (["status", str(federation)], ["start", str(federation)]):
        err = _refused(["coordinator", *command], capsys)
        assert "federation.json" in err and said in err
    key = tmp_path / "rostov.pub"
    key.write_text("not used: the folder is refused first")
    err = _refused(
        ["coordinator", "enroll", str(federation), "--name", "rostov", "--public-key", str(key)]
        + ["--declared-size", "100"],
        capsys,
    )
    assert said in err
    assert not (federation / "run").exists()  # nothing was launched


def test_the_panel_never_replaces_a_summary_it_reads(tmp_path, capsys):
    summary = tmp_path / "rostov.tsv"
    summary.write_text("# a hospital's summary: never overwritten by the panel\n")
    before = summary.read_bytes()
    args = ["coordinator", "panel", "--summaries", str(summary), "--out", str(summary), "--force"]
    err = _refused(args, capsys)
    assert "is the file given as --summaries" in err
    assert summary.read_bytes() == before


def test_a_header_only_panel_is_refused_by_name(tmp_path, capsys):
    (tmp_path / "panel.tsv").write_text(PANEL_TEXT.splitlines()[0] + "\n")
    args = [
        "coordinator",
        "init",
        str(tmp_path / "fed"),
        "--host",
        "localhost",
        "--panel",
        str(tmp_path / "panel.tsv"),
    ]
    err = _refused(args, capsys)
    assert "the panel lists no variant" in err and not (tmp_path / "fed").exists()

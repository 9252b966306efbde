"""Deployment audit, finding 4 (second part): a poisoned model's contribution (1e7) overflowed
math.exp in the report's variant section, after results.json was written; the run was left with
no report and could not be started again. The factor now reads "overflow", and a report that fails
to render is logged, not raised."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import pytest

from genofed.cli.main import main
from genofed.server import app
from genofed.server.report import drivers
from genofed.server.report.explain import LINEAR_MEANING


@pytest.mark.parametrize(
    ("score", "factor"),
    [
        (0.5, f"{math.exp(0.5):.3f}"),
        (700.0, f"{math.exp(700.0):.3f}"),
        (2.19e7, "overflow"),
        (math.nan, "n/a"),
    ],
)
def test_the_odds_factor_never_overflows(score, factor):
    assert drivers.odds_factor(score) == factor


def test_the_meaning_sentence_of_a_poisoned_model_renders():
    top = SimpleNamespace(score=2.19e7, per_copy=1.9e7)
    explanation = SimpleNamespace(meaning=LINEAR_MEANING, drivers=[top], direction="")
    words = drivers._meaning_words(explanation)  # type: ignore[arg-type]
    assert "multiplies the odds by e^2.19e+07 = overflow per standard deviation" in words
    assert drivers.direction_cell(top.per_copy) == "raises risk (odds factor overflow)"
    assert drivers.direction_cell(math.nan) == "not computed"


def test_a_report_failure_is_logged_and_leaves_the_results(monkeypatch, tmp_path, caplog):
    (tmp_path / "results.json").write_text(json.dumps({"x": 1}))
    (tmp_path / "model.pt").write_bytes(b"model")

    def broken(_out_dir, _results):
        raise OverflowError("math range error")

    monkeypatch.setattr(app, "write_report", broken)
    with caplog.at_level(logging.ERROR, logger="genofed.server.app"):
        app._write_report_or_log(tmp_path, {"x": 1})  # does not raise
    assert (tmp_path / "results.json").exists() and (tmp_path / "model.pt").exists()
    assert "report could not be rendered" in caplog.text
    assert "write_report" in caplog.text and str(tmp_path) in caplog.text
    assert "OverflowError" in caplog.text


def test_the_rerender_command_renders_the_report(monkeypatch, tmp_path, capsys):
    """The logged command, `genofed report RUN`, calls write_report on the run folder's results.json
    and changes nothing else; a folder without results.json is refused in one line."""
    (tmp_path / "results.json").write_text(json.dumps({"x": 1}))
    seen = []
    import genofed.server.report as report

    monkeypatch.setattr(report, "write_report", lambda d, r: seen.append((d, r)) or d / "report.md")
    command = app.RERENDER.format(out_dir=tmp_path)
    assert command.split()[:2] == ["genofed", "report"]
    assert main(command.split()[1:]) == 0
    assert seen == [(tmp_path, {"x": 1})] and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "holds no results.json" in err and len(err.strip().splitlines()) == 1
    assert main(["report", str(tmp_path / "results.json")]) == 2  # the file, not its folder
    err = capsys.readouterr().err
    assert "results.json is a file: give the run's folder" in err and f"genofed report {tmp_path})" in err


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("rounds", -1, "holds -1, where a run writes a list"),
        ("test_auc", "x", 'holds "x", where a run writes a number or null'),
        ("epsilon_budget", True, "holds true, where a run writes a number or null"),
    ],
)
def test_a_damaged_field_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, field, value, said):
    """A fuzzing review: `"rounds": -1` gave a traceback, `"test_auc": "x"` a report saying both
    "not measured" and "AUC 0.686"."""
    (tmp_path / "results.json").write_text(json.dumps({"rounds": [], field: value}))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"field {field!r} {said}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_report_edited_since_genofed_wrote_it_is_not_rendered_over_without_force(
    monkeypatch, tmp_path, capsys
):
    """A clinician's note appended to report.md was lost to `genofed report RUN` (an outside
    walkthrough): the files carry the digest of what genofed wrote, and a changed one is refused."""
    from genofed.server.report.writer import _signed, edited_reports

    (tmp_path / "results.json").write_text(json.dumps({"x": 1}))
    seen = []
    import genofed.server.report as report

    monkeypatch.setattr(report, "write_report", lambda d, r: seen.append(d) or d / "report.md")
    written = _signed("# Federated training report\n\nVerdict: ...\n")
    assert written.endswith(" -->\n") and "<!-- written by genofed; SHA-256" in written
    (tmp_path / "report.md").write_text(written)
    (tmp_path / "report.html").write_text(_signed("<html></html>\n"))
    assert edited_reports(tmp_path) == []
    edited = written.replace("Verdict: ...", "Verdict: ...\n\nDr Petrova: discussed at the board, 3 Dec.")
    (tmp_path / "report.md").write_text(edited)
    assert edited_reports(tmp_path) == [tmp_path / "report.md"]
    assert main(["report", str(tmp_path)]) == 2 and seen == []
    err = capsys.readouterr().err
    assert f"{tmp_path / 'report.md'} changed since genofed wrote it" in err and "--force" in err
    assert (tmp_path / "report.md").read_text() == edited  # nothing written
    assert main(["report", str(tmp_path), "--force"]) == 0 and seen == [tmp_path]
    # a note below the digest line, and the file saved without its final newline, are edits too
    (tmp_path / "report.md").write_text(written + "\nDr Petrova: discussed at the board.\n")
    assert edited_reports(tmp_path) == [tmp_path / "report.md"]
    (tmp_path / "report.md").write_text(edited.rstrip("\n"))
    assert edited_reports(tmp_path) == [tmp_path / "report.md"]
    (tmp_path / "report.md").write_text(written.rstrip("\n"))  # only the newline: the text is genofed's
    assert edited_reports(tmp_path) == []
    (tmp_path / "report.md").write_text("# An older genofed's report, no digest line\n")
    assert edited_reports(tmp_path) == []  # rendering such a run again is what the command is for


def test_an_older_genofeds_report_is_kept_before_it_is_rendered_again(monkeypatch, tmp_path, capsys):
    """An upgrade audit appended a clinician's note to an older genofed's report.md (no digest
    line, so no telling it was edited) and `genofed report` rendered over it without a word: such a
    report is now copied beside itself first, and the command says where."""
    import genofed.server.report as report

    (tmp_path / "results.json").write_text(json.dumps({"x": 1}))
    monkeypatch.setattr(
        report, "write_report", lambda d, r: (d / "report.md").write_text("new\n") and d / "report.md"
    )
    older = "# An older genofed's report\n\nDr Petrova: discussed at the board, 3 Dec.\n"
    (tmp_path / "report.md").write_text(older)
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md.earlier").read_text() == older
    assert f"kept the earlier report as {tmp_path / 'report.md.earlier'}" in capsys.readouterr().out
    (tmp_path / "report.md").write_text(older + "again\n")  # a second one keeps both copies
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md.earlier-2").read_text() == older + "again\n"
    assert (tmp_path / "report.md.earlier").read_text() == older

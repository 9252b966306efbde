"""`genofed pretrain` on a source too small to validate on: refused before any training, with the
cases and controls it has and what to do; and the parameter count it prints, the same as
`genofed inspect-model`'s (trainable weights, not buffers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import genofed.server.pretraining.train as train_module
from genofed.cli.main import main
from genofed.common.errors import DataError
from genofed.common.scoring.model_file import load_pretrained, parameter_count
from genofed.server.pretraining.train import PretrainSettings, _score_text, _split_hint, pretrain


@pytest.fixture(scope="module")
def fed(simulated_cohorts) -> Path:
    """The session's small cohorts with their sources, seed 5 (read only)."""
    return simulated_cohorts(5, with_sources=True)


def _source(fed: Path, folder: Path, cases: int) -> Path:
    """elista's 60 genotyped people as a source whose `label` column holds `cases` cases."""
    folder.mkdir(parents=True, exist_ok=True)
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(fed / "elista" / f"genotypes{ext}", folder / f"genotypes{ext}")
    samples = [line.split()[1] for line in (folder / "genotypes.fam").read_text().splitlines()]
    rows = "".join(f"{s},{int(i < cases)}\n" for i, s in enumerate(samples))
    (folder / "phenotypes.csv").write_text("sample_id,label\n" + rows)
    return folder


def _no_training(*args, **kwargs):
    raise AssertionError("training started on a source that cannot be validated")


@pytest.mark.parametrize("model", ["network", "logistic"])
def test_a_source_with_no_case_in_the_validation_split_is_refused_before_training(
    fed, tmp_path, monkeypatch, model
) -> None:
    source = _source(fed, tmp_path / "few", cases=2)  # round(0.1 * 2) = 0 cases held out
    monkeypatch.setattr(train_module, "build_model", _no_training)
    out = tmp_path / "few.pt"
    with pytest.raises(DataError) as refused:
        pretrain(source, fed / "panel.tsv", out, PretrainSettings(model=model, epochs=1))
    message = str(refused.value)
    assert refused.value.file == str((source / "phenotypes.csv").resolve())
    assert "2 cases and 58 controls" in message and "holds 0 cases and 6 controls" in message
    assert "at least one of each" in message
    assert "--validation-fraction to 0.26 or more" in message and "add cases" in message
    assert not out.exists()


def test_the_suggested_validation_fraction_holds_a_case(fed, tmp_path) -> None:
    source = _source(fed, tmp_path / "few", cases=2)
    model, _ = pretrain(
        source,
        fed / "panel.tsv",
        tmp_path / "few.pt",
        PretrainSettings(model="logistic", l2=0.01, max_iter=5, validation_fraction=0.26),
    )
    assert model.provenance["metrics"]["validation"]["auc"] is not None


def test_cli_refuses_a_tiny_source_without_a_traceback(fed, tmp_path, capsys) -> None:
    source = _source(fed, tmp_path / "one", cases=1)
    out = tmp_path / "one.pt"
    code = main(
        ["pretrain", "--source", str(source), "--panel", str(fed / "panel.tsv"), "--out", str(out), "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err
    assert "1 cases and 59 controls" in err and "add cases to the source" in err
    assert not out.exists()


def test_split_hint_names_the_smallest_fraction_that_holds_one() -> None:
    for n in (2, 3, 4, 5, 9, 100, 5000):
        fraction = float(_split_hint(n, "cases").split(" to ")[1].split(" ")[0])
        assert round(fraction * n) >= 1
        assert fraction == 0.01 or round((fraction - 0.01) * n) == 0
    assert "add cases" in _split_hint(1, "cases") and "add cases" in _split_hint(0, "cases")


def test_an_undefined_auc_prints_as_not_available() -> None:
    assert _score_text({"auc": None, "accuracy": 1.0}) == "validation AUC n/a (a single class in the split)"
    assert _score_text({"auc": 0.71234, "accuracy": 0.5}) == "validation AUC 0.712"
    assert _score_text({"accuracy": 0.85}) == "validation accuracy 0.850"


def test_cli_prints_the_parameter_count_inspect_model_prints(fed, tmp_path, capsys) -> None:
    source = _source(fed, tmp_path / "src", cases=30)
    out = tmp_path / "logistic.pt"
    args = ["pretrain", "--source", str(source), "--panel", str(fed / "panel.tsv"), "--out", str(out)]
    assert main([*args, "--model", "logistic", "--l2", "0.01", "--max-iter", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    model = load_pretrained(out)
    count = parameter_count(model)
    assert count == len(model.panel) + 2 + 1  # one weight per column (panel and 2 covariates), a bias
    assert f"parameters: {count}, panel: {len(model.panel)} variants" in printed
    assert sum(t.numel() for t in model.state_dict.values()) > count  # the scale buffer is not counted
    assert main(["inspect-model", str(out)]) == 0
    assert f"{count:,} parameters" in capsys.readouterr().out

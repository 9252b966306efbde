"""`genofed simulate --test-dir DIR` names the test cohort: a hospital folder merely named like one
(`test_clinic`, `holdout`) is then a hospital, at the coordinator and in each virtual hospital's
ClientApp alike, and a named test cohort inside --data is never trained on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.site_files import write_named_cohort

import genofed.simulations.local.simulate as simulate_module
from genofed.cli.main import main
from genofed.client.site import resolve_site
from genofed.server.settings import RunSettings


@pytest.fixture
def federation(tmp_path: Path) -> Path:
    root = tmp_path / "fed"
    write_named_cohort(root / "rostov", "R")
    write_named_cohort(root / "test_clinic", "C")  # a hospital whose name starts with "test"
    write_named_cohort(tmp_path / "held" / "cohort", "T")
    return root


def _simulated(federation: Path, test_dir: str) -> list[str]:
    config = RunSettings(data_dir=str(federation), test_dir=test_dir, out_dir="x").to_config()
    return [resolve_site({"partition-id": i}, config).name for i in range(2)]


def test_each_virtual_hospital_finds_its_folder_when_the_test_cohort_is_named(federation, tmp_path):
    assert _simulated(federation, str(tmp_path / "held" / "cohort")) == ["rostov", "test_clinic"]
    with pytest.raises(Exception, match="test_clinic/ looks like the test cohort"):
        _simulated(federation, "")


def test_simulate_takes_test_dir_into_the_run(federation, tmp_path, monkeypatch, capsys):
    taken = {}

    def fake(settings, **_kwargs):
        taken["settings"] = settings
        raise SystemExit(0)

    monkeypatch.setattr(simulate_module, "simulate", fake)
    test_dir = str(tmp_path / "held" / "cohort")
    with pytest.raises(SystemExit):
        main(["simulate", "--data", str(federation), "--test-dir", test_dir, "--out", str(tmp_path / "run")])
    assert taken["settings"].test_dir == test_dir


def test_a_test_dir_that_is_no_folder_is_refused_before_anything_is_written(federation, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["simulate", "--data", str(federation), "--test-dir", "nowhere", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--test-dir nowhere: not a folder" in err and "leave --test-dir out" in err
    assert not run.exists()

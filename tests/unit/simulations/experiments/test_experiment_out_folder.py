"""An experiment's OUT is never another run's folder: a fuzzing review's `genofed experiment
privacy-frontier --out run1` went ahead in a finished `genofed simulate` run's folder, where its
report.md would have replaced the run's."""

from __future__ import annotations

import pytest

from genofed.cli.main import main


@pytest.mark.parametrize(
    "experiment", ["transfer", "synthetic-fidelity", "synthetic-utility", "augmentation", "privacy-frontier"]
)
def test_every_experiment_refuses_a_simulate_runs_folder_before_any_work(tmp_path, capsys, experiment):
    run = tmp_path / "run1"
    run.mkdir()
    (run / "model.pt").write_bytes(b"a finished run's model")
    (run / "report.md").write_text("the run's report")
    assert main(["experiment", experiment, "--out", str(run), "--small"]) == 2
    err = capsys.readouterr().err
    assert f"--out {run} holds a run of `genofed simulate` (model.pt)" in err and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == ["model.pt", "report.md"]
    assert (run / "report.md").read_text() == "the run's report"

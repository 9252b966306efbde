"""The plan id of a run whose data folder has no panel.tsv (`genofed simulate --data` on the
hospitals' own exports) does not depend on where the run folder is: the panel the run builds into
it is hashed by its content, so the same data and settings in another run folder are the same
plan (a resume, a comparison across run folders), and another panel is another plan."""

from __future__ import annotations

from pathlib import Path

from helpers.site_files import write_named_cohort

from genofed.common.data.layout import PANEL
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import _with_panel


def _plan_id(data: Path, out: Path) -> str:
    """The plan id `simulate` gives the run: its settings once the panel is resolved (built)."""
    settings = _with_panel(RunSettings(data_dir=str(data), out_dir=str(out)), lambda _line: None)
    assert settings.panel == str(out / PANEL)  # built into the run folder
    return settings.experiment_id()


def test_the_same_data_and_settings_in_two_run_folders_are_one_plan(tmp_path: Path):
    data = tmp_path / "hospitals"
    write_named_cohort(data / "rostov", "R")
    write_named_cohort(data / "kazan", "K")
    first, second = _plan_id(data, tmp_path / "run-a"), _plan_id(data, tmp_path / "elsewhere" / "run-b")
    assert first == second
    other = RunSettings(data_dir=str(data), out_dir=str(tmp_path / "run-a"), epsilon=3.0)
    assert other.experiment_id() != first


def test_another_built_panel_is_another_plan(tmp_path: Path):
    data = tmp_path / "hospitals"
    write_named_cohort(data / "rostov", "R")
    write_named_cohort(data / "kazan", "K")
    out = tmp_path / "run"
    before = _plan_id(data, out)
    settings = RunSettings(data_dir=str(data), out_dir=str(out), panel=str(out / PANEL))
    assert settings.experiment_id() == before
    panel = out / PANEL
    lines = panel.read_text().splitlines(keepends=True)
    panel.write_text("".join(lines[:-1]))  # one variant fewer
    assert settings.experiment_id() != before

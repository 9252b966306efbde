"""`coordinator init --test-dir T --label-column NAME`: a held-out cohort whose disease column is not
`label` was refused with "pass --label-column disease", an option init did not have (an outside
walkthrough). The column is recorded in federation.json, read by the coordinator's evaluation as the
run setting `label-column` (as `simulate --label-column` carries it to its test cohort), and a
folder made before it existed reads `label`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli_refusal import refused

from genofed.cli.main import main
from genofed.server.service.federation_folder import deployed_run_config, read_federation_file
from genofed.server.settings import RunSettings

PANEL_TEXT = (
    "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:C:T\t1\t200\tC\tT\t0.3\n"
)


@pytest.fixture
def panel(tmp_path) -> Path:
    path = tmp_path / "panel.tsv"
    path.write_text(PANEL_TEXT)
    return path


def _cohort(folder: Path, column: str) -> Path:
    folder.mkdir()
    people = [f"P{i}" for i in range(24)]
    rows = "".join(f"{p},{i % 3},{i % 2}\n" for i, p in enumerate(people))
    (folder / "genotypes.csv").write_text("sample_id,1:100:A:G,1:200:C:T\n" + rows)
    labels = "".join(f"{p},{i % 2}\n" for i, p in enumerate(people))
    (folder / "phenotypes.csv").write_text(f"sample_id,{column}\n" + labels)
    return folder


def _init(tmp_path: Path, panel: Path, *extra: str) -> list[str]:
    return [
        "coordinator",
        "init",
        str(tmp_path / "new"),
        "--host",
        "localhost",
        "--panel",
        str(panel),
        *extra,
    ]


def test_the_hint_for_another_column_names_an_option_init_takes(tmp_path, panel, capsys):
    cohort = _cohort(tmp_path / "test", "disease")
    err = refused(_init(tmp_path, panel, "--test-dir", str(cohort)), capsys)
    assert "pass --label-column disease to coordinator init" in err and "node config" not in err
    assert not (tmp_path / "new").exists()
    assert main(_init(tmp_path, panel, "--test-dir", str(cohort), "--label-column", "disease")) == 0
    assert "label-column disease" in capsys.readouterr().out
    assert read_federation_file(tmp_path / "new")["settings"]["label-column"] == "disease"
    settings = RunSettings.from_config(deployed_run_config(tmp_path / "new"))
    assert settings.label_column == "disease" and settings.test_dir == str(cohort.resolve())


def test_a_column_without_a_test_cohort_or_a_covariate_is_refused(tmp_path, panel, capsys):
    err = refused(_init(tmp_path, panel, "--label-column", "disease"), capsys)
    assert "--label-column disease names the test cohort's disease column, but there is no --test-dir" in err
    cohort = _cohort(tmp_path / "test", "sex")
    err = refused(_init(tmp_path, panel, "--test-dir", str(cohort), "--label-column", "sex"), capsys)
    assert "label-column cannot be sex" in err
    assert not (tmp_path / "new").exists()


def test_a_folder_made_before_the_setting_reads_label(tmp_path, panel):
    assert main(_init(tmp_path, panel)) == 0
    path = tmp_path / "new" / "federation.json"
    federation = json.loads(path.read_text())
    assert federation["settings"]["label-column"] == "label"
    del federation["settings"]["label-column"]  # as init wrote it before the option
    path.write_text(json.dumps(federation))
    assert RunSettings.from_config(deployed_run_config(tmp_path / "new")).label_column == "label"


def test_the_report_reads_the_test_cohort_with_the_runs_column(tmp_path, panel):
    """The report's attributions read the test cohort where the run found it and with its column."""
    from genofed.common.data.panel import VariantPanel
    from genofed.server.report.explain import _attributed_people

    cohort = _cohort(tmp_path / "held", "disease")
    results = {"config": {"test-dir": str(cohort), "label-column": "disease"}}
    _, who = _attributed_people(results, VariantPanel.load(panel), 2)
    assert who == "24 people of the test cohort"

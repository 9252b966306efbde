"""A start pretrained on the run's own people is refused (`genofed.server.seen_patients`): on a
hospital of the federation (its patients would enter the shared model with no privacy charged),
or on the test cohort (the run's test AUC would be measured on people the start has seen), as
`--prior` and as `--pretrained`; a source outside the federation is accepted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.scoring.model_file import PretrainedModel, load_pretrained, save_pretrained
from genofed.common.util.hashing import file_sha256
from genofed.server.pretraining.train import PretrainSettings, pretrain
from genofed.server.settings import RunSettings
from genofed.server.start_model import check_start_inputs, start_model


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(5, with_sources=True)


def _with_files(model: PretrainedModel, *files: Path) -> PretrainedModel:
    """`model` with a provenance that records `files` as what it was pretrained on."""
    recorded = {f"file{i}": {"path": str(f), "sha256": file_sha256(f)} for i, f in enumerate(files)}
    return PretrainedModel(
        model.state_dict, model.model_config, model.panel, model.task, {"source": "x", "files": recorded}
    )


def test_a_prior_pretrained_on_a_hospital_is_refused_before_the_run_folder_is_touched(
    federation, tmp_path
) -> None:
    """The natural mistake: `genofed pretrain --source FED/<hospital>`; the refusal names the
    hospital and the file, and comes from `check_start_inputs` (before --force deletes anything)."""
    hospital = hospital_folders(federation)[0]
    model_path = tmp_path / "own.pt"
    pretrain(
        hospital.genotypes.parent, federation / "panel.tsv", model_path, PretrainSettings(model="logistic")
    )
    settings = RunSettings(data_dir=str(federation), prior=str(model_path))
    with pytest.raises(ConfigError, match=rf"--prior .* pretrained on hospital {hospital.name}'s patients"):
        check_start_inputs(settings, federation / "panel.tsv")
    # the same model as a whole start
    with pytest.raises(ConfigError, match=r"--pretrained .*no\s+privacy charged"):
        start_model(RunSettings(data_dir=str(federation), pretrained=str(model_path)), _panel(federation))


def test_a_copy_of_a_hospitals_folder_is_recognised(federation, tmp_path) -> None:
    hospital = hospital_folders(federation)[1]
    copy = tmp_path / "copied"
    shutil.copytree(hospital.genotypes.parent, copy)
    model_path = tmp_path / "copy.pt"
    pretrain(copy, federation / "panel.tsv", model_path, PretrainSettings(model="logistic"))
    with pytest.raises(ConfigError, match=hospital.name):
        start_model(RunSettings(data_dir=str(federation), prior=str(model_path)), _panel(federation))


def test_a_start_pretrained_on_the_test_cohort_is_refused(federation, tmp_path) -> None:
    source = tmp_path / "near.pt"
    pretrain(
        federation / "sources" / "near", federation / "panel.tsv", source, PretrainSettings(model="logistic")
    )
    model = load_pretrained(source)
    test_genotypes = next((federation / "test").glob("genotypes*"))
    path = tmp_path / "test.pt"
    save_pretrained(path, _with_files(model, test_genotypes))
    with pytest.raises(
        ConfigError, match="pretrained on the test cohort .* people the start has already seen"
    ):
        start_model(RunSettings(data_dir=str(federation), prior=str(path)), _panel(federation))
    # a deployed coordinator has no data folder, only its test cohort
    with pytest.raises(ConfigError, match="the test cohort"):
        start_model(RunSettings(test_dir=str(federation / "test"), pretrained=str(path)), _panel(federation))
    # the source outside the federation is what a prior is meant to be
    started = start_model(RunSettings(data_dir=str(federation), prior=str(source)), _panel(federation))
    assert started.prior is not None


def _panel(federation: Path) -> VariantPanel:
    return VariantPanel.load(federation / "panel.tsv")

"""The label column and the panel a run names reach every reader of phenotypes: the simulation's
virtual hospitals (run config `label-column`, `panel`), a deployed hospital (node config
`label-column`, written by `hospital check`), and the refusal of a column no hospital has."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from helpers.mixed_federation import write_mixed_federation

from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import load_site_file, node_config
from genofed.client.site import load_site_tensors, resolve_site
from genofed.common.data.layout import hospital_folders
from genofed.common.errors import ConfigError, DataError
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import _say_phenotype_notes, simulate, simulated_sites


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """Four hospitals (no .bcf: bcftools is not needed here), label column `disease` (read only)."""
    root = tmp_path_factory.mktemp("labels") / "hospitals"
    write_mixed_federation(root, bcf=False)
    return root


def test_simulate_refuses_a_label_column_no_hospital_has_before_writing_anything(federation, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataError, match="binary label: 'disease'") as raised:
        simulate(RunSettings(data_dir=str(federation), out_dir=str(out), rounds=1))
    assert "--label-column disease" in raised.value.hint
    assert "node config" not in raised.value.hint  # a deployed hospital's key: nothing to set in simulate
    assert not out.exists()


def test_a_test_cohort_with_another_label_column_is_told_to_rename_it(federation, tmp_path):
    """Hospitals use `disease`, test/ uses `label`: `--label-column label` would break every
    hospital, so the advice is to rename the test file's column; and no empty RUN stays behind."""
    data = tmp_path / "hospitals"
    shutil.copytree(federation, data)
    (data / "test").mkdir()
    shutil.copy(data / "kazan" / "calls.vcf", data / "test" / "genotypes.vcf")
    text = (data / "kazan" / "phenotypes.csv").read_text()
    (data / "test" / "phenotypes.csv").write_text(text.replace("sample_id,disease,", "sample_id,label,", 1))
    out = tmp_path / "run"
    with pytest.raises(DataError) as raised:
        simulate(RunSettings(data_dir=str(data), out_dir=str(out), label_column="disease", rounds=1))
    error = raised.value
    assert error.file.endswith("test/phenotypes.csv") and "no 'disease' column" in error.problem
    assert (
        "same label column as the hospitals" in error.hint
        and "rename its label column to 'disease'" in error.hint
    )
    assert "--label-column label" not in str(error) and "node config" not in str(error)
    assert not out.exists()


def test_virtual_hospitals_read_the_run_config_label_column_and_panel(federation, tmp_path):
    panel = tmp_path / "elsewhere.tsv"
    shutil.copy(federation / "panel.tsv", panel)
    settings = RunSettings(
        data_dir=str(federation),
        out_dir=str(tmp_path / "run"),
        label_column="disease",
        panel=str(panel),
        rounds=1,
    )
    site = resolve_site({"partition-id": 0}, settings.to_config())
    assert (site.label_column, site.panel) == ("disease", panel)
    sites = simulated_sites(settings)
    assert sorted(sites) == [f.name for f in hospital_folders(federation)]
    assert all(data.cases == 20 for data in sites.values())


def test_the_label_column_is_part_of_the_cached_site_data(federation, tmp_path):
    """A site reread under another column must not get the first column's cached tensors."""
    phenotypes = tmp_path / "kazan.csv"
    text = (federation / "kazan" / "phenotypes.csv").read_text().splitlines()
    rows = [text[0] + ",flipped"] + [f"{row},{1 - int(row.split(',')[1])}" for row in text[1:]]
    phenotypes.write_text("\n".join(rows) + "\n")
    base = resolve_site({"partition-id": 0}, {"data-dir": str(federation), "label-column": "disease"})
    site = replace(base, phenotypes=phenotypes)
    disease = load_site_tensors(site, 1)
    flipped = load_site_tensors(replace(site, label_column="flipped"), 1)
    np.testing.assert_array_equal(flipped.train_y, 1 - disease.train_y)


def test_default_label_and_panel_keep_a_run_id_a_new_column_changes_it(federation):
    plain = RunSettings(data_dir=str(federation))
    named = RunSettings(data_dir=str(federation), panel=str(federation / "panel.tsv"))
    assert plain.experiment_id() == named.experiment_id()
    assert (
        RunSettings(data_dir=str(federation), label_column="disease").experiment_id() != plain.experiment_id()
    )
    with pytest.raises(Exception, match="label-column is empty"):
        RunSettings(label_column=" ")
    with pytest.raises(ConfigError, match="label-column cannot be sex: every model reads sex and age"):
        RunSettings(label_column="sex")  # `flwr run --run-config label-column=sex` too


def test_hospital_check_records_the_label_column_in_the_node_config(federation, tmp_path):
    site = tmp_path / "site"
    init_site(site, "kazan")
    data = hospital_folders(federation)[0]
    with pytest.raises(DataError, match="label-column=disease"):
        check_site(
            site, data.genotypes, data.phenotypes, federation / "panel.tsv", ledger_index=tmp_path / "l"
        )
    check_site(
        site,
        data.genotypes,
        data.phenotypes,
        federation / "panel.tsv",
        ledger_index=tmp_path / "ledgers.json",
        label_column="disease",
    )
    config = node_config(site, load_site_file(site))
    assert config["label-column"] == "disease"
    deployed = resolve_site(config, {"data-dir": "/not/used", "label-column": "coordinator-says"})
    assert deployed.label_column == "disease"  # the hospital's own, never the coordinator's
    assert load_site_tensors(deployed, 1).cases == 20


def _notes(data) -> list[str]:
    """What `simulate` says of the phenotype files of the federation folder `data` before the run."""
    said: list[str] = []
    _say_phenotype_notes(
        RunSettings(data_dir=str(data), label_column="disease"), hospital_folders(data), said.append
    )
    return said


def test_simulate_says_which_phenotype_columns_no_model_reads_before_the_run(federation, tmp_path):
    """The hospitals read their files inside Flower's workers, whose notes nobody sees: a federation
    that calls sex `gender` and age `age_years` trained with both unknown, unannounced (an outside
    walkthrough). One warning per distinct note, naming the cohorts, with the rename hint."""
    data = tmp_path / "hospitals"
    shutil.copytree(federation, data)
    for name, file in (("kazan", "phenotypes.csv"), ("orel", "clinical.csv")):
        path = data / name / file
        path.write_text(
            path.read_text().replace("sample_id,disease,sex,age", "sample_id,disease,gender,age_years", 1)
        )
    path = data / "omsk" / "pheno_2024.tsv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([f"{header}\tbmi", *(f"{row}\t25" for row in rows)]) + "\n")
    said = _notes(data)
    assert len(said) == 2, said
    renamed = next(line for line in said if "gender" in line)
    assert renamed.startswith("warning: kazan, orel: phenotype columns gender, age_years are not used")
    assert "rename it to 'sex'" in renamed and "rename it to 'age'" in renamed
    assert next(line for line in said if "bmi" in line).startswith(
        "warning: omsk: phenotype column bmi is not used"
    )
    said = _notes(federation)
    assert said == []  # sample_id, the label, sex and age: nothing to say
    # a 0/1 sex column (read as 0 = male) and ages all 0 are said too: the workers' notes are unseen
    path = data / "tomsk" / "phenotypes.csv"
    header, *rows = path.read_text().splitlines()
    rows = [
        ",".join([r.split(",")[0], r.split(",")[1], "1" if r.split(",")[2] == "M" else "0", "0"])
        for r in rows
    ]
    path.write_text("\n".join([header, *rows]) + "\n")
    said = _notes(data)
    assert any(line.startswith("warning: tomsk: sex column sex holds 0/1 codes") for line in said), said
    assert any(line.startswith("warning: tomsk: covariate age is 0 for all") for line in said), said

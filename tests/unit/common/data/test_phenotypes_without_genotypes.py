"""Phenotype rows of patients who were not genotyped: a hospital's registry export usually lists more
patients than its genotype file holds, and any such row used to refuse the whole input ("N
sample(s) of phenotypes.csv have no genotypes here"). Such rows are now left out with a warning
that counts them and names a few (`data check`, its --json, `hospital check`, `simulate`, `predict`),
and they count nowhere: not as samples, cases or controls, not in a simulation's case counts, not in
the patients that bind a ledger. A genotyped sample without a row is still refused (a missing
label), and so are files whose ids do not match as a whole (no genotyped sample has a row, or most
lack one: an id-format mismatch), and a row whose id differs from a genotyped one only in Unicode
form, Cyrillic look-alike letters or surrounding whitespace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import model_file, write_people

from genofed.cli.main import main
from genofed.common.data.layout import hospital_folders
from genofed.common.data.loading import load_site, site_patients
from genofed.common.data.readers import genotype_sample_ids, read_genotypes
from genofed.common.data.writers import write_plink, write_vcf
from genofed.common.errors import DataError
from genofed.common.scoring.predict import predict_file
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import _case_counts, _say_phenotype_notes

GENOTYPED = [f"P{i:04d}" for i in range(20)]
#: The registry's patients who were not genotyped: all cases, so counting any of them shows.
EXTRA = ["P0017X", "P0023", "P0031", "P0044", "P0052"]
LABELS = [i % 2 for i in range(20)]
CODE = "phenotypes_without_genotypes"


def _site(folder: Path, phenotype_ids: list[str], labels: list[int]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    dosages = np.tile(np.array([[0, 1], [1, 2], [2, 0], [1, 1]], dtype=np.int8), (5, 1))
    genotypes = folder / "genotypes.vcf"
    write_vcf(genotypes, dosages, GENOTYPED, ["1:100:A:G", "1:200:C:T"])
    phenotypes = folder / "phenotypes.csv"
    rows = [f"{sample},{label}" for sample, label in zip(phenotype_ids, labels, strict=True)]
    phenotypes.write_text("sample_id,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return genotypes, phenotypes


def _with_extra(folder: Path) -> tuple[Path, Path]:
    """Every genotyped patient's row, with the registry's extra rows in among them."""
    ids = [*GENOTYPED[:10], *EXTRA, *GENOTYPED[10:]]
    labels = [*LABELS[:10], *[1] * len(EXTRA), *LABELS[10:]]
    return _site(folder, ids, labels)


def test_extra_rows_are_left_out_with_a_warning(tmp_path):
    genotypes, phenotypes = _with_extra(tmp_path)
    site = load_site(genotypes, phenotypes)
    assert site.cohort.sample_ids == GENOTYPED
    np.testing.assert_array_equal(site.cohort.labels, LABELS)
    assert site.cohort.covariates.index.tolist() == GENOTYPED
    summary = site.summary()
    assert (summary["samples"], summary["cases"], summary["controls"]) == (20, 10, 10)
    (warning,) = [w for w in site.warnings if w.code == CODE]
    assert warning.message == (
        f"5 phenotype row(s) of {phenotypes} have no genotypes in {genotypes}: "
        "P0017X, P0023, P0031 and 2 more; they are not used"
    )


def test_the_warning_code_is_written_as_the_other_checks_codes(tmp_path):
    site = load_site(*_with_extra(tmp_path))
    codes = {w.code for w in site.warnings}
    assert CODE in codes
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_data_check_says_it_and_its_json_carries_it(tmp_path, capsys):
    genotypes, phenotypes = _with_extra(tmp_path)
    assert main(["data", "check", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]) == 0
    out = capsys.readouterr().out
    assert f"[{CODE}] 5 phenotype row(s) of {phenotypes} have no genotypes" in out
    assert re.search(r"samples:\s+20 \(10 cases, 10 controls\)", out)
    code = main(["data", "check", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] is True and report["samples"] == 20 and report["cases"] == 10
    (warning,) = [w for w in report["warnings"] if w["code"] == CODE]
    assert warning["message"].endswith("P0017X, P0023, P0031 and 2 more; they are not used")


def test_a_genotyped_sample_without_a_row_is_still_refused(tmp_path):
    genotypes, phenotypes = _site(tmp_path, [*GENOTYPED[:-1], *EXTRA], [*LABELS[:-1], *[1] * 5])
    with pytest.raises(DataError) as refused:
        load_site(genotypes, phenotypes)
    assert refused.value.problem == f"1 sample(s) of {genotypes} have no row here: P0019"
    assert refused.value.file == str(phenotypes)


def test_files_whose_ids_do_not_match_are_still_refused(tmp_path):
    """No genotyped sample has a row: the ids are written otherwise (here FID_IID in the phenotypes)."""
    pasted = [f"FAM_{sample}" for sample in GENOTYPED]
    genotypes, phenotypes = _site(tmp_path / "pasted", pasted, LABELS)
    with pytest.raises(DataError) as refused:
        load_site(genotypes, phenotypes)
    assert refused.value.problem.startswith(f"20 sample(s) of {genotypes} have no row here")
    assert refused.value.hint.startswith("do not remove them")
    unrelated = [f"R{i}" for i in range(30)]
    genotypes, phenotypes = _site(tmp_path / "unrelated", unrelated, [i % 2 for i in range(30)])
    with pytest.raises(DataError, match="20 sample.s. of .* have no row here"):
        load_site(genotypes, phenotypes)


def test_most_genotyped_samples_without_a_row_is_still_refused(tmp_path):
    ids = [*GENOTYPED[:5], *(f"Q{i}" for i in range(15))]
    genotypes, phenotypes = _site(tmp_path, ids, LABELS)
    with pytest.raises(DataError, match="15 sample.s. of .* have no row here"):
        load_site(genotypes, phenotypes)


@pytest.mark.parametrize(
    ("spelling", "said"),
    [
        ("\u04200001", "Cyrillic letters that look Latin"),  # a Cyrillic Р, beside the Latin P0001 row
        ("P0001 ", "surrounding whitespace"),
    ],
)
def test_an_extra_row_that_looks_like_a_genotyped_id_is_refused(tmp_path, spelling, said):
    """The same person written otherwise is no extra patient of the registry: refused, as before."""
    genotypes, phenotypes = _site(tmp_path, [*GENOTYPED, spelling], [*LABELS, 1])
    with pytest.raises(DataError) as refused:
        load_site(genotypes, phenotypes)
    assert f"1 sample(s) of {phenotypes} have no genotypes here" in refused.value.problem
    assert said in refused.value.problem


def test_an_extra_row_in_another_unicode_form_is_refused(tmp_path):
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    dosages = np.tile(np.array([[0], [1], [2], [1]], dtype=np.int8), (5, 1))
    genotypes = tmp_path / "g.vcf"
    write_vcf(genotypes, dosages, [*GENOTYPED[:19], composed], ["1:100:A:G"])
    phenotypes = tmp_path / "p.csv"
    rows = [f"{s},{i % 2}" for i, s in enumerate([*GENOTYPED[:19], composed, decomposed])]
    phenotypes.write_text("sample_id,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"only in Unicode form \(NFD vs NFC"):
        load_site(genotypes, phenotypes)


def test_predict_scores_the_genotyped_and_notes_the_rest(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    expected = predict_file(model, genotypes, phenotypes=phenotypes)
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    extra = frame.iloc[:2].assign(sample_id=["NEW1", "NEW2"])
    pd.concat([frame, extra]).to_csv(phenotypes, index=False)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    np.testing.assert_array_equal(result.risks, expected.risks)
    assert result.sample_ids == expected.sample_ids
    assert any(note.startswith("2 phenotype row(s) of") and "NEW1, NEW2" in note for note in result.notes)


def test_a_simulation_counts_only_genotyped_cases_and_says_so(tmp_path):
    data = tmp_path / "federation"
    _with_extra(data / "h1")
    settings = RunSettings(data_dir=str(data), ledger_dir=str(tmp_path / "ledgers"))
    assert _case_counts(settings, {"h1"}) == {"h1": 10}
    said: list[str] = []
    _say_phenotype_notes(settings, hospital_folders(data), said.append)
    assert any(line.startswith("warning: h1: 5 phenotype row(s) of") for line in said), said


@pytest.mark.parametrize("kind", ["vcf", "vcf.gz", "plink", "csv"])
def test_the_patients_that_bind_a_ledger_are_the_cohorts(tmp_path, kind):
    """`site_patients` (synth's ledger binding) reads the genotypes' ids from the header or .fam; they
    must be the cohort's, which `hospital check` binds, not the phenotype file's."""
    _, phenotypes = _with_extra(tmp_path)
    dosages = read_genotypes(tmp_path / "genotypes.vcf").dosages
    ids = ["1:100:A:G", "1:200:C:T"]
    if kind == "plink":
        write_plink(tmp_path / "g", dosages, GENOTYPED, ids)
        genotypes = tmp_path / "g.bed"
    elif kind == "csv":
        genotypes = tmp_path / "g.csv"
        pd.DataFrame(dosages, index=pd.Index(GENOTYPED, name="sample_id"), columns=ids).to_csv(genotypes)
    else:
        genotypes = tmp_path / f"g.{kind}"
        write_vcf(genotypes, dosages, GENOTYPED, ids)
    assert genotype_sample_ids(genotypes) == read_genotypes(genotypes).sample_ids == GENOTYPED
    assert site_patients(genotypes, phenotypes) == load_site(genotypes, phenotypes).cohort.sample_ids


@pytest.mark.parametrize("lost", [2, 5])
def test_a_fam_that_lost_a_line_is_still_refused(tmp_path, lost):
    """A .fam that lost a line still fits its .bed (padded to 4 samples a byte), and every later
    sample would carry its neighbour's genotypes: its lost sample has a row but no genotypes, which
    alone is now only a warning. The .bed's padding, 0 bits as PLINK writes it, holds a call then."""
    ids = GENOTYPED[:6]
    dosages = np.array([[0, 1], [1, 2], [2, 0], [1, 1], [0, 2], [2, 1]], dtype=np.int8)
    write_plink(tmp_path / "g", dosages, ids, ["1:100:A:G", "1:200:C:T"])
    phenotypes = tmp_path / "p.csv"
    phenotypes.write_text("sample_id,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(ids)))
    extra = tmp_path / "extra.csv"
    extra.write_text(phenotypes.read_text() + "P0099,1\n")
    site = load_site(tmp_path / "g.bed", extra, min_samples=1)  # a complete fileset: a warning
    assert [w.code for w in site.warnings if w.code == CODE] == [CODE]
    fam = tmp_path / "g.fam"
    lines = fam.read_text().splitlines(keepends=True)
    fam.write_text("".join(lines[:lost] + lines[lost + 1 :]))
    with pytest.raises(DataError) as refused:
        load_site(tmp_path / "g.bed", phenotypes, min_samples=1)
    assert refused.value.file == str(tmp_path / "g.bed")
    expected = f"1 sample(s) of {phenotypes} have no genotypes here ({ids[lost]})"
    assert refused.value.problem.startswith(expected)
    assert "the .fam may have lost a line" in refused.value.problem

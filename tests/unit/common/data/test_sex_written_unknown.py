"""A `sex` cell written as unknown (`U`, `unknown`, any case, the Russian `неизвестно`), as a
registry's export writes it for a patient whose sex is not recorded, is a missing sex: the model
imputes it, as for an empty cell, and the missing-covariate warning and notes count it. It used to
refuse the whole phenotype file ("sex 'U' is not recognised"). Any other unknown code is still
refused, and a PLINK .fam's sex 0 keeps its meaning there (the haploid rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import model_file, write_people

from genofed.common.data.loading import load_site
from genofed.common.data.readers import read_phenotypes
from genofed.common.errors import DataError
from genofed.common.scoring.predict import predict_file

UNKNOWN = ["U", "u", "unknown", "Unknown", "UNKNOWN", "неизвестно", "Неизвестно", " U "]


def _phenotypes(tmp_path, sexes: list[str]):
    path = tmp_path / "pheno.csv"
    rows = [f"P{i},{i % 2},{sex},40" for i, sex in enumerate(sexes)]
    path.write_text("sample_id,label,sex,age\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_sex_written_unknown_is_read_as_missing(tmp_path):
    pheno = read_phenotypes(_phenotypes(tmp_path, ["M", "F", "", *UNKNOWN]))
    sexes = pheno.covariates["sex"].to_numpy()
    np.testing.assert_array_equal(sexes[:2], [0.0, 1.0])
    assert np.isnan(sexes[2:]).all()


@pytest.mark.parametrize("code", ["X", "2", "?", "unk", "9"])
def test_other_sex_codes_are_still_refused(tmp_path, code):
    with pytest.raises(DataError) as refused:
        read_phenotypes(_phenotypes(tmp_path, ["M", code]))
    assert refused.value.problem.startswith(f"sex {code!r} is not recognised")
    assert "write U" in refused.value.hint


def test_a_check_counts_them_with_the_missing_covariates(tmp_path, write_vcf):
    genotypes = write_vcf(["1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0"], samples=["P0", "P1", "P2"])
    site = load_site(genotypes, _phenotypes(tmp_path, ["U", "неизвестно", "F"]), min_samples=1)
    (warning,) = [w for w in site.warnings if w.code == "missing_covariate"]
    assert warning.message.startswith("covariate sex is missing for 2 sample(s): P0, P1")


def test_predict_imputes_them_and_says_so(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    frame = pd.read_csv(phenotypes, dtype=str, keep_default_na=False)
    frame.loc[:2, "sex"] = ["U", "unknown", "неизвестно"]
    frame.to_csv(phenotypes, index=False)
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    assert any("covariate sex unknown for 3 of 60 people" in note for note in result.notes)
    blank = frame.copy()
    blank.loc[:2, "sex"] = ""
    blank.to_csv(phenotypes, index=False)
    np.testing.assert_array_equal(result.risks, predict_file(model, genotypes, phenotypes=phenotypes).risks)

"""A clinical lab's variants-only VCF (only the sites where the patient carries an ALT allele; a
gVCF reads alike, its reference blocks skipped) covers too little of the panel: the refusal says
it looks like a variants-only export, that an absent site cannot be read as 0/0, and how to export
every panel position, not "check the genome build" (an outside walkthrough's one-patient VCF)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.model_files import model_file, panel

from genofed.cli.main import main
from genofed.common.data.panel import align_to_panel
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError
from genofed.common.scoring.model_file import save_model_file


def _vcf(path, dosages: list[int]):
    """One patient's VCF of the panel's first len(dosages) sites, with these calls."""
    ids = list(panel().variant_ids)[: len(dosages)]
    write_vcf(path, np.array([dosages], dtype=np.int8), ["PATIENT1"], ids)
    return path


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.pt"
    save_model_file(path, model_file())
    return path


def _predict_error(tmp_path, model, genotypes, capsys) -> str:
    args = ["predict", "--model", str(model), "--genotypes", str(genotypes), "--out", str(tmp_path / "r.csv")]
    assert main(args) == 2
    return capsys.readouterr().err


def test_a_file_with_no_0_0_call_is_named_a_variants_only_export(tmp_path, model, capsys):
    err = _predict_error(tmp_path, model, _vcf(tmp_path / "v.vcf", [1, 2] * 8), capsys)
    assert "covers only 53.3% of the model's 30 panel variants" in err
    assert "every genotype the file calls carries an ALT allele (not one 0/0)" in err
    assert "looks like a variants-only export" in err and "cannot be read as homozygous REF" in err
    assert "bcftools mpileup -f REF.fa -T positions.tsv" in err and "bcftools convert --gvcf2vcf" in err
    assert "check that the genome build" not in err


def test_a_file_that_calls_0_0_keeps_the_build_advice(tmp_path, model, capsys):
    err = _predict_error(tmp_path, model, _vcf(tmp_path / "v.vcf", [0, 1, 2] * 5), capsys)
    assert "check that the genome build and chromosome names match the panel" in err
    assert "variants-only" not in err


def test_a_hospitals_data_check_says_it_too(tmp_path):
    """`align_to_panel`, the hospital side's reading against the federation's panel."""
    dosages = np.array([[1, 2] * 8, [2, 1] * 8], dtype=np.int8)
    ids = list(panel().variant_ids)[:16]
    with pytest.raises(DataError) as refused:
        align_to_panel(dosages, ids, panel(), source="site.vcf")
    assert "looks like a variants-only export" in refused.value.problem
    assert "bcftools convert --gvcf2vcf" in refused.value.hint
    dosages[0, 0] = 0
    with pytest.raises(DataError) as refused:
        align_to_panel(dosages, ids, panel(), source="site.vcf")
    assert "variants-only" not in refused.value.problem and "genome build" in refused.value.hint

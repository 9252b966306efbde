"""Sample ids that look the same but do not match: the refusal says they differ only in Unicode form
(NFC vs NFD) or surrounding whitespace, and shows both spellings escaped, since on screen they are
identical. Ids are never normalised: the ledger and the predictions match them exactly."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.checks import join_cohort
from genofed.common.data.cohort import GenotypeMatrix, Phenotypes
from genofed.common.data.loading import load_site
from genofed.common.errors import DataError

COMPOSED = unicodedata.normalize("NFC", "José Ñ")
DECOMPOSED = unicodedata.normalize("NFD", "José Ñ")


def _genotypes(ids: list[str]) -> GenotypeMatrix:
    dosages = np.tile(np.array([[0], [1], [2]], dtype=np.int8), (len(ids), 1))[: len(ids)]
    return GenotypeMatrix(dosages, ids, ["1:100:A:G"], source="unicode.vcf")


def _phenotypes(ids: list[str]) -> Phenotypes:
    covariates = pd.DataFrame(index=pd.Index(ids, name="sample_id"))
    return Phenotypes(ids, np.zeros(len(ids), dtype=np.int8), covariates, source="ph.csv")


def _refusal(genotype_ids: list[str], phenotype_ids: list[str]) -> DataError:
    with pytest.raises(DataError) as refused:
        join_cohort(_genotypes(genotype_ids), _phenotypes(phenotype_ids))
    return refused.value


def test_ids_in_nfc_and_nfd_are_named_as_a_unicode_form_difference():
    assert COMPOSED != DECOMPOSED
    e = _refusal(["P1", COMPOSED], ["P1", DECOMPOSED])
    assert "1 sample(s) of unicode.vcf have no row here" in e.problem
    assert "differ from an id here only in Unicode form (NFC vs NFD" in e.problem
    assert f"{ascii(COMPOSED)} in unicode.vcf and {ascii(DECOMPOSED)} here" in e.problem
    assert "NFC" in e.hint and "matches ids exactly" in e.hint


def test_the_other_direction_is_explained_too():
    e = _refusal(["P1", DECOMPOSED], ["P1", DECOMPOSED, COMPOSED])
    assert e.file == "unicode.vcf" and "have no genotypes here" in e.problem
    assert "only in Unicode form (NFC vs NFD" in e.problem


def test_ids_differing_only_by_surrounding_whitespace_are_named():
    e = _refusal(["P1", " P2"], ["P1", "P2"])
    assert "only in surrounding whitespace, e.g. ' P2' in unicode.vcf and 'P2' here" in e.problem
    assert "Unicode" not in e.problem and "NFC" not in e.hint


def test_unrelated_ids_keep_the_plain_refusal():
    e = _refusal(["P1", "P9"], ["P1", "P2"])
    assert e.problem == "1 sample(s) of unicode.vcf have no row here: P9"
    assert "differ" not in e.problem


def test_files_in_different_forms_are_refused_with_the_explanation(tmp_path: Path):
    samples = [f"S{i}" for i in range(19)] + [COMPOSED]
    vcf = tmp_path / "unicode.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(["0/0", "0/1", "1/1", "0/1"] * 5) + "\n",
        encoding="utf-8",
    )
    pheno = tmp_path / "ph.csv"
    rows = [f"{s},{i % 2}" for i, s in enumerate(samples[:-1])] + [f"{DECOMPOSED},1"]
    pheno.write_text("sample_id,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"only in Unicode form \(NFC vs NFD"):
        load_site(vcf, pheno)


def test_a_cyrillic_letter_that_looks_latin_is_named_with_what_to_do():
    """`NА19307` typed on a Russian keyboard layout (Cyrillic А, U+0410) against the VCF's NA19307:
    identical on screen (an outside walkthrough got only 'have no row here: NA19307')."""
    cyrillic = "N\u041019307"
    e = _refusal(["P1", "NA19307"], ["P1", cyrillic])
    assert "1 sample(s) of unicode.vcf have no row here: NA19307" in e.problem
    assert "only in Cyrillic letters that look Latin ('\\u0410' CYRILLIC CAPITAL LETTER A)" in e.problem
    assert f"{ascii('NA19307')} in unicode.vcf and {ascii(cyrillic)} here" in e.problem
    assert "retype the Cyrillic letters in Latin" in e.hint and "NFC" not in e.hint


@pytest.mark.parametrize(
    ("genotype_ids", "phenotype_ids", "how", "example"),
    [
        (
            [f"HG{i:05d}_HG{i:05d}" for i in range(6)],
            [f"HG{i:05d}" for i in range(6)],
            "PLINK's family and individual ids pasted into one (FID_IID)",
            "'HG00000_HG00000' in unicode.vcf and 'HG00000' in ph.csv",
        ),
        (
            [f"FAM{i}_NA{i:05d}" for i in range(6)],  # PLINK's usual FID_IID
            [f"NA{i:05d}" for i in range(6)],
            "PLINK's family and individual ids pasted into one (FID_IID)",
            "'FAM0_NA00000' in unicode.vcf and 'NA00000' in ph.csv",
        ),
        (
            [f"NA{i:05d}" for i in range(6)],  # the pasted ids in the phenotype file
            [f"0_NA{i:05d}" for i in range(6)],
            "PLINK's family and individual ids pasted into one (FID_IID)",
            "'NA00000' in unicode.vcf and '0_NA00000' in ph.csv",
        ),
        (
            [f"{i:06d}" for i in range(1, 7)],
            [str(i) for i in range(1, 7)],
            "leading zeros lost in one file",
            "'000001' in unicode.vcf and '1' in ph.csv",
        ),
    ],
)
def test_ids_renamed_as_a_whole_are_not_advised_away(genotype_ids, phenotype_ids, how, example):
    """When most ids miss the other file's in one systematic way, 'remove them from the genotypes'
    would delete the cohort (an outside walkthrough): the refusal names the pattern instead."""
    e = _refusal(genotype_ids, phenotype_ids)
    assert "6 sample(s) of unicode.vcf have no row here" in e.problem
    assert e.hint.startswith(f"do not remove them: 6 of the 6 ids match the other file's once read as {how}")
    assert example in e.hint and "remove them from the genotypes" not in e.hint


def test_a_few_unmatched_ids_keep_the_usual_advice():
    e = _refusal(["P1", "P2", "P3", "P4", "P1_P1"], ["P1", "P2", "P3", "P4", "P5"])
    assert "remove them from the genotypes" in e.hint

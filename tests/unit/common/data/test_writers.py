"""Writers round-trip through htslib (cyvcf2), bed_reader and genofed's own readers."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.writers import write_phenotypes, write_plink, write_vcf

IDS = ["1:100:A:G", "1:200:C:T", "2:50:G:A", "2:70:T:C"]
SAMPLES = ["S1", "S2", "S3", "S4", "S5"]


@pytest.fixture
def haplotypes() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, (5, 4, 2)).astype(np.int8)


def test_phased_vcf_round_trip_through_cyvcf2(tmp_path, haplotypes):
    import cyvcf2

    path = tmp_path / "g.vcf.gz"
    write_vcf(path, haplotypes, SAMPLES, IDS)
    assert path.read_bytes()[12:16] == b"BC\x02\x00"  # BGZF extra field: indexable by tabix
    vcf = cyvcf2.VCF(str(path))
    assert vcf.samples == SAMPLES
    records = list(vcf)
    assert [r.ID for r in records] == IDS
    for j, record in enumerate(records):
        gts = np.array([g[:2] for g in record.genotypes])
        assert (gts == haplotypes[:, j]).all()
        assert all(g[2] for g in record.genotypes)  # phased
    header = gzip.decompress(path.read_bytes()).decode()
    assert "##contig=<ID=1>" in header and "##contig=<ID=2>" in header


def test_dosage_vcf_with_missing_reads_back(tmp_path, haplotypes):
    from genofed.common.data.readers import read_genotypes

    dosages = haplotypes.sum(axis=2).astype(np.int8)
    dosages[0, 0] = -1
    write_vcf(tmp_path / "g.vcf.gz", dosages, SAMPLES, IDS)
    matrix = read_genotypes(tmp_path / "g.vcf.gz")
    assert matrix.sample_ids == SAMPLES and matrix.variant_ids == IDS
    assert (matrix.dosages == dosages).all()


def test_same_data_same_bytes(tmp_path, haplotypes):
    write_vcf(tmp_path / "a.vcf.gz", haplotypes, SAMPLES, IDS)
    write_vcf(tmp_path / "b.vcf.gz", haplotypes, SAMPLES, IDS)
    assert (tmp_path / "a.vcf.gz").read_bytes() == (tmp_path / "b.vcf.gz").read_bytes()


def test_vcf_refuses_bad_input(tmp_path, haplotypes):
    with pytest.raises(ValueError, match="phased"):
        write_vcf(tmp_path / "x.vcf", haplotypes.sum(axis=2), SAMPLES, IDS, phased=True)
    with pytest.raises(ValueError, match="one block"):
        write_vcf(tmp_path / "x.vcf", haplotypes, SAMPLES, ["1:1:A:G", "2:1:A:G", "1:5:A:G", "2:9:A:G"])
    with pytest.raises(ValueError, match="sample ids"):
        write_vcf(tmp_path / "x.vcf", haplotypes, SAMPLES[:4], IDS)
    assert not list(tmp_path.iterdir())


def test_plink_counts_alt_allele(tmp_path, haplotypes):
    from bed_reader import open_bed

    dosages = haplotypes.sum(axis=2).astype(np.int8)
    write_plink(tmp_path / "g", dosages, SAMPLES, IDS)
    with open_bed(tmp_path / "g.bed") as bed:
        assert (bed.read(dtype="int8") == dosages).all()
        assert list(bed.allele_1) == ["G", "T", "A", "C"]  # A1 = ALT, as plink2 --make-bed
        assert list(bed.sid) == IDS


def test_numeric_sex_is_refused(tmp_path):
    """0/1 has no agreed direction (the reader takes 0 = male): the writer must not guess."""
    with pytest.raises(ValueError, match="F/M"):
        write_phenotypes(tmp_path / "p.csv", ["a"], np.array([0]), pd.DataFrame({"sex": [0]}))
    assert not (tmp_path / "p.csv").exists()


def test_phenotypes_csv_round_trip(tmp_path):
    from genofed.common.data.readers import read_phenotypes

    covariates = pd.DataFrame({"sex": ["female", "M", "m"], "age": [5, 40, 77]})
    write_phenotypes(tmp_path / "p.csv", ["a", "b", "c"], np.array([0, 1, 0]), covariates)
    assert (tmp_path / "p.csv").read_text().splitlines() == [
        "sample_id,label,sex,age",
        "a,0,F,5",
        "b,1,M,40",
        "c,0,M,77",
    ]
    phenotypes = read_phenotypes(tmp_path / "p.csv")
    assert phenotypes.sample_ids == ["a", "b", "c"]
    assert list(phenotypes.labels) == [0, 1, 0]

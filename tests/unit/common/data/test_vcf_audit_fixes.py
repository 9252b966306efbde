"""The audit's VCF and alignment defects: REF-only sites (ALT '.'), allele 1 at such a site,
swapped matches of a multi-allelic site, contigs named with ':', symbolic ALTs, and the haploid
refusal's hint on chr-named files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from genofed.common.data.cohort import MISSING
from genofed.common.data.panel import VariantPanel, align_to_panel
from genofed.common.data.panel_building import build_panel
from genofed.common.data.readers import read_vcf
from genofed.common.data.variant_summary import Release, VariantSummary
from genofed.common.errors import DataError

POLYMORPHIC = "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0"
REF_ONLY = "1\t200\t.\tC\t.\t.\t.\t.\tGT\t0/0\t./.\t0|0"


def error(call, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    assert info.value.hint, "every DataError tells the user what to do"
    return info.value


# --- REF-only sites (ALT '.') ----------------------------------------------------------------


def test_ref_only_site_is_kept_with_dosage_zero_and_a_note(write_vcf):
    matrix = read_vcf(write_vcf([POLYMORPHIC, REF_ONLY]))
    assert matrix.variant_ids == ["1:100:A:G", "1:200:C:."]
    np.testing.assert_array_equal(matrix.dosages[:, 1], [0, MISSING, 0])
    assert any("1 site(s) with no ALT allele (ALT '.') were kept as REF-only" in n for n in matrix.notes)


@pytest.mark.parametrize(
    ("panel_id", "expected"),
    [
        ("1:200:C:T", [0, MISSING, 0]),  # the site's allele is the panel's REF: homozygous REF
        ("1:200:T:C", [2, MISSING, 2]),  # ... the panel's ALT: homozygous ALT
    ],
)
def test_ref_only_vcf_site_aligns_to_the_panel_variant_at_its_position(write_vcf, panel_id, expected):
    matrix = read_vcf(write_vcf([POLYMORPHIC, REF_ONLY]))
    panel = VariantPanel(["1:100:A:G", panel_id], np.array([0.5, 0.3]))
    aligned, alignment = align_to_panel(matrix.dosages, matrix.variant_ids, panel, min_coverage=0)
    np.testing.assert_array_equal(aligned[:, 1], expected)
    assert alignment.absent == 0


def test_ref_only_id_from_any_reader_aligns():
    # the PLINK reader writes a variant whose other allele is '0' or '.' with the same id
    dosages = np.array([[0], [MISSING], [0]], dtype=np.int8)
    panel = VariantPanel(["1:200:T:C", "1:200:G:T"], np.array([0.4, 0.1]))
    aligned, alignment = align_to_panel(dosages, ["1:200:C:."], panel, min_coverage=0.5)
    np.testing.assert_array_equal(aligned[:, 0], [2, MISSING, 2])
    np.testing.assert_array_equal(aligned[:, 1], [MISSING] * 3)  # C is neither allele: absent
    assert (alignment.swapped, alignment.absent) == (1, 1)


def test_ref_only_sites_never_become_panel_variants():
    release = Release("exact", round_to=0)
    sites = [
        VariantSummary(name, ["1:100:A:G", "1:200:C:."], [200, 200], [20, 0], 100, release)
        for name in ("a", "b")
    ]
    panel, report = build_panel(sites)
    assert panel.variant_ids == ["1:100:A:G"]
    assert report.ref_only == 2 and report.variants_seen == 1


def test_panel_file_with_a_ref_only_line_is_refused(tmp_path):
    path = tmp_path / "panel.tsv"
    path.write_text("id\tchrom\tpos\tref\talt\talt_freq\n1:200:C:.\t1\t200\tC\t.\t0\n")
    e = error(VariantPanel.load, path)
    assert e.location == "line 2" and "names one allele" in e.problem


def test_allele_one_at_a_site_without_alt_is_refused(write_vcf):
    e = error(read_vcf, write_vcf([POLYMORPHIC, "1\t200\t.\tC\t.\t.\t.\t.\tGT\t0/0\t0/1\t0/0"]))
    assert e.location == "line 6 (variant 1:200:C:.), sample S2"
    assert "'0/1' refers to allele 1 but the site has no ALT allele" in e.problem


# --- multi-allelic sites matched with REF/ALT swapped -----------------------------------------


MULTI = "1\t300\t.\tC\tA,G\t.\t.\t.\tGT\t0/2\t1/2\t2/2\t0/0"


def test_swapped_match_of_a_multiallelic_component_is_missing_not_flipped(write_vcf, caplog):
    matrix = read_vcf(write_vcf([MULTI]))
    panel = VariantPanel(["1:300:A:C"], np.array([0.7]))
    with caplog.at_level(logging.WARNING):
        aligned, alignment = align_to_panel(matrix.dosages, matrix.variant_ids, panel, min_coverage=0)
    # copies of C are 1, 0, 0, 2: a flip of the C>A column would give 2, 1, 2, 2
    np.testing.assert_array_equal(aligned[:, 0], [MISSING] * 4)
    assert (alignment.unflippable, alignment.swapped, alignment.absent) == (1, 0, 1)
    assert "1 panel variant(s) match one ALT allele of a multi-allelic site" in caplog.text


def test_multiallelic_component_in_the_panel_orientation_is_kept(write_vcf):
    matrix = read_vcf(write_vcf([MULTI]))
    panel = VariantPanel(["1:300:C:G"], np.array([0.5]))
    aligned, alignment = align_to_panel(matrix.dosages, matrix.variant_ids, panel, min_coverage=1.0)
    np.testing.assert_array_equal(aligned[:, 0], [1, 1, 2, 0])
    assert alignment.unflippable == 0


def test_multiallelic_site_split_upstream_is_not_flipped_either():
    # bcftools norm -m -any: two records with the same REF; a call carrying G reads 0 copies of A
    dosages = np.array([[0, 2], [1, 1]], dtype=np.int8)
    panel = VariantPanel(["1:300:A:C", "1:400:A:G"], np.array([0.7, 0.5]))
    site = ["1:300:C:A", "1:300:C:G"]
    aligned, alignment = align_to_panel(dosages, site, panel, min_coverage=0)
    np.testing.assert_array_equal(aligned[:, 0], [MISSING, MISSING])
    assert alignment.unflippable == 1


# --- contigs named with ':', symbolic ALTs, the haploid hint ------------------------------------


def test_record_on_a_contig_named_with_colons_is_skipped_with_a_note(write_vcf):
    hla = "HLA-A*01:01:01:01\t100\t.\tG\tC\t.\t.\t.\tGT\t0/1\t0/0\t1/1"
    matrix = read_vcf(write_vcf([POLYMORPHIC, hla]))
    assert matrix.variant_ids == ["1:100:A:G"]
    assert any("1 record(s) on contig(s) whose name holds ':' (HLA-A*01:01:01:01)" in n for n in matrix.notes)


def test_symbolic_alt_alleles_are_dropped_and_their_calls_missing(write_vcf):
    rows = [
        "1\t100\t.\tA\tG,<NON_REF>\t.\t.\t.\tGT\t0/1\t1/2\t0/0",
        "1\t200\t.\tC\t<DEL>\t.\t.\t.\tGT\t0/1\t0/0\t0/0",
        "1\t300\t.\tT\tG,*\t.\t.\t.\tGT\t0/2\t1/1\t2/2",
    ]
    matrix = read_vcf(write_vcf(rows))
    assert matrix.variant_ids == ["1:100:A:G", "1:300:T:G"]
    np.testing.assert_array_equal(matrix.dosages, np.array([[1, MISSING, 0], [MISSING, 2, MISSING]]).T)
    assert any("3 symbolic ALT allele(s)" in n and "1 record(s) with no other ALT" in n for n in matrix.notes)
    assert not any("multi-allelic" in n for n in matrix.notes)


def test_haploid_hint_spells_the_sex_contigs_as_the_file_does(write_vcf):
    e = error(read_vcf, write_vcf(["chrX\t100\t.\tA\tG\t.\t.\t.\tGT\t1\t0\t1"]))
    assert "bcftools view -t ^chrX,chrY,chrM,chrMT)" in e.hint
    e = error(read_vcf, write_vcf(["X\t100\t.\tA\tG\t.\t.\t.\tGT\t1\t0\t1"]))
    assert "bcftools view -t ^X,Y,M,MT)" in e.hint
    # a chr-prefixed GRCh37 export names the mitochondrion chrMT: `^chrX,chrY,chrM` kept it, and the
    # same refusal came back (an array-scale walkthrough); another non-autosome is named as it is
    e = error(read_vcf, write_vcf(["chrMT\t100\t.\tA\tG\t.\t.\t.\tGT\t1\t0\t1"]))
    assert "bcftools view -t ^chrX,chrY,chrM,chrMT)" in e.hint
    e = error(read_vcf, write_vcf(["chrXY\t100\t.\tA\tG\t.\t.\t.\tGT\t1\t0\t1"]))
    assert "bcftools view -t ^chrX,chrY,chrM,chrMT,chrXY)" in e.hint
    e = error(read_vcf, write_vcf(["chr7\t100\t.\tA\tG\t.\t.\t.\tGT\t1\t0\t1"]))
    assert "^chrX,chrY,chrM,chrMT)" in e.hint  # an autosome's haploid call: no exclusion fixes it


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ("1\t300\t.\tG\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0", "the record's ALT G repeats its REF (G)"),
        ("1\t300\t.\tG\tT,T\t.\t.\t.\tGT\t0/1\t1/2\t0/0", "the record's ALT T,T lists the same allele twice"),
    ],
)
def test_an_alt_that_repeats_the_ref_or_another_alt_is_refused_by_line(write_vcf, record, said):
    """A fuzzing review: ALT equal to REF passed `data check` as monomorphic variant 1:300:G:G, and
    ALT T,T was said to be one variant appearing twice on the same line."""
    refused = error(read_vcf, write_vcf([POLYMORPHIC, record]))
    assert said in str(refused) and "1:300" in str(refused)

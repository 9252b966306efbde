"""Panel alignment: order, swapped alleles, imputation of what a site lacks, coverage refusal."""

from __future__ import annotations

import numpy as np
import pytest

from genofed.common.data.cohort import MISSING
from genofed.common.data.panel import VariantPanel, align_to_panel, impute_dosages
from genofed.common.errors import DataError

PANEL = VariantPanel(
    ["1:100:A:G", "1:200:C:T", "2:50:G:A", "2:70:T:C"],
    np.array([0.10, 0.25, 0.40, 0.05]),
)


def test_aligns_order_flips_swapped_and_marks_absent():
    # The site has the panel's variants in another order, 2:50 with REF/ALT swapped (A>G instead
    # of G>A), lacks 2:70, and has one variant the panel does not know.
    site_ids = ["2:50:A:G", "9:1:A:C", "1:200:C:T", "1:100:A:G"]
    dosages = np.array(
        [
            [0, 1, 2, 1],
            [2, 0, MISSING, 0],
            [1, 2, 0, MISSING],
        ],
        dtype=np.int8,
    )
    aligned, alignment = align_to_panel(dosages, site_ids, PANEL, min_coverage=0.5)

    expected = np.array(
        [
            [1, 2, 2, MISSING],  # 2:50 flipped: 0 -> 2
            [0, MISSING, 0, MISSING],  # 2 -> 0; a missing call stays missing
            [MISSING, 0, 1, MISSING],  # 1 -> 1
        ],
        dtype=np.int8,
    )
    np.testing.assert_array_equal(aligned, expected)
    assert aligned.dtype == np.int8
    assert (alignment.matched, alignment.swapped, alignment.absent, alignment.site_only) == (2, 1, 1, 1)
    assert alignment.coverage == pytest.approx(0.75)


def test_flip_does_not_modify_the_callers_matrix():
    dosages = np.array([[0, 2]], dtype=np.int8)
    align_to_panel(dosages, ["2:50:A:G", "1:100:A:G"], PANEL, min_coverage=0.0)
    np.testing.assert_array_equal(dosages, [[0, 2]])


def test_chr_prefix_and_case_are_normalised_by_readers_not_alignment():
    # Alignment is by exact normalised id; a `chr1` id that slipped through does not match.
    with pytest.raises(DataError, match="covers only 0.0%"):
        align_to_panel(np.zeros((2, 1), np.int8), ["chr1:100:A:G"], PANEL, min_coverage=0.1)


def test_refuses_low_coverage_with_actionable_message():
    dosages = np.zeros((5, 1), dtype=np.int8)
    with pytest.raises(DataError) as err:
        align_to_panel(dosages, ["1:100:A:G"], PANEL, source="site.vcf.gz", min_coverage=0.9)
    message = str(err.value)
    assert "site.vcf.gz" in message
    assert "25.0%" in message and "90%" in message
    assert "genome build" in message


def test_duplicated_site_variant_is_an_error():
    dosages = np.zeros((2, 2), dtype=np.int8)
    with pytest.raises(DataError, match="appears twice"):
        align_to_panel(dosages, ["1:100:A:G", "1:100:A:G"], PANEL, min_coverage=0.0)


def test_imputation_uses_panel_frequency_not_zero():
    aligned = np.array([[MISSING, 1, MISSING, 2]], dtype=np.int8)
    filled = impute_dosages(aligned, PANEL.alt_freq)
    assert filled.dtype == np.float32
    np.testing.assert_allclose(filled, [[0.2, 1.0, 0.8, 2.0]], rtol=1e-6)


def test_panel_round_trip_and_frequency_estimate(tmp_path):
    dosages = np.array([[0, 2], [1, MISSING], [1, 2]], dtype=np.int8)
    panel = VariantPanel.from_dosages(["1:100:A:G", "1:200:C:T"], dosages)
    np.testing.assert_allclose(panel.alt_freq, [2 / 6, 1.0])
    path = tmp_path / "panel.tsv"
    panel.save(path)
    loaded = VariantPanel.load(path)
    assert loaded.variant_ids == panel.variant_ids
    np.testing.assert_allclose(loaded.alt_freq, panel.alt_freq, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t1.5\n", "line 2.*not in \\[0, 1\\]"),
        ("id\tchrom\tpos\tref\talt\talt_freq\nrs123\t1\t100\tA\tG\t0.1\n", "line 2.*chrom:pos:ref:alt"),
        ("id\tfreq\n1:100:A:G\t0.1\n", "lacks column"),
        ("id\talt_freq\n1:100:A:G\t0.1\n1:100:A:G\t0.1\n", "line 3.*appears twice"),
        # a fuzzing review: '²' passed str.isdigit and int() raised a traceback; a ref column other
        # than its id's, and an id whose ALT is its REF, were taken
        (
            "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100²\tA\tG\t0.1\n",
            "line 2.*pos '100²' is not a position",
        ),
        (
            "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tC\tG\t0.1\n",
            "line 2.*ref 'C' is not the REF",
        ),
        ("id\tchrom\tpos\tref\talt\talt_freq\n1:100:G:G\t1\t100\tG\tG\t0.1\n", "line 2.*same REF and ALT"),
        ("id\talt_freq\n1:1٠٠:A:G\t0.1\n", "line 2.*chrom:pos:ref:alt"),  # Arabic-Indic digits
        (  # a line cut short: its columns, not "alt_freq nan"
            "id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\tA\tG\t0.1\n1:200:A:G\t1\t200\n",
            "line 3: 3 of 6 columns filled",
        ),
    ],
)
def test_bad_panel_files_are_reported_with_line(tmp_path, text, match):
    path = tmp_path / "panel.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        VariantPanel.load(path)


def _vcf(path, chrom: str) -> None:
    """Two samples at 1:100 and 1:200, their chromosome named `chrom`."""
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID={chrom}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
    )
    records = "".join(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\tGT\t0/1\t1/1\n" for pos, ref, alt in SITES)
    path.write_text(header + records)


SITES = [(100, "A", "G"), (200, "C", "T")]


@pytest.mark.parametrize("site_chrom", ["chr1", "1"])
def test_a_chr_named_panel_matches_a_site_of_either_naming(tmp_path, site_chrom):
    """`chr1` and `1` are one chromosome: a panel written with chr names used to match no site."""
    from genofed.common.data.readers import read_vcf

    panel_path = tmp_path / "panel.tsv"
    panel_path.write_text(
        "id\tchrom\tpos\tref\talt\talt_freq\n"
        + "".join(f"chr1:{pos}:{ref}:{alt}\tchr1\t{pos}\t{ref}\t{alt}\t0.5\n" for pos, ref, alt in SITES)
    )
    panel = VariantPanel.load(panel_path)
    assert panel.variant_ids == ["1:100:A:G", "1:200:C:T"]
    _vcf(tmp_path / "site.vcf", site_chrom)
    matrix = read_vcf(tmp_path / "site.vcf")
    aligned, alignment = align_to_panel(matrix.dosages, matrix.variant_ids, panel, min_coverage=1.0)
    assert alignment.matched == 2 and alignment.coverage == 1.0
    np.testing.assert_array_equal(aligned, [[1, 1], [2, 2]])


def test_one_variant_named_both_ways_in_a_panel_appears_twice(tmp_path):
    path = tmp_path / "panel.tsv"
    path.write_text("id\talt_freq\n1:100:A:G\t0.1\nchr1:100:A:G\t0.1\n")
    with pytest.raises(DataError, match="line 3: variant 1:100:A:G appears twice"):
        VariantPanel.load(path)


def test_empty_ref_and_alt_columns_are_unused_not_refused(tmp_path):
    """A review: a panel whose ref and alt cells are empty was refused as "ref 'NAN' is not the REF"."""
    path = tmp_path / "panel.tsv"
    path.write_text("id\tchrom\tpos\tref\talt\talt_freq\n1:100:A:G\t1\t100\t\t\t0.1\n")
    assert VariantPanel.load(path).variant_ids == ["1:100:A:G"]

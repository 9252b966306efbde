"""Gene regions: BED and gene-region tables read into one coordinate system, matched to the panel."""

from __future__ import annotations

import gzip
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.panel import VariantPanel
from genofed.common.data.regions import (
    GeneRegion,
    load_gene_regions,
    match_regions,
    variants_in_regions,
    write_gene_regions,
)
from genofed.common.errors import ConfigError


def _panel(ids: list[str]) -> VariantPanel:
    return VariantPanel(ids, np.full(len(ids), 0.2))


# VCF positions 1000, 1001, 2000, 2001 on chromosome 1, 500 on 2, 10 on X
PANEL = _panel(["1:1000:A:G", "1:2001:C:T", "1:1001:G:A", "1:2000:T:C", "2:500:A:C", "X:10:G:T"])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bed_is_zero_based_half_open(tmp_path):
    bed = _write(
        tmp_path / "genes.bed",
        "track name=genes\nbrowser position chr1:1-10\n# a comment\n\nchr1\t999\t2000\tGENEA\n",
    )
    regions = load_gene_regions(bed)
    assert regions == [GeneRegion("1", 999, 2000, "GENEA")]
    # bases 1000..2000 (1-based): 1000, 1001 and 2000 inside, 2001 outside
    assert variants_in_regions(PANEL, regions).tolist() == [0, 2, 3]


def test_table_is_one_based_inclusive_and_converted(tmp_path):
    table = _write(
        tmp_path / "genes.tsv",
        "symbol_extra\tgene\tchromosome\tstart\tend\nx\tGENEA\tchr1\t1001\t2001\nx\tGENEB\tX\t10\t10\n",
    )
    regions = load_gene_regions(table)
    assert regions == [GeneRegion("1", 1000, 2001, "GENEA"), GeneRegion("X", 9, 10, "GENEB")]
    # 1-based 1001..2001: 1001, 2000 and 2001 inside, 1000 outside; X:10 is a one-base gene
    assert variants_in_regions(PANEL, regions).tolist() == [1, 2, 3, 5]


def test_same_region_in_both_formats_selects_the_same_variants(tmp_path):
    bed = _write(tmp_path / "a.bed", "1\t999\t2000\tG\n")
    table = _write(tmp_path / "a.tsv", "gene\tchrom\tstart\tend\nG\t1\t1000\t2000\n")
    assert load_gene_regions(bed) == load_gene_regions(table)


def test_gzipped_bed_and_biomart_headers(tmp_path):
    bed = tmp_path / "genes.bed.gz"
    with gzip.open(bed, "wt") as handle:
        handle.write("chr2\t0\t1000\n")
    assert load_gene_regions(bed) == [GeneRegion("2", 0, 1000, "2:1-1000")]
    biomart = _write(
        tmp_path / "mart_export.txt",
        "Gene stable ID\tGene name\tChromosome/scaffold name\tGene start (bp)\tGene end (bp)\n"
        "ENSG1\tGENEB\t2\t400\t600\n",
    )
    assert load_gene_regions(biomart) == [GeneRegion("2", 399, 600, "GENEB")]


def test_hash_header_and_whitespace_separated_lines(tmp_path):
    ucsc = _write(tmp_path / "ucsc.tsv", "# exported\n#name\tchrom\tstart\tend\nG\tchr2\t500\t500\n")
    assert load_gene_regions(ucsc) == [GeneRegion("2", 499, 500, "G")]
    headed = _write(tmp_path / "headed.bed", "chrom\tstart\tend\tname\nchr1\t999\t2000\tG\n")
    assert load_gene_regions(headed) == [GeneRegion("1", 999, 2000, "G")]
    typed = _write(tmp_path / "typed.bed", "chr1 999   2000 G\n")
    assert load_gene_regions(typed) == [GeneRegion("1", 999, 2000, "G")]


def test_chr_prefix_matches_a_bare_panel_and_back():
    prefixed = _panel(["chr2:500:A:C", "chrX:10:G:T"])
    assert variants_in_regions(prefixed, [GeneRegion("2", 0, 500, "G")]).tolist() == [0]
    assert variants_in_regions(PANEL, [GeneRegion("chrx", 0, 10, "G")]).tolist() == [5]


def test_window_widens_both_sides():
    region = [GeneRegion("1", 1000, 1999, "G")]  # 1-based 1001..1999
    assert variants_in_regions(PANEL, region).tolist() == [2]
    assert variants_in_regions(PANEL, region, window=1).tolist() == [0, 2, 3]
    assert variants_in_regions(PANEL, region, window=2).tolist() == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="window"):
        variants_in_regions(PANEL, region, window=-1)


def test_overlapping_and_duplicated_regions_give_unique_sorted_indices():
    regions = [GeneRegion("1", 0, 5000, "A"), GeneRegion("1", 999, 1001, "B"), GeneRegion("1", 0, 5000, "A")]
    found = variants_in_regions(PANEL, regions)
    assert found.tolist() == [0, 1, 2, 3] and found.dtype == np.int64


def _random_panel_and_regions(n_variants: int, n_regions: int) -> tuple[VariantPanel, list[GeneRegion]]:
    rng = np.random.default_rng(0)
    chroms, positions = rng.integers(1, 23, n_variants), rng.integers(1, 50_000_000, n_variants)
    panel = _panel([f"{c}:{p}:A:G" for c, p in zip(chroms, positions, strict=True)])
    starts, widths = rng.integers(0, 50_000_000, n_regions), rng.integers(1, 60_000, n_regions)
    region_chroms = rng.integers(1, 23, n_regions)
    regions = [
        GeneRegion(str(c), int(s), int(s + w), f"G{i}")
        for i, (c, s, w) in enumerate(zip(region_chroms, starts, widths, strict=True))
    ]
    return panel, regions


def test_matches_a_brute_force_search():
    panel, regions = _random_panel_and_regions(20_000, 1_000)
    chroms = np.array([int(v.split(":")[0]) for v in panel.variant_ids])
    pos0 = np.array([int(v.split(":")[1]) - 1 for v in panel.variant_ids])
    expected = np.zeros(len(pos0), dtype=bool)
    for r in regions:
        expected |= (chroms == int(r.chrom)) & (pos0 >= r.start - 500) & (pos0 < r.end + 500)
    assert variants_in_regions(panel, regions, window=500).tolist() == np.flatnonzero(expected).tolist()


def test_100000_variants_by_20000_regions_quickly():
    panel, regions = _random_panel_and_regions(100_000, 20_000)
    began = time.perf_counter()
    found = variants_in_regions(panel, regions, window=500)
    assert time.perf_counter() - began < 5.0  # about 0.8 s on a loaded 2-core machine
    assert 0 < len(found) < len(panel)


def test_written_regions_read_back(tmp_path):
    regions = [GeneRegion("1", 999, 2000, "GENEA"), GeneRegion("X", 0, 10, "GENEB")]
    write_gene_regions(tmp_path / "out.bed", regions)
    assert load_gene_regions(tmp_path / "out.bed") == regions


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("g.bed", "1\t2000\t1000\tG\n", r"line 1: start 2000 is after end 1000"),
        ("g.bed", "# header\n1\t1,000\t2000\n", r"line 2: start '1,000' is not a whole number"),
        ("g.bed", "1\t10\t20\n1\t10.5\t20\n", r"line 2: start '10.5' is not a whole number"),
        ("g.bed", "1\t-5\t20\n", r"line 1: start '-5' is not a whole number"),
        ("g.bed", "1\t100\n", r"line 1: has 2 field\(s\), a BED line needs at least 3"),
        ("g.tsv", "gene\tchrom\tbegin\tend\nG\t1\t1\t2\n", r"line 1: header lacks column\(s\) start"),
        ("g.tsv", "gene\tchrom\tstart\tend\nG\t1\t5\t2\n", r"line 2: start 5 is after end 2"),
        ("g.tsv", "gene\tchrom\tstart\tend\nG\t1\tabc\t2\n", r"line 2: start 'abc' is not a whole number"),
        ("g.tsv", "gene\tchrom\tstart\tend\nG\t1\t0\t2\n", r"line 2: start 0 is below 1.*name it \.bed"),
        ("g.tsv", "gene\tchrom\tstart\tend\n\nG\t1\n", r"line 3: has 2 field\(s\), the header names 4"),
        ("g.tsv", "1\t999\t2000\tG\n", r"line 1: header lacks column\(s\) chrom, start, end.*name it \.bed"),
        ("g.bed", "", r"the file is empty"),
        ("g.bed", "\n  \n", r"the file is empty"),
        ("g.bed", "track name=x\n# only comments\n", r"holds no region"),
        ("g.tsv", "gene\tchrom\tstart\tend\n", r"holds no region"),
    ],
)
def test_bad_lists_name_the_file_line_and_fix(tmp_path, name, text, expected):
    path = _write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_gene_regions(path)
    assert str(path) in str(caught.value)
    assert caught.value.__cause__ is None  # printed without a chained traceback


def test_missing_file_and_plink_bed_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_gene_regions(tmp_path / "nothing.bed")
    plink = tmp_path / "genotypes.bed"
    plink.write_bytes(b"\x6c\x1b\x01\x00\xff")
    with pytest.raises(ConfigError, match="PLINK genotype .bed file"):
        load_gene_regions(plink)
    binary = tmp_path / "genes.tsv"
    binary.write_bytes(b"\xff\xfe\x00gene")
    with pytest.raises(ConfigError, match="cannot be read as text"):
        load_gene_regions(binary)


def test_no_variant_found_names_both_sides_chromosomes():
    with pytest.raises(ConfigError) as other_chrom:
        variants_in_regions(PANEL, [GeneRegion("7", 0, 100, "G"), GeneRegion("8", 0, 100, "H")])
    message = str(other_chrom.value)
    assert "2 gene regions" in message and "chromosome(s) 7, 8" in message
    assert "6 variants on 1, 2, X" in message and "chromosome names" in message
    with pytest.raises(ConfigError, match=r"chromosome 1: panel 1000-2001, list 5001-6000.*genome build"):
        variants_in_regions(PANEL, [GeneRegion("1", 5000, 6000, "G")])
    with pytest.raises(ConfigError, match="no gene regions"):
        variants_in_regions(PANEL, [])


# --------------------------------------------------------------------------- Windows exports, UCSC


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_byte_order_mark_is_not_part_of_the_first_chromosome_or_header(tmp_path, gzipped):
    """Excel and other Windows tools start UTF-8 files with a BOM (EF BB BF)."""
    texts = {
        "genes.bed": "chr1\t999\t2000\tGENEA\n",
        "genes.tsv": "chrom\tstart\tend\tgene\n1\t1000\t2000\tGENEA\n",
    }
    for name, text in texts.items():
        data = b"\xef\xbb\xbf" + text.encode()
        path = tmp_path / (name + ".gz" if gzipped else name)
        path.write_bytes(gzip.compress(data) if gzipped else data)
        regions = load_gene_regions(path)
        assert regions == [GeneRegion("1", 999, 2000, "GENEA")]
        assert variants_in_regions(PANEL, regions).tolist() == [0, 2, 3]


def test_ucsc_tx_start_and_end_are_zero_based_like_bed(tmp_path):
    """UCSC stores coordinates 0-based half-open: a knownGene/refGene row is not moved down by one."""
    ucsc = _write(
        tmp_path / "refGene.txt",
        "#bin\tname\tchrom\tstrand\ttxStart\ttxEnd\tcdsStart\n0\tGENEA\tchr1\t+\t999\t2000\t1100\n",
    )
    assert load_gene_regions(ucsc) == [GeneRegion("1", 999, 2000, "GENEA")]
    assert variants_in_regions(PANEL, load_gene_regions(ucsc)).tolist() == [0, 2, 3]
    # the same gene written 1-based under plain start/end headers selects the same variants
    plain = _write(tmp_path / "genes.tsv", "name\tchrom\tstart\tend\nGENEA\tchr1\t1000\t2000\n")
    assert load_gene_regions(plain) == load_gene_regions(ucsc)
    # a 0-based table may start at 0, and an empty interval is refused as in BED
    at_zero = _write(tmp_path / "zero.txt", "name\tchrom\ttxStart\ttxEnd\nG\t2\t0\t500\n")
    assert load_gene_regions(at_zero) == [GeneRegion("2", 0, 500, "G")]
    empty = _write(tmp_path / "empty.txt", "name\tchrom\ttxStart\ttxEnd\nG\t2\t500\t500\n")
    with pytest.raises(ConfigError, match=rf"{empty}, line 2: start and end are both 500"):
        load_gene_regions(empty)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "1\t999\t2000\tA\n1\t1000\t1000\tB\n",
            r"line 2: start and end are both 1000.*position 1000 is 999 1000",
        ),
        ("2\t0\t0\tB\n", r"line 1: start and end are both 0, an empty region"),
    ],
)
def test_a_zero_length_bed_region_is_refused_with_the_fix(tmp_path, text, expected):
    """`p p` is the usual slip of 1-based positions into a BED: it holds no base at all."""
    bed = _write(tmp_path / "genes.bed", text)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_gene_regions(bed)
    message = str(caught.value)
    assert str(bed) in message and "end > start" in message and "p-1 p" in message


# --------------------------------------------------------------------------- regions that select nothing


def test_regions_with_no_panel_variant_are_reported_and_logged(tmp_path, caplog):
    bed = _write(
        tmp_path / "genes.bed",
        "1\t999\t2000\tGENEA\n7\t0\t100\tOFFPANEL\n1\t5000\t6000\tBEYOND\n2\t499\t500\tGENEB\n",
    )
    regions = load_gene_regions(bed)
    match = match_regions(PANEL, regions)
    assert match.columns.tolist() == [0, 2, 3, 4] and match.n_regions == 4
    assert [r.name for r in match.unmatched] == ["OFFPANEL", "BEYOND"]
    summary = match.unmatched_summary()
    assert summary.startswith(
        f"gene list {bed}: no panel variant in 2 of its 4 gene regions (OFFPANEL, BEYOND)"
    )
    with caplog.at_level(logging.WARNING, logger="genofed.common.data.regions"):
        assert variants_in_regions(PANEL, regions).tolist() == [0, 2, 3, 4]
    assert [r.getMessage() for r in caplog.records] == [summary]
    # the window decides: widened, BEYOND reaches the panel's 1:2001
    assert [r.name for r in match_regions(PANEL, regions, window=3000).unmatched] == ["OFFPANEL"]


def test_all_regions_matched_logs_nothing_and_many_unmatched_are_abbreviated(caplog):
    assert match_regions(PANEL, [GeneRegion("1", 999, 2000, "A")]).unmatched_summary() == ""
    with caplog.at_level(logging.WARNING, logger="genofed.common.data.regions"):
        variants_in_regions(PANEL, [GeneRegion("1", 999, 2000, "A")])
    assert not caplog.records
    many = [GeneRegion("1", 999, 2000, "A")] + [GeneRegion("9", i, i + 1, f"G{i}") for i in range(8)]
    summary = match_regions(PANEL, many).unmatched_summary()
    assert summary.startswith("gene list: no panel variant in 8 of its 9 gene regions")
    assert "(G0, G1, G2, G3, G4 and 3 more)" in summary


def test_nothing_found_names_the_gene_list(tmp_path):
    bed = _write(tmp_path / "grch37.bed", "1\t5000\t6000\tG\n")
    with pytest.raises(
        ConfigError, match=rf"^gene list {bed}: no panel variant lies in any of its 1 gene regions"
    ):
        variants_in_regions(PANEL, load_gene_regions(bed))


@pytest.mark.parametrize("start", ["²", "٣", "99999999999999999999"])
def test_a_position_in_other_digits_or_past_any_genome_is_refused_by_line(tmp_path, start):
    """A fuzzing review: '²' and Arabic-Indic digits passed str.isdigit and int() raised (or read
    them); a 20-digit end overflowed NumPy in match_regions. Both were tracebacks."""
    bed = _write(tmp_path / "genes.bed", f"chr1\t999\t2000\tGENEA\nchr1\t{start}\t3000\tGENEB\n")
    with pytest.raises(
        ConfigError, match=f"line 2: start '{start}' is not a whole number of bases from 0 to"
    ):
        load_gene_regions(bed)

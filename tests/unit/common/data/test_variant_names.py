"""rsIDs from a hospital's genotype file travel through its variant summary and the panel into the
run report's top variants, where a clinician looks a variant up by its dbSNP name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bed_reader import to_bed

from genofed.common.data.panel import VariantPanel
from genofed.common.data.panel_building import PanelRules, build_panel
from genofed.common.data.readers import read_genotypes
from genofed.common.data.variant_names import public_name, read_variant_names
from genofed.common.data.variant_summary import VariantSummary, summarize_genotypes
from genofed.common.errors import DataError

ROWS = [
    "1\t100\trs11\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0",
    "1\t200\trs22;rs23\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1\t0/1",
    "1\t300\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0",
    "1\t400\tAX-1234\tT\tC\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1",
    "1\t500\trs55\tA\tC,T\t.\tPASS\t.\tGT\t0/1\t0/2\t1/2",
]


def test_public_name_keeps_only_rsids() -> None:
    assert public_name("rs123") == "rs123"
    assert public_name("AX-1;rs9") == "rs9"  # the first rsID of a list
    assert public_name(".") is None and public_name("AX-1234") is None and public_name("rs0") is None


def test_vcf_ids_name_each_alt_of_a_record(write_vcf) -> None:
    path = write_vcf(ROWS)
    ids = read_genotypes(path).variant_ids
    assert read_variant_names(path, ids) == {
        "1:100:A:G": "rs11",
        "1:200:C:T": "rs22",
        "1:500:A:C": "rs55",
        "1:500:A:T": "rs55",
    }


def test_plink_bim_names_match_whatever_the_orientation(tmp_path: Path) -> None:
    properties = {
        "iid": ["s0", "s1", "s2"],
        "sid": ["rs7", "GSA-1:300", "rs8"],
        "chromosome": ["1", "1", "23"],
        "bp_position": [100, 300, 700],
        "allele_1": ["G", "A", "T"],
        "allele_2": ["A", "G", "C"],
        "sex": [2, 2, 2],
    }
    values = np.array([[0, 1, 2], [1, 1, 0], [2, 0, 1]], dtype=np.float32)
    to_bed(tmp_path / "p.bed", values, properties=properties, count_A1=True)
    ids = read_genotypes(tmp_path / "p.bed").variant_ids
    # the reader writes `chrom:pos:A2:A1`; a name matches by position and allele pair
    assert read_variant_names(tmp_path / "p", ids) == {"1:100:A:G": "rs7", "X:700:C:T": "rs8"}
    assert read_variant_names(tmp_path / "p", ["1:100:G:A"]) == {"1:100:G:A": "rs7"}


def test_summary_round_trip_and_an_old_summary_without_names(write_vcf, tmp_path: Path) -> None:
    summary = summarize_genotypes("rostov", write_vcf(ROWS))
    summary.save(tmp_path / "named.tsv")
    assert "id\tcalled\talt\trsid" in (tmp_path / "named.tsv").read_text()
    assert VariantSummary.load(tmp_path / "named.tsv").names == summary.names
    summary.names = {}
    summary.save(tmp_path / "plain.tsv")
    assert "rsid" not in (tmp_path / "plain.tsv").read_text()
    assert VariantSummary.load(tmp_path / "plain.tsv").names == {}


def test_a_summary_row_with_a_name_that_is_no_rsid_is_refused(write_vcf, tmp_path: Path) -> None:
    summarize_genotypes("rostov", write_vcf(ROWS)).save(tmp_path / "s.tsv")
    text = (tmp_path / "s.tsv").read_text().replace("\trs11\n", "\tS1-carrier\n")
    (tmp_path / "s.tsv").write_text(text)
    with pytest.raises(DataError, match="'S1-carrier' is not an rsID") as info:
        VariantSummary.load(tmp_path / "s.tsv")
    assert info.value.location.startswith("line ")


def _summary(site: str, names: dict[str, str], ids: list[str]) -> VariantSummary:
    counts = np.full(len(ids), 100.0)
    return VariantSummary(site, ids, counts, counts / 2, 50.0, names=names)


def test_the_panel_keeps_the_name_most_sites_give_and_counts_disagreements(tmp_path: Path) -> None:
    ids = ["1:100:A:G", "1:200:C:T", "1:300:G:A"]
    summaries = [
        _summary("astrakhan", {"1:100:A:G": "rs1", "1:200:C:T": "rs2"}, ids),
        _summary("elista", {"1:100:G:A": "rs9"}, ["1:100:G:A", "1:200:C:T", "1:300:G:A"]),  # swapped
        _summary("rostov", {"1:100:A:G": "rs1"}, ids),
    ]
    panel, report = build_panel(summaries)
    assert panel.names == {"1:100:A:G": "rs1", "1:200:C:T": "rs2"}
    assert (report.named, report.names_differ) == (2, 1)
    assert "  named by an rsID: 2 (1 named differently by two sites: the commoner name kept)" in report.lines(
        PanelRules()
    )
    panel.save(tmp_path / "panel.tsv")
    lines = (tmp_path / "panel.tsv").read_text().splitlines()
    assert lines[0].endswith("\trsid") and lines[3].endswith("\t")  # 1:300 has no name: empty cell
    again = VariantPanel.load(tmp_path / "panel.tsv")
    assert again.names == panel.names and again.variant_ids == panel.variant_ids


def test_a_panel_without_names_is_written_as_before(tmp_path: Path) -> None:
    VariantPanel(["1:100:A:G"], np.array([0.2])).save(tmp_path / "panel.tsv")
    assert (tmp_path / "panel.tsv").read_text().splitlines()[0] == "id\tchrom\tpos\tref\talt\talt_freq"


def test_a_panel_with_a_gap_in_a_required_column_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "panel.tsv").write_text("id\talt_freq\trsid\n1:100:A:G\t0.2\trs1\n1:200:C:T\t\t\n")
    with pytest.raises(DataError, match="1 of 2 columns filled"):
        VariantPanel.load(tmp_path / "panel.tsv")

"""A VCF read for a panel (`read_vcf(..., sites=...)`: `genofed predict`, `adapt`, a hospital's check
against its federation's panel) reads only the records at the panel's positions: a record no model
reads cannot refuse the file. A walkthrough's GATK-style VCF of male patients, with haploid chrX
calls beside an autosomal panel's variants, was refused at X:100000 ("haploid genotype '0'"). A
haploid call at a panel position is still refused, as before, and so is every haploid call of a
file read without a panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import N_PEOPLE, model_file, people, write_people

from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import read_genotypes, read_vcf
from genofed.common.data.variants import panel_sites
from genofed.common.errors import DataError
from genofed.common.scoring.predict import predict_file

PANEL = VariantPanel(["1:100:A:G", "1:300:C:T"], np.array([0.3, 0.2]))
SITES = panel_sites(PANEL.variant_ids)
ON_PANEL = ["1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0", "1\t300\t.\tC\tT\t.\t.\t.\tGT\t0/0\t0/1\t0/0"]
#: Records no panel variant is at: a male's haploid X calls, an allele index beyond the site's ALTs
#: and an ALT that repeats the REF, each of which refuses a file read whole.
OFF_PANEL = [
    "X\t100000\t.\tA\tG\t.\t.\t.\tGT\t0\t1\t0/1",
    "1\t200\t.\tG\tT\t.\t.\t.\tGT\t0/3\t0/0\t0/0",
    "1\t250\t.\tG\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0",
]


def test_records_outside_the_panel_are_skipped_unread_with_a_note(write_vcf):
    rows = [ON_PANEL[0], *OFF_PANEL, ON_PANEL[1]]
    matrix = read_vcf(write_vcf(rows), sites=SITES)
    assert matrix.variant_ids == PANEL.variant_ids
    np.testing.assert_array_equal(matrix.dosages, np.array([[1, 2, 0], [0, 1, 0]]).T)
    assert any("3 record(s) at positions outside the panel were skipped" in note for note in matrix.notes)
    # read whole, as `data check` without a panel and `hospital variants` read it, each still refuses
    for row in OFF_PANEL:
        with pytest.raises(DataError):
            read_vcf(write_vcf([ON_PANEL[0], row]))


def test_a_haploid_call_at_a_panel_position_is_still_refused(write_vcf):
    path = write_vcf([ON_PANEL[0], "1\t300\t.\tC\tT\t.\t.\t.\tGT\t0/0\t1\t0/0"])
    with pytest.raises(DataError) as refused:
        read_vcf(path, sites=SITES)
    assert refused.value.problem == "haploid genotype '1'; genofed needs diploid calls"
    assert refused.value.location == "line 6 (variant 1:300:C:T), sample S2"


def test_a_chr_named_file_is_matched_to_a_bare_named_panel(write_vcf):
    rows = [f"chr{row}" for row in ON_PANEL]
    assert read_genotypes(write_vcf(rows), sites=SITES).variant_ids == PANEL.variant_ids


def test_a_file_with_no_record_at_a_panel_position_names_both_contig_spellings(write_vcf):
    rows = [row.replace("1\t", "NC_000001.10\t", 1) for row in ON_PANEL]
    with pytest.raises(DataError) as refused:
        read_vcf(write_vcf(rows), sites=SITES)
    problem = refused.value.problem
    assert problem.startswith("no panel variant is in this file: none of its 2 records is at one of")
    assert "the file's contigs are NC_000001.10 (1 contig), the panel's 1 (1 contig)" in problem
    assert "bcftools annotate --rename-chrs" in refused.value.hint


def test_a_hospitals_check_against_its_panel_reads_past_haploid_x(write_vcf, tmp_path):
    path = write_vcf([ON_PANEL[0], OFF_PANEL[0], ON_PANEL[1]])
    phenotypes = tmp_path / "p.csv"
    pd.DataFrame({"sample_id": ["S1", "S2", "S3"], "label": [0, 1, 0]}).to_csv(phenotypes, index=False)
    site = load_site(path, phenotypes, panel=PANEL, min_samples=1)
    assert site.alignment is not None and site.alignment.coverage == 1.0
    assert site.cohort.variant_ids == PANEL.variant_ids
    with pytest.raises(DataError, match="haploid genotype"):  # without the panel, every record is read
        load_site(path, phenotypes, min_samples=1)


def test_predict_scores_a_file_with_haploid_x_calls_beside_the_panel(tmp_path):
    model = model_file()
    genotypes, phenotypes = write_people(tmp_path)
    expected = predict_file(model, genotypes, phenotypes=phenotypes).risks
    with genotypes.open("a") as out:
        out.write("X\t100000\t.\tA\tG\t.\t.\t.\tGT\t" + "\t".join(["0", "1"] * (N_PEOPLE // 2)) + "\n")
    result = predict_file(model, genotypes, phenotypes=phenotypes)
    np.testing.assert_array_equal(result.risks, expected)


def test_a_table_with_refseq_names_is_told_both_spellings(tmp_path):
    """The table reader reads every variant; alignment finds no panel variant and says why."""
    model = model_file()
    dosages, samples, _, _ = people()
    ids = [f"NC_000001.10:{v.split(':', 1)[1]}" for v in model.panel.variant_ids]
    table = tmp_path / "g.csv"
    frame = pd.DataFrame(dosages, index=pd.Index(samples, name="sample_id"), columns=ids)
    frame.replace(-1, "").to_csv(table)
    with pytest.raises(DataError) as refused:
        predict_file(model, table)
    assert "none of the model's 30 panel variants is in this file" in refused.value.problem
    assert "the file's contigs are NC_000001.10 (1 contig), the panel's 1 (1 contig)" in refused.value.problem

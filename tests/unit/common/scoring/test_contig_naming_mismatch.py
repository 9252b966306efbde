"""A file that holds no panel variant because it names its contigs otherwise than the panel (RefSeq
`NC_000001.10` for `1`): the refusal sets the file's contig names beside the panel's and says how to
rename them, for `genofed predict` and `adapt` (`model_people`) and a hospital's check
(`align_to_panel`). A walkthrough's RefSeq-named VCF was told only "none of the panel variants"."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.model_files import model_file, people

from genofed.common.data.panel import VariantPanel, align_to_panel
from genofed.common.data.variants import contig_names
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError
from genofed.common.scoring.predict import predict_file

REFSEQ = {"1": "NC_000001.10", "2": "NC_000002.11"}


def _refseq_ids(variant_ids: list[str]) -> list[str]:
    return [f"{REFSEQ[v.split(':', 1)[0]]}:{v.split(':', 1)[1]}" for v in variant_ids]


def test_predict_names_the_files_contigs_beside_the_panels(tmp_path):
    model = model_file()
    dosages, samples, _, _ = people()
    genotypes = tmp_path / "refseq.vcf"
    write_vcf(genotypes, dosages, samples, _refseq_ids(model.panel.variant_ids))
    with pytest.raises(DataError) as refused:
        predict_file(model, genotypes)
    assert "the file's contigs are NC_000001.10 (1 contig), the panel's 1 (1 contig)" in refused.value.problem
    assert "bcftools annotate --rename-chrs" in refused.value.hint
    assert "cannot lower this" in refused.value.hint


def test_a_hospitals_check_names_them_too():
    panel = VariantPanel(["1:100:A:G", "2:200:C:T"], np.array([0.1, 0.2]))
    site = _refseq_ids(panel.variant_ids)
    with pytest.raises(DataError) as refused:
        align_to_panel(np.zeros((3, 2), dtype=np.int8), site, panel)
    said = "the file's contigs are NC_000001.10, NC_000002.11 (2 contigs), the panel's 1, 2 (2 contigs)"
    assert said in refused.value.problem
    assert "bcftools annotate --rename-chrs" in refused.value.hint


def test_contigs_are_listed_in_genome_order_a_few_at_most():
    assert contig_names(["X", "10", "2", "1", "1"]) == "1, 2, 10, X (4 contigs)"
    assert contig_names([str(n) for n in range(1, 23)]) == "1, 2, 3, 4, ... (22 contigs)"

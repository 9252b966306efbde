"""A PLINK 1 fileset read for a panel (`read_plink(..., sites=...)`: `genofed predict`, `adapt`, `data
check --panel`, a hospital's check and training against its federation's panel) reads only the
variants at the panel's positions, as the VCF reader does: a variant no model reads cannot refuse
the fileset. A fileset of male patients with chrX (or Y, MT) beside an autosomal panel was refused
as haploid. A haploid variant at a panel position is still refused, as before, and so is every
haploid variant of a fileset read without a panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import plink, read_genotypes, read_plink
from genofed.common.data.variants import panel_sites
from genofed.common.errors import DataError

PANEL = VariantPanel(["1:10:A:G", "1:30:C:T"], np.array([0.3, 0.2]))
SITES = panel_sites(PANEL.variant_ids)
#: A1 counts, one row per sample (two males, one female); variants 1:10, 1:30, X:20, Y:40, MT:50.
VALUES = [[0, 1, 2, 0, 2], [1, 2, 0, 2, 0], [2, 0, 1, 0, 2]]
CHROMOSOMES = ["1", "1", "X", "Y", "MT"]
POSITIONS = [10, 30, 20, 40, 50]


def _fileset(tmp_path: Path, sex: tuple[int, ...] = (1, 1, 2)) -> Path:
    properties = {
        "iid": [f"s{i}" for i in range(len(VALUES))],
        "sid": [f"v{j}" for j in range(len(CHROMOSOMES))],
        "chromosome": CHROMOSOMES,
        "bp_position": POSITIONS,
        "allele_1": ["G", "T", "T", "A", "C"],
        "allele_2": ["A", "C", "C", "G", "T"],
        "sex": list(sex),
    }
    to_bed(tmp_path / "p.bed", np.array(VALUES, dtype=np.float32), properties=properties, count_A1=True)
    return tmp_path / "p"


def test_variants_outside_the_panel_are_skipped_before_the_haploid_checks(tmp_path):
    prefix = _fileset(tmp_path)
    matrix = read_plink(prefix, sites=SITES)
    assert matrix.variant_ids == PANEL.variant_ids
    np.testing.assert_array_equal(matrix.dosages, np.array([[0, 1, 2], [1, 2, 0]]).T)
    assert any("3 variant(s) at positions outside the panel were skipped" in note for note in matrix.notes)
    # read whole, as `data check` without a panel and `hospital variants` read it, it is refused
    with pytest.raises(DataError, match="on chromosome X and sample s0"):
        read_plink(prefix)


def test_a_haploid_variant_at_a_panel_position_is_still_refused(tmp_path):
    prefix = _fileset(tmp_path)
    with_x = panel_sites([*PANEL.variant_ids, "X:20:C:T"])
    with pytest.raises(DataError) as refused:
        read_plink(prefix, sites=with_x)
    assert refused.value.location == "line 3, variant v2"
    assert "sample s0 (.fam line 1) is male" in refused.value.problem
    with pytest.raises(DataError, match="haploid in every sample"):
        read_plink(prefix, sites=panel_sites([*PANEL.variant_ids, "MT:50:T:C"]))


def test_only_the_panels_variants_are_decoded_from_the_bed(tmp_path, monkeypatch):
    """The .bed is variant-major: the skipped variants' bytes are not decoded."""
    asked = []
    original = plink.open_bed

    class Recording:
        def __init__(self, *args, **kwargs):
            self.reader = original(*args, **kwargs)

        def __enter__(self):
            self.reader.__enter__()
            return self

        def __exit__(self, *exc):
            return self.reader.__exit__(*exc)

        def read(self, index=None, **kwargs):
            asked.append(index)
            return self.reader.read(index=index, **kwargs)

    monkeypatch.setattr(plink, "open_bed", Recording)
    read_plink(_fileset(tmp_path), sites=SITES)
    (index,) = asked
    assert list(index[1]) == [0, 1]


def test_read_genotypes_and_a_hospitals_check_pass_the_panel_on(tmp_path):
    prefix = _fileset(tmp_path)
    assert read_genotypes(prefix.with_suffix(".bed"), sites=SITES).variant_ids == PANEL.variant_ids
    phenotypes = tmp_path / "pheno.csv"
    pd.DataFrame({"sample_id": ["s0", "s1", "s2"], "label": [0, 1, 0]}).to_csv(phenotypes, index=False)
    site = load_site(prefix, phenotypes, panel=PANEL, min_samples=1)
    assert site.alignment is not None and site.alignment.coverage == 1.0
    assert site.summary()["variants"] == 2
    with pytest.raises(DataError, match="haploid"):  # without the panel, every variant is read
        load_site(prefix, phenotypes, min_samples=1)


def test_a_skipped_variant_is_not_checked_but_the_files_structure_is(tmp_path):
    """Like a VCF record outside the panel: its alleles are not held to the base rule (it makes no
    id), while a .bim line that is damaged is refused wherever it is."""
    prefix = _fileset(tmp_path, sex=(2, 2, 2))
    bim = prefix.with_suffix(".bim")
    lines = bim.read_text().splitlines()
    lines[4] = lines[4].replace("\tC\tT", "\t1\t2")  # MT:50 coded 1/2
    bim.write_text("\n".join(lines) + "\n")
    assert read_plink(prefix, sites=SITES).variant_ids == PANEL.variant_ids
    lines[3] = lines[3].replace("\t40\t", "\t4x0\t")
    bim.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="position '4x0' of variant v3 is not a whole number"):
        read_plink(prefix, sites=SITES)


def test_a_fileset_with_no_panel_variant_names_both_contig_spellings(tmp_path):
    prefix = _fileset(tmp_path)
    with pytest.raises(DataError) as refused:
        read_plink(prefix, sites=panel_sites(["2:10:A:G"]))
    problem = refused.value.problem
    assert problem.startswith("no panel variant is in this fileset: none of its 5 variants is at one of")
    assert "the panel's 2 (1 contig)" in problem
    assert ".bim" in refused.value.hint and "--min-coverage cannot lower this" in refused.value.hint

"""The public reference panel read from a phased VCF and aligned to a site's variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genofed.common.errors import DataError
from genofed.common.synthetic.reference_panel import (
    MIN_HAPLOTYPES,
    load_reference_panel,
    reference_from_haplotypes,
    refuse_patients_in_panel,
)

PEOPLE = 10  # 20 haplotypes: the fewest a panel may have
#: The panel file's variants (chrom, pos, ref, alt).
PANEL_SITES = [("1", 100, "A", "G"), ("1", 200, "A", "G"), ("1", 300, "A", "T"), ("1", 400, "C", "G")]
PANEL_SITES += [("1", 500, "A", "C"), ("1", 600, "C", "T")]


def _alleles(seed: int = 0) -> np.ndarray:
    """(people, panel variants, 2) random alleles, every column polymorphic."""
    haps = np.random.default_rng(seed).integers(0, 2, (PEOPLE, len(PANEL_SITES), 2)).astype(np.int8)
    haps[0, :, 0], haps[0, :, 1] = 0, 1
    return haps


def _write_panel(
    write_vcf, haps: np.ndarray, *, sep: str = "|", missing: tuple[int, int] | None = None
) -> Path:
    rows = []
    for j, (chrom, pos, ref, alt) in enumerate(PANEL_SITES):
        calls = [f"{a}{sep}{b}" for a, b in haps[:, j]]
        if missing is not None and missing[1] == j:
            calls[missing[0]] = f".{sep}."
        rows.append("\t".join([chrom, str(pos), ".", ref, alt, ".", ".", ".", "GT", *calls]))
    return write_vcf(rows, [f"P{i}" for i in range(len(haps))], name="panel.vcf")


def test_aligns_to_the_site_flipping_swaps_and_leaving_other_alleles_uncovered(write_vcf):
    haps = _alleles()
    path = _write_panel(write_vcf, haps)
    site = [
        "1:600:C:T",  # same id, site order differs from the file's
        "1:200:G:A",  # REF/ALT swapped: flipped
        "1:300:T:A",  # A/T swapped: a swap or a strand flip, cannot tell -> uncovered
        "1:400:C:G",  # C/G in the same orientation: covered as is
        "1:500:A:T",  # other alleles at the position -> uncovered
        "2:100:A:G",  # not in the panel
        "1:100:A:G",
    ]
    panel = load_reference_panel(path, site, min_coverage=0.5)
    assert panel.covered.tolist() == [True, True, False, True, False, False, True]
    assert panel.n_haplotypes == 2 * PEOPLE and panel.n_variants == len(site)
    by_person = panel.haplotypes.reshape(PEOPLE, 2, len(site))  # rows 2i, 2i+1 are person i's
    assert (by_person[:, :, 0] == haps[:, 5]).all()
    assert (by_person[:, :, 1] == 1 - haps[:, 1]).all()
    assert (by_person[:, :, 3] == haps[:, 3]).all()
    assert (by_person[:, :, 6] == haps[:, 0]).all()
    assert not panel.haplotypes[:, ~panel.covered].any()
    assert panel.positions.tolist() == [600, 200, 300, 400, 500, 100, 100]
    assert panel.chromosomes.tolist() == ["1"] * 5 + ["2", "1"]
    assert panel.sample_ids == [f"P{i}" for i in range(PEOPLE)]
    assert list(panel.populations) == [""] * (2 * PEOPLE)
    assert np.isnan(panel.alt_frequencies()[~panel.covered]).all()


def test_unphased_heterozygous_calls_are_refused_naming_the_file(write_vcf):
    path = _write_panel(write_vcf, _alleles(), sep="/")
    with pytest.raises(DataError, match="unphased") as error:
        load_reference_panel(path, ["1:100:A:G"])
    assert error.value.file == str(path) and "SHAPEIT" in error.value.message


def test_missing_calls_are_refused_at_covered_variants_only(write_vcf):
    path = _write_panel(write_vcf, _alleles(), missing=(3, 1))  # person 3 at 1:200
    with pytest.raises(DataError, match="missing") as error:
        load_reference_panel(path, ["1:100:A:G", "1:200:A:G"])
    assert error.value.file == str(path) and "phased panel" in error.value.message
    panel = load_reference_panel(path, ["1:100:A:G", "1:600:C:T"])  # 1:200 not the site's
    assert panel.covered.all()


def test_low_coverage_and_no_overlap_are_refused(write_vcf):
    path = _write_panel(write_vcf, _alleles())
    site = ["1:100:A:G", "3:1:A:G", "3:2:A:G", "3:3:A:G"]
    with pytest.raises(DataError, match=r"covers only 25\.0% .* minimum is 50%") as error:
        load_reference_panel(path, site)
    assert "same genome build" in error.value.message
    assert load_reference_panel(path, site, min_coverage=0.25).covered.sum() == 1
    with pytest.raises(DataError, match="shares none"):
        load_reference_panel(path, ["3:1:A:G"], min_coverage=0.0)


def test_too_few_haplotypes_are_refused(write_vcf):
    path = _write_panel(write_vcf, _alleles()[: MIN_HAPLOTYPES // 2 - 1])
    with pytest.raises(DataError, match=f"only {MIN_HAPLOTYPES - 2} haplotypes"):
        load_reference_panel(path, ["1:100:A:G"])


def test_populations_come_from_a_table_and_unlisted_people_get_none(write_vcf, tmp_path):
    path = _write_panel(write_vcf, _alleles())
    table = tmp_path / "people.csv"
    table.write_text("sample_id,sex,population\n" + "".join(f"P{i},F,POP{i % 2}\n" for i in range(1, PEOPLE)))
    panel = load_reference_panel(path, ["1:100:A:G"], populations=table)
    expected = ["", ""] + [f"POP{i % 2}" for i in range(1, PEOPLE) for _ in range(2)]
    assert list(panel.populations) == expected
    bad = tmp_path / "bad.tsv"
    bad.write_text("sample_id\tgroup\nP0\tA\n")
    with pytest.raises(DataError, match="population") as error:
        load_reference_panel(path, ["1:100:A:G"], populations=bad)
    assert error.value.file == str(bad)


def test_reference_from_haplotypes_keeps_people_and_populations_together():
    haps = _alleles(1)
    ids = [f"{c}:{p}:{r}:{a}" for c, p, r, a in PANEL_SITES]
    panel = reference_from_haplotypes(haps, ids, np.array(["A"] * 4 + ["B"] * 6))
    assert panel.covered.all() and panel.n_haplotypes == 2 * PEOPLE
    assert (panel.haplotypes[2 * 7 + 1] == haps[7, :, 1]).all()
    assert list(panel.populations[:10]) == ["A"] * 8 + ["B"] * 2
    assert np.allclose(panel.alt_frequencies(), haps.mean(axis=(0, 2)))
    haps[0, 0, 0] = -1
    with pytest.raises(ValueError, match="missing"):
        reference_from_haplotypes(haps, ids)


def test_a_panel_holding_the_site_s_patients_is_refused():
    """The site's own file given as the panel: mosaics of the patients themselves. Found by sample
    id, and by genotypes under other ids; distinct people pass."""
    rng = np.random.default_rng(3)
    haps = rng.integers(0, 2, (30, 40, 2)).astype(np.int8)
    ids = [f"1:{100 * (j + 1)}:A:G" for j in range(40)]
    panel = reference_from_haplotypes(
        haps[:20], ids, sample_ids=[f"P{i}" for i in range(20)], source="ref.vcf"
    )
    patients = haps[20:].sum(axis=2).astype(np.int8)
    refuse_patients_in_panel(panel, [f"S{i}" for i in range(10)], patients)  # other people: fine
    with pytest.raises(DataError, match="sample ids of this site's patients"):
        refuse_patients_in_panel(panel, ["S0", "P3"], patients[:2])
    renamed = haps[:20].sum(axis=2).astype(np.int8)[[4, 7]]
    renamed[1, 0] = -1  # a missing call: that patient is compared on nothing, the other still matches
    with pytest.raises(DataError, match="exactly the genotypes of one of this site's patients"):
        refuse_patients_in_panel(panel, ["S0", "S1"], renamed)


def _low_diversity(rng: np.random.Generator, people: int, founders: np.ndarray) -> np.ndarray:
    """(people, V, 2) haplotypes each copied whole from one of a few founder haplotypes: a short
    stretch of linked variants, where unrelated people often share a whole genotype vector."""
    return founders[rng.integers(0, len(founders), (people, 2))].transpose(0, 2, 1).astype(np.int8)


def test_chance_identity_in_a_low_diversity_region_is_not_taken_for_the_site_s_patients():
    """The audit's case (rostov's first 400 variants against the demo reference): unrelated people
    equal on every column by chance. The panel's own rate of identical pairs predicts that many,
    so the panel passes; the site's own file given as the panel is still refused."""
    rng = np.random.default_rng(11)
    founders = rng.integers(0, 2, (60, 40))
    ids = [f"1:{100 * (j + 1)}:A:G" for j in range(40)]
    panel_haps, patient_haps = _low_diversity(rng, 300, founders), _low_diversity(rng, 200, founders)
    panel = reference_from_haplotypes(
        panel_haps, ids, sample_ids=[f"R{i}" for i in range(300)], source="ref.vcf"
    )
    patients = patient_haps.sum(axis=2).astype(np.int8)
    people = panel_haps.sum(axis=2)
    seen = {row.tobytes() for row in patients}
    assert sum(row.astype(np.int8).tobytes() in seen for row in people) > 20  # what the old check refused
    refuse_patients_in_panel(panel, [f"S{i}" for i in range(200)], patients)  # chance identity: fine

    own = reference_from_haplotypes(
        patient_haps, ids, sample_ids=[f"X{i}" for i in range(200)], source="own.vcf"
    )
    with pytest.raises(DataError, match=r"200 of its people .*chance identity on these variants predicts"):
        refuse_patients_in_panel(own, [f"S{i}" for i in range(200)], patients)

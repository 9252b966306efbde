"""The simulated federation's public reference panel, and the 1000 Genomes reference/site split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genofed.common.data.layout import hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import read_genotypes
from genofed.common.synthetic.reference_panel import load_reference_panel
from genofed.simulations.cohorts.presets import PRESETS, SMALL
from genofed.simulations.cohorts.public_reference import split_1000g
from genofed.simulations.cohorts.sampling import draw_proportional_sample


def _rows(dosages: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.ascontiguousarray(dosages, dtype=np.int8)}


def test_small_federation_has_a_reference_of_people_in_no_clinic_test_or_source(simulated_cohorts):
    folder = simulated_cohorts(5, with_sources=True)
    reference = folder / "reference"
    assert sorted(p.name for p in reference.iterdir()) == ["genotypes.vcf.gz", "samples.tsv"]
    assert [f.name for f in hospital_folders(folder)] == sorted(h.name for h in SMALL.hospitals)

    panel = VariantPanel.load(folder / "panel.tsv")
    loaded = load_reference_panel(
        reference / "genotypes.vcf.gz", panel.variant_ids, populations=reference / "samples.tsv"
    )
    assert loaded.covered.all() and loaded.n_haplotypes == 2 * SMALL.reference_size
    truth = json.loads((folder / "truth.json").read_text())
    pool = truth["pool_by_population"]
    shares = {p: n / sum(pool.values()) for p, n in pool.items()}
    names, counts = np.unique(loaded.populations[::2], return_counts=True)
    assert dict(zip(names, counts.tolist(), strict=True)) == truth["reference"]["by_population"]
    for name, count in zip(names, counts, strict=True):
        assert abs(count - shares[name] * SMALL.reference_size) <= 1  # the pool's proportions

    # disjoint people: no reference genotype row is any clinic's, test or source person's (with
    # ~500 variants two different simulated people never share every genotype)
    reference_rows = _rows(read_genotypes(reference / "genotypes.vcf.gz").dosages)
    others = ["rostov/genotypes.vcf.gz", "test/genotypes.vcf.gz", "sources/near/genotypes.bed"]
    others.append("sources/far/genotypes.bed")
    for path in others:
        matrix = read_genotypes(folder / path)
        assert matrix.variant_ids == panel.variant_ids
        assert not reference_rows & _rows(matrix.dosages), path
        assert not set(matrix.sample_ids) & set(loaded.sample_ids)
    samples = pd.read_csv(reference / "samples.tsv", sep="\t")
    assert samples.columns.tolist() == ["sample_id", "population"]
    assert samples["sample_id"].tolist() == loaded.sample_ids
    assert all(s.startswith("REF") for s in loaded.sample_ids)


def test_proportional_sample_takes_only_unused_people_in_pool_proportions():
    populations = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100)
    available = np.ones(1000, dtype=bool)
    available[:500] = False  # half of "a" already in clinics
    picked = draw_proportional_sample(101, populations, available.copy(), np.random.default_rng(0))
    assert len(picked) == 101 and len(set(picked)) == 101 and (picked >= 500).all()
    assert [int((populations[picked] == p).sum()) for p in "abc"] in ([61, 30, 10], [60, 31, 10])
    with pytest.raises(ValueError, match="population a"):
        draw_proportional_sample(400, populations, available.copy(), np.random.default_rng(0))


def test_1000g_split_is_disjoint_stratified_and_seeded():
    labels = np.array(["AFR"] * 661 + ["EUR"] * 503 + ["EAS"] * 504 + ["EUR,AFR"])
    reference, site = split_1000g(labels, seed=3)
    assert len(np.intersect1d(reference, site)) == 0 and len(reference) + len(site) == len(labels)
    for label, n in (("AFR", 661), ("EUR", 503), ("EAS", 504)):
        assert abs(int((labels[reference] == label).sum()) - n / 2) <= 1
    again, _ = split_1000g(labels, seed=3)
    other, _ = split_1000g(labels, seed=4)
    assert (again == reference).all() and not np.array_equal(other, reference)


def test_every_preset_names_a_reference_size():
    sizes = {name: preset.reference_size for name, preset in PRESETS.items()}
    assert sizes["default"] == 500 and 0 < sizes["small"] < 500 and sizes["1000g"] == 0

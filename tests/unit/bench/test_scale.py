"""bench/scale.py: the synthetic federations it measures and how it reports growth."""

from __future__ import annotations

import sys

import pytest
from helpers import load_bench_script
from helpers.bench import BENCH

from genofed.common.data.layout import hospital_folders
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel

sys.path.insert(0, str(BENCH))  # bench/scale.py imports bench/measure.py
scale = load_bench_script("scale")


def test_the_federation_has_the_asked_hospitals_and_variants(tmp_path):
    root = scale.write_federation(tmp_path / "f", 5, 300, 40, distinct=2)
    folders = hospital_folders(root)
    assert [f.name for f in folders] == [f"hospital{h:03d}" for h in range(5)]
    panel = VariantPanel.load(root / "panel.tsv")
    assert len(panel) == 300
    cohort = load_site(folders[4].genotypes, folders[4].phenotypes, panel=panel).cohort
    assert cohort.dosages.shape[1] == 300 and 20 <= cohort.n_samples <= 60 and cohort.n_cases > 0
    # beyond `distinct`, hospitals are hard links to the first ones: quick to write at any size
    assert folders[4].genotypes.stat().st_ino == folders[0].genotypes.stat().st_ino
    assert folders[1].genotypes.stat().st_ino != folders[0].genotypes.stat().st_ino


def _case(hospitals, variants, wall, workers):
    return scale.Case(
        hospitals, variants, wall, wall / 2, 0.5, workers, 2, 0.5, workers + 1.0, 1000.0, hospitals - 1
    )


def test_growth_compares_each_figure_with_the_growth_of_the_size():
    line = scale.growth(_case(8, 20_000, 10.0, 1.0), _case(32, 20_000, 50.0, 1.0))
    assert "hospitals 4.00x" in line and "hospital-variants 4.00x" in line
    assert "wall 5.00x" in line and "workers 1.00x" in line and "bytes/round 1.00x" in line
    # each row says how many hospitals trained in every round: a fast run cannot hide refusals
    assert "trained" in scale.HEADER and scale.row(_case(32, 20_000, 50.0, 1.0)).endswith("31/32")


def test_keep_refuses_a_case_it_kept_before(tmp_path):
    (tmp_path / "4x300").mkdir()
    with pytest.raises(SystemExit, match="exists: --keep never overwrites"):
        scale.measure(4, 300, rounds=1, epsilon=8.0, patients=40, keep=str(tmp_path))

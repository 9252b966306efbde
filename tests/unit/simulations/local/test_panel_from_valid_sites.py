"""A run's built panel comes only from the hospitals whose data passes its checks: a hospital
refused for its data ("cannot take part") must not add variants to the panel nor move its
frequencies, since every other hospital trains on that panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.layout import PANEL
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_vcf
from genofed.common.errors import DataError
from genofed.simulations.local.run_panel import panel_for_run

SHARED = ["1:100:A:G", "1:200:C:T"]
EXTRA = "2:50:G:A"  # typed at beta and at the refused gamma: at one valid site only


def _hospital(root: Path, name: str, variants: list[str], *, sex: str = "M", alt: int | None = None) -> None:
    """30 patients; random dosages, or all `alt` copies."""
    folder = root / name
    folder.mkdir(parents=True)
    samples = [f"{name}{i}" for i in range(30)]
    dosages = np.random.default_rng(len(name)).integers(0, 3, (30, len(variants))).astype(np.int8)
    if alt is not None:
        dosages[:] = alt
    write_vcf(folder / "genotypes.vcf", dosages, samples, variants)
    rows = [f"{sample},{i % 2},{sex}" for i, sample in enumerate(samples)]
    (folder / "phenotypes.csv").write_text("sample_id,label,sex\n" + "\n".join(rows) + "\n")


def _federation(root: Path) -> Path:
    """alpha and beta, valid; gamma, whose phenotype file codes sex as PLINK's 2 (refused), typed
    at beta's extra variant too and carrying two ALT copies everywhere."""
    _hospital(root, "alpha", SHARED)
    _hospital(root, "beta", [*SHARED, EXTRA])
    _hospital(root, "gamma", [*SHARED, EXTRA], sex="2", alt=2)
    return root


def test_a_hospital_refused_for_its_data_does_not_shape_the_panel(tmp_path: Path):
    data = _federation(tmp_path / "data")
    said: list[str] = []
    panel = VariantPanel.load(panel_for_run(data, tmp_path / "run", progress=said.append))
    shutil.rmtree(data / "gamma")  # the same federation without the refused hospital
    valid = VariantPanel.load(panel_for_run(data, tmp_path / "valid"))
    assert panel.variant_ids == valid.variant_ids == SHARED
    assert np.array_equal(panel.alt_freq, valid.alt_freq)
    (line,) = said
    assert line.startswith(
        f"no {PANEL} in {data}: built one from the variant summaries of 2 of the 3 hospitals (rounded "
        f"counts, present in >= 2 sites): 2 variants -> {tmp_path / 'run' / PANEL}; not from gamma, whose "
        "data is refused: it cannot take part (gamma: "
    )


def test_no_valid_hospital_raises_the_first_refusal(tmp_path: Path):
    data = tmp_path / "data"
    _hospital(data, "gamma", SHARED, sex="2")
    with pytest.raises(DataError, match="sex '2' is not recognised"):
        panel_for_run(data, tmp_path / "run")
    assert not (tmp_path / "run" / PANEL).exists()

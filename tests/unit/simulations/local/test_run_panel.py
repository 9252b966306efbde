"""The panel of a simulated run: the folder's own when it has one, else built from the
hospitals' rounded variant summaries into the run's output folder, and said so."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.layout import PANEL
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_phenotypes, write_vcf
from genofed.simulations.local.run_panel import panel_for_run


def _federation(root: Path, gamma_typed: int = 4) -> Path:
    """Three hospitals; gamma typed only the first `gamma_typed` of the four variants."""
    rng = np.random.default_rng(0)
    ids = ["1:100:A:G", "1:200:C:T", "2:50:G:A", "2:80:A:T"]
    for index, name in enumerate(("alpha", "beta", "gamma")):
        folder = root / name
        folder.mkdir(parents=True)
        samples = [f"{name}{i}" for i in range(30)]
        site_ids = ids if index < 2 else ids[:gamma_typed]
        write_vcf(
            folder / "genotypes.vcf",
            rng.integers(0, 3, (30, len(site_ids))).astype(np.int8),
            samples,
            site_ids,
        )
        write_phenotypes(
            folder / "phenotypes.csv", samples, rng.integers(0, 2, 30), pd.DataFrame({"age": [50] * 30})
        )
    return root


def test_builds_a_panel_into_the_output_folder_and_says_so(tmp_path: Path):
    data = _federation(tmp_path / "data")
    said: list[str] = []
    built = panel_for_run(data, tmp_path / "run", progress=said.append)
    assert built == tmp_path / "run" / PANEL
    assert not (data / PANEL).exists()  # the user's data folder is never written to
    panel = VariantPanel.load(built)
    assert panel.variant_ids == ["1:100:A:G", "1:200:C:T", "2:50:G:A", "2:80:A:T"]
    assert said == [
        f"no {PANEL} in {data}: built one from the 3 hospitals' variant summaries (rounded counts, "
        f"present in >= 2 sites): 4 variants -> {built}"
    ]


def test_a_hospital_on_another_array_gets_a_panel_of_the_variants_every_hospital_has(tmp_path: Path):
    """An outside walkthrough on real genotypes: one hospital typed 75 % of the others' variants;
    the panel of variants in >= 2 sites left it at 75 % coverage, its ClientApp refused (it needs
    90 %) and the run trained without its patients, pointing to an option `simulate` has not."""
    data = _federation(tmp_path / "data", gamma_typed=2)  # 2:* typed at two sites only
    said: list[str] = []
    built = panel_for_run(data, tmp_path / "run", progress=said.append)
    assert VariantPanel.load(built).variant_ids == ["1:100:A:G", "1:200:C:T"]
    assert said == [
        f"no {PANEL} in {data}: built one from the 3 hospitals' variant summaries (rounded counts, "
        "present in >= 3 sites, since gamma would cover less than 90% of the variants in >= 2 (another "
        f"genotyping array?)): 2 variants -> {built}"
    ]


def test_uses_the_folders_own_panel(tmp_path: Path):
    data = _federation(tmp_path / "data")
    VariantPanel(["1:100:A:G"], np.array([0.5])).save(data / PANEL)
    said: list[str] = []
    assert panel_for_run(data, tmp_path / "run", progress=said.append) == data / PANEL
    assert said == [] and not (tmp_path / "run").exists()


def test_a_single_hospital_needs_only_itself(tmp_path: Path):
    data = _federation(tmp_path / "data")
    for name in ("beta", "gamma"):
        shutil.rmtree(data / name)
    built = panel_for_run(data, tmp_path / "run")
    assert len(VariantPanel.load(built)) == 4


def test_a_hospital_refused_for_its_label_column_is_told_the_federations_remedy(tmp_path: Path):
    """A walkthrough's hospital named its disease column `Заболевание` where `--label-column disease`
    named the others': the run said only "whose data is refused", and the file's own hint ("pass
    --label-column Заболевание") would have refused the other two. The line now says why, with the
    federation's remedy."""
    data = _federation(tmp_path / "data")
    pheno = data / "gamma" / "phenotypes.csv"
    pheno.write_text(pheno.read_text(encoding="utf-8").replace("label", "Заболевание", 1), encoding="utf-8")
    said: list[str] = []
    panel_for_run(data, tmp_path / "run", progress=said.append)
    (line,) = said
    assert "not from gamma, whose data is refused: it cannot take part (gamma: no 'label' column" in line
    assert "rename this hospital's to 'label', or give every file one name and pass that" in line
    assert "pass --label-column Заболевание" not in line

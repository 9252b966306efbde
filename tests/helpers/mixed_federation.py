"""A federation folder as real hospitals hand one over: every hospital in another genotype format,
its phenotype file named its own way, the disease column called `disease`, no test cohort.

Genotypes carry a small signal (cases have more ALT alleles at the first variants), so a model
trained on them can do better than chance; the data are random otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_plink, write_vcf

#: Hospital name -> (genotype file name, phenotype file name). The phenotype file of "orel" has
#: no pheno* name: it is found as the only sample_id table without variant columns.
LAYOUT = {
    "kazan": ("calls.vcf", "phenotypes.csv"),
    "omsk": ("export.vcf.gz", "pheno_2024.tsv"),
    "perm": ("cohort.bcf", "Phenotypes.txt"),
    "tomsk": ("plink_out.bed", "phenotypes.csv"),
    "orel": ("dosages.csv", "clinical.csv"),
}


def variant_ids(n: int) -> list[str]:
    return [f"1:{1000 + 100 * i}:A:G" for i in range(n)]


def write_mixed_federation(
    root: Path, *, samples: int = 40, variants: int = 30, seed: int = 0, bcf: bool = True
) -> dict[str, tuple[Path, Path]]:
    """Write the `LAYOUT` hospitals into `root` (the .bcf one only with `bcf`, made by bcftools)
    and root/panel.tsv; returns each hospital's (genotypes, phenotypes) paths."""
    rng = np.random.default_rng(seed)
    ids = variant_ids(variants)
    written: dict[str, tuple[Path, Path]] = {}
    everyone = []
    for name, (genotype_name, phenotype_name) in LAYOUT.items():
        if genotype_name.endswith(".bcf") and not bcf:
            continue
        folder = root / name
        folder.mkdir(parents=True)
        people = [f"{name.upper()}{i:03d}" for i in range(samples)]
        labels = np.arange(samples) % 2
        freq = np.full(variants, 0.3)
        dosages = rng.binomial(2, np.where(np.arange(variants) < 5, 0.15 + 0.4 * labels[:, None], freq))
        dosages = dosages.astype(np.int8)
        everyone.append(dosages)
        genotypes = folder / genotype_name
        _write_genotypes(genotypes, dosages, people, ids)
        _write_phenotypes(folder / phenotype_name, people, labels, rng)
        written[name] = (genotypes, folder / phenotype_name)
    VariantPanel.from_dosages(ids, np.concatenate(everyone)).save(root / "panel.tsv")
    return written


def _write_genotypes(path: Path, dosages: np.ndarray, people: list[str], ids: list[str]) -> None:
    name = path.name
    if name.endswith((".vcf", ".vcf.gz")):
        write_vcf(path, dosages, people, ids)
    elif name.endswith(".bcf"):
        text = path.with_name(".source.vcf")  # hidden: not taken for a second genotype file
        write_vcf(text, dosages, people, ids)
        subprocess.run(
            [shutil.which("bcftools") or "bcftools", "view", "-Ob", "-o", str(path), str(text)], check=True
        )
    elif name.endswith(".bed"):
        write_plink(path.with_suffix(""), dosages, people, ids)
    else:
        frame = pd.DataFrame(dosages, columns=ids)
        frame.insert(0, "sample_id", people)
        frame.to_csv(path, index=False)


def _write_phenotypes(path: Path, people: list[str], labels: np.ndarray, rng: np.random.Generator) -> None:
    """sample_id, disease (case/control or 0/1), sex, age; tab-separated for .tsv/.txt."""
    disease = np.where(labels == 1, "case", "control") if path.suffix == ".tsv" else labels
    frame = pd.DataFrame(
        {
            "sample_id": people,
            "disease": disease,
            "sex": rng.choice(["M", "F"], len(people)),
            "age": rng.integers(20, 80, len(people)),
        }
    )
    frame.to_csv(path, index=False, sep="," if path.suffix == ".csv" else "\t")

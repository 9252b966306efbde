"""A small hospital's data files for the local-release tests (`synth`, `hospital variants`), a site
folder with a declared budget, and the command lines of those two releases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genofed.client.agent.keys import init_site
from genofed.common.data.writers import write_vcf

#: The three variants of `write_small_site`'s genotypes.
SMALL_SITE_IDS = ["1:100:A:G", "1:200:C:T", "2:50:G:A"]


def write_small_site(folder: Path, patients: int = 40) -> tuple[Path, Path]:
    """`patients` patients' genotypes (random dosages, seed 1) and phenotypes (label, sex, age) in
    `folder`, made here; returns (genotypes.vcf, phenotypes.csv)."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    samples = [f"p{i}" for i in range(patients)]
    dosages = rng.integers(0, 3, size=(patients, len(SMALL_SITE_IDS))).astype(np.int8)
    write_vcf(folder / "genotypes.vcf", dosages, samples, SMALL_SITE_IDS)
    lines = [f"{s},{i % 2},{'MF'[i % 2]},{30 + i}" for i, s in enumerate(samples)]
    (folder / "phenotypes.csv").write_text("sample_id,label,sex,age\n" + "\n".join(lines) + "\n")
    return folder / "genotypes.vcf", folder / "phenotypes.csv"


def budgeted_site(tmp_path: Path, budget: float = 8.0) -> Path:
    """A site folder `tmp_path/site_rostov` as `hospital init` and `hospital check` leave it,
    declaring epsilon `budget` at delta 1e-5 (its state folder is made by the first release)."""
    site = tmp_path / "site_rostov"
    init_site(site, "rostov")
    info = json.loads((site / "hospital.json").read_text())
    info["data"] = {"epsilon_budget": budget, "delta": 1e-5}
    (site / "hospital.json").write_text(json.dumps(info))
    return site


def variants_args(genotypes: Path, out: Path, *extra: str) -> list[str]:
    """`genofed hospital variants` on `genotypes` into `out`, then `extra`."""
    return ["hospital", "variants", "--genotypes", str(genotypes), "--out", str(out), *extra]


def synth_args(files: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    """`genofed synth` on (genotypes, phenotypes) into `out`, one epoch (the tests' speed), then `extra`;
    under DP with `--spend-anyway`: no batch of these tiny sites can pass validation, and the check
    that refuses such a batch before its charge is tested on its own (test_synth_cannot_pass.py)."""
    genotypes, phenotypes = files
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes), "--out", str(out)]
    return [*argv, "--epochs", "1", *extra, *spend_anyway(extra)]


def spend_anyway(extra: tuple[str, ...] | list[str]) -> list[str]:
    """["--spend-anyway"] for a DP `synth` command line (`--epsilon` other than inf), else []."""
    args = list(extra)
    if "--epsilon" not in args or "--spend-anyway" in args:
        return []
    value = args[args.index("--epsilon") + 1] if args.index("--epsilon") + 1 < len(args) else "inf"
    return [] if value in ("inf", "Inf", "INF") else ["--spend-anyway"]


#: The six variants of `write_named_cohort`'s cohorts.
NAMED_COHORT_VARIANTS = [f"1:{1000 + i}:A:G" for i in range(6)]


def write_named_cohort(folder: Path, prefix: str) -> None:
    """A 24-person cohort (genotypes.vcf.gz and phenotypes.csv, label 0/1 alternating) whose ids
    start with `prefix`, so that several cohorts of one federation folder never share an id."""
    folder.mkdir(parents=True)
    ids = [f"{prefix}{i:03d}" for i in range(24)]
    haplotypes = np.random.default_rng(0).integers(0, 2, (len(ids), len(NAMED_COHORT_VARIANTS), 2))
    write_vcf(folder / "genotypes.vcf.gz", haplotypes, ids, NAMED_COHORT_VARIANTS)
    (folder / "phenotypes.csv").write_text(
        "sample_id,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(ids))
    )

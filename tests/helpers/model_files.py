"""A tiny model file and people to score with it, for the model-file and `genofed predict` tests
(written in well under a second: 30 variants, 60 people, a logistic model with set weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genofed.common.data.features import FeatureSpec
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_phenotypes, write_vcf
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import ModelFile, Task, features_dict, save_model_file
from genofed.common.scoring.operating import operating_point, risk_distribution

N_VARIANTS = 30
N_PEOPLE = 60
#: A pooled validation histogram (controls, cases by risk decile) with its best edge at 0.5:
#: 65 people.
HISTOGRAM = np.array(
    [[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]],
    dtype=np.float64,
)
#: The validation histogram of `model_file`'s run (a run without DP: exact counts), twice
#: `HISTOGRAM`: 130 people, enough for `genofed predict` to show percentiles read off exact counts
#: (100: `operating.minimum_for_percentiles`), which 65 are not.
RUN_HISTOGRAM = HISTOGRAM * 2


def panel() -> VariantPanel:
    ids = [f"1:{1_000 + 10 * i}:A:G" for i in range(N_VARIANTS)]
    return VariantPanel(ids, np.linspace(0.05, 0.5, N_VARIANTS))


def model_file(*, operating: bool = True, seed: int = 0) -> ModelFile:
    """A logistic model on `panel()` with random weights; with `operating`, as a run writes it."""
    config = ModelConfig(n_variants=N_VARIANTS, architecture="logistic")
    model = build_model(config, seed=0)
    weights = np.random.default_rng(seed).normal(0.0, 0.6, N_VARIANTS + 2)
    with torch.no_grad():
        model.linear.weight[0] = torch.as_tensor(weights, dtype=torch.float32)
    the_panel = panel()
    extra = {}
    if operating:
        extra = {
            "features": features_dict(FeatureSpec(alt_freq=the_panel.alt_freq)),
            "threshold": operating_point(RUN_HISTOGRAM, round_=3),
            "risk_distribution": risk_distribution(RUN_HISTOGRAM, round_=3),
        }
    return ModelFile(
        model.state_dict(), config, the_panel, Task("binary", "label"), {"source": "test"}, operating=extra
    )


def write_model_file(path: Path, **kwargs) -> Path:
    save_model_file(path, model_file(**kwargs))
    return path


def people(seed: int = 1) -> tuple[np.ndarray, list[str], np.ndarray, pd.DataFrame]:
    """(dosages in panel order with a few missing calls, sample ids, labels, covariates)."""
    rng = np.random.default_rng(seed)
    freq = panel().alt_freq
    dosages = rng.binomial(2, freq, size=(N_PEOPLE, N_VARIANTS)).astype(np.int8)
    dosages[rng.random(dosages.shape) < 0.02] = -1
    samples = [f"P{i:03d}" for i in range(N_PEOPLE)]
    labels = (rng.random(N_PEOPLE) < 0.4).astype(int)
    labels[:2] = (0, 1)  # both classes, whatever the draw
    covariates = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], N_PEOPLE), "age": rng.integers(20, 80, N_PEOPLE)}, index=samples
    )
    return dosages, samples, labels, covariates


def write_people(
    folder: Path, *, swap_first: int = 0, drop_last: int = 0, seed: int = 1
) -> tuple[Path, Path]:
    """genotypes.vcf and phenotypes.csv of `people()`; the first `swap_first` variants written with
    REF and ALT exchanged (dosages 2 - d), the last `drop_last` left out."""
    dosages, samples, labels, covariates = people(seed)
    ids = list(panel().variant_ids)
    written = dosages.copy()
    for j in range(swap_first):
        chrom, pos, ref, alt = ids[j].split(":")
        ids[j] = f"{chrom}:{pos}:{alt}:{ref}"
        written[:, j] = np.where(dosages[:, j] < 0, -1, 2 - dosages[:, j])
    keep = len(ids) - drop_last
    folder.mkdir(parents=True, exist_ok=True)
    genotypes, phenotypes = folder / "genotypes.vcf", folder / "phenotypes.csv"
    write_vcf(genotypes, written[:, :keep], samples, ids[:keep])
    write_phenotypes(phenotypes, samples, labels, covariates)
    return genotypes, phenotypes

"""One small site as the synthetic-utility experiment sees it: the classifier's training split
re-read as genotypes for the site's generator, synthetic records encoded as the classifier's
features, and the site's real held-out patients scored as a reference batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genofed.client.site import SiteTensors, resolve_site, split_seed, validation_split
from genofed.client.synth_input import impute_public
from genofed.common.data.cohort import MISSING, Cohort
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.synthetic.checks import fidelity, linkage, population_structure
from genofed.common.synthetic.config_base import SyntheticRecords
from genofed.common.synthetic.pipeline import split_for_generator
from genofed.server.settings import RunSettings


@dataclass
class SiteData:
    """One small site as the experiment sees it: the classifier's training tensors (the same
    split the site's ClientApp trains on) and the same patients' panel-aligned genotypes."""

    tensors: SiteTensors
    #: the training patients' dosages, missing calls filled from the panel's public frequencies
    #: (`impute_public`: the DP generators may read nothing computed from the other patients)
    dosages: np.ndarray
    labels: np.ndarray  # int8
    covariates: np.ndarray | None  # (sex, age) when complete
    untyped: np.ndarray  # bool per panel variant: never called at this site (its platform lacks it)
    variant_ids: list[str]


def load_site_data(settings: RunSettings, index: int, tensors: SiteTensors, panel: VariantPanel) -> SiteData:
    """Re-read the site's cohort and apply the split `load_site_tensors` used, so the generator
    trains on exactly the classifier's training patients (checked on the encoded features)."""
    site = resolve_site({"partition-id": index}, settings.to_config())
    cohort = load_site(site.genotypes, site.phenotypes, panel=panel).cohort
    train, _ = validation_split(cohort.sample_ids, split_seed(site, settings.seed))
    if not np.array_equal(encode(FeatureSpec(alt_freq=panel.alt_freq), cohort)[train], tensors.train_x):
        raise GenofedError(
            f"internal: {site.name}'s training split differs from the one its classifier trains on"
        )
    dosages = cohort.dosages[train]
    frame = cohort.covariates.iloc[train]
    covariates = None
    if {"sex", "age"} <= set(frame.columns):
        values = frame[["sex", "age"]].to_numpy(dtype=np.float64)
        covariates = None if np.isnan(values).any() else values
    return SiteData(
        tensors,
        impute_public(dosages, panel.alt_freq),
        cohort.labels[train].astype(np.int8),
        covariates,
        (dosages == MISSING).all(axis=0),
        list(cohort.variant_ids),
    )


def encode_records(records: SyntheticRecords, site: SiteData, panel: VariantPanel) -> np.ndarray:
    """Synthetic records -> the classifier's features, through the same `encode` as real patients.
    Variants the site never typed go back to missing (encoded 0, as for its real patients): the
    generator saw them only as the panel's most likely genotype, not as data."""
    dosages = records.genotypes.astype(np.int8).copy()
    dosages[:, site.untyped] = MISSING
    n = len(records.labels)
    ids = [f"SYN{i:06d}" for i in range(n)]
    frame = pd.DataFrame(index=ids)
    if records.sex is not None and records.age is not None:
        frame["sex"], frame["age"] = records.sex.astype(np.float64), records.age
    cohort = Cohort(
        dosages=dosages,
        sample_ids=ids,
        variant_ids=site.variant_ids,
        labels=records.labels.astype(np.int8),
        covariates=frame,
    )
    return encode(FeatureSpec(alt_freq=panel.alt_freq), cohort)


def holdout_reference(site: SiteData, seed: int, size: int, name: str) -> dict[str, Any]:
    """The site's real held-out patients scored by the fidelity checks as if they were a synthetic
    batch: what real data reaches at this size, i.e. whether the thresholds are reachable at all."""
    train, holdout = split_for_generator(site.labels, seed)
    real, other = site.dosages[train], site.dosages[holdout]
    return {
        "size": size,
        "seed": seed,
        "site": name,
        "holdout": int(len(holdout)),
        "af_correlation": fidelity(real=real, synthetic=other).af_correlation,
        "ld_correlation": linkage(real=real, synthetic=other).ld_correlation,
        "pca_mixing": population_structure(real=real, synthetic=other).mixing_synthetic,
    }

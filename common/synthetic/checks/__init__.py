"""Checks every synthetic genotype batch must pass before a site uses it.

The paper behind this project enlarged rare-disease cohorts with GAN/VAE genomes but found that
12 % of the synthetic sequences produced false genotype-phenotype correlations. So a synthetic
batch is only used when it reproduces what the real cohort shows (allele and genotype
frequencies, linkage disequilibrium, population structure, label associations), adds no
association the real data does not have, and does not leak the training records (distance to
closest record, exact copies, nearest-neighbour adversarial accuracy, membership inference).

Modules, one metric family each:

- `thresholds`: `Thresholds`, the pass/fail limits, and `DEFAULT_THRESHOLDS`.
- `arrays`: input checks of dosage matrices and labels, and the NaN-aware Pearson r they share.
- `frequencies`: allele- and genotype-frequency fidelity (`fidelity`).
- `linkage_disequilibrium`: r^2 in contiguous windows and its decay with distance (`linkage`).
- `structure`: overlap in the top principal components (`population_structure`).
- `label_associations`: effects, trend tests, spurious findings and recall (`associations`).
- `distances`: exact L1 nearest-record distances, the primitive of the privacy checks.
- `leakage`: DCR, exact and near copies, adversarial accuracy, membership inference (`privacy`),
  and the mask of records to drop (`record_failures`).
- `precision`: whether privacy_loss and mia_auc can tell at the batch's size, from their standard
  errors (`check_precision`, `precision_warning`).
- `bands`: the real-sample band, what equal-size real samples score against the holdout
  (`real_sample_bands`): the fidelity checks' limits by default.
- `verdict`: `validate_synthetic`, every check on one batch, and its `ValidationReport`.

Data model, shared by every check:

- genotypes are dosage matrices of shape (n_samples, n_variants) with values 0, 1, 2 (count of
  one allele, the same allele in every matrix); **no missing values** (impute or drop them
  before calling: a missing code such as -1 would be read as a genotype and is rejected);
- real and synthetic matrices share their variant columns, in the same order;
- labels are 0/1 arrays (1 = case);
- positions (base pairs) and chromosomes are optional, per variant, for r^2 decay by distance
  and for keeping linkage windows inside one chromosome.

Everything returns plain dataclasses; `ValidationReport.to_dict()` is JSON-ready.

The numpy-only modules are imported here; `structure`, `leakage` (scikit-learn),
`label_associations` (SciPy), `bands` and `verdict` load on first use of one of their names, so
that importing the limits (`Thresholds`) stays cheap.
"""

from __future__ import annotations

from typing import Any

from genofed.common.synthetic.checks.arrays import as_dosages, as_labels, pearson
from genofed.common.synthetic.checks.distances import nearest_distances
from genofed.common.synthetic.checks.frequencies import (
    FidelityResult,
    allele_frequencies,
    fidelity,
    genotype_frequencies,
)
from genofed.common.synthetic.checks.linkage_disequilibrium import (
    DEFAULT_DISTANCE_BINS,
    DEFAULT_LD_WINDOW,
    LDResult,
    ld_windows,
    linkage,
    r2_matrix,
)
from genofed.common.synthetic.checks.precision import CheckPrecision, check_precision, precision_warning
from genofed.common.synthetic.checks.thresholds import DEFAULT_THRESHOLDS, Thresholds

_STRUCTURE = {"StructureResult", "knn_mixing", "population_structure"}
_LABEL_ASSOCIATIONS = {
    "AssociationResult",
    "allelic_log_odds_ratios",
    "associations",
    "benjamini_hochberg",
    "significant",
    "trend_test_pvalues",
}
_LEAKAGE = {"PrivacyResult", "adversarial_accuracy", "privacy", "record_failures"}
_VERDICT = {"CheckResult", "ValidationReport", "validate_synthetic"}
_BANDS = {"BANDED_METRICS", "MetricBand", "RealSampleBands", "real_sample_bands"}


def __getattr__(name: str) -> Any:
    """The names of the modules that import scikit-learn or SciPy, imported on first use."""
    if name in _STRUCTURE:
        import genofed.common.synthetic.checks.structure as structure

        return getattr(structure, name)
    if name in _LABEL_ASSOCIATIONS:
        import genofed.common.synthetic.checks.label_associations as label_associations

        return getattr(label_associations, name)
    if name in _LEAKAGE:
        import genofed.common.synthetic.checks.leakage as leakage

        return getattr(leakage, name)
    if name in _VERDICT:
        import genofed.common.synthetic.checks.verdict as verdict

        return getattr(verdict, name)
    if name in _BANDS:
        import genofed.common.synthetic.checks.bands as bands

        return getattr(bands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_THRESHOLDS",
    "Thresholds",
    "as_dosages",
    "as_labels",
    "pearson",
    "FidelityResult",
    "allele_frequencies",
    "fidelity",
    "genotype_frequencies",
    "DEFAULT_DISTANCE_BINS",
    "DEFAULT_LD_WINDOW",
    "LDResult",
    "ld_windows",
    "linkage",
    "r2_matrix",
    "nearest_distances",
    "CheckPrecision",
    "check_precision",
    "precision_warning",
]
#: and every name `__getattr__` loads on first use
__all__ += sorted(_STRUCTURE | _LABEL_ASSOCIATIONS | _LEAKAGE | _VERDICT | _BANDS)

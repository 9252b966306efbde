"""Central evaluation of the global model on a held-out test cohort (simulation, or a
coordinator that holds its own validation cohort)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from genofed.common.data.features import FeatureSpec, encode, unknown_covariates
from genofed.common.data.layout import held_out_cohort_files
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.reporting.auc import delong_interval
from genofed.common.scoring.validation import covariate_values


@dataclass(frozen=True)
class TestCohort:
    """The coordinator's held-out cohort, encoded as the hospitals encode theirs; `sample_ids` in
    row order (for RUN/test_predictions.csv); `ages` and `sexes` (0 male, 1 female; NaN unknown) in
    row order, None when not read: the model file records their range and mix as the population
    the model was validated on (the coordinator's own data, never a hospital's)."""

    features: np.ndarray
    labels: np.ndarray
    sample_ids: tuple[str, ...] = ()
    ages: np.ndarray | None = None
    sexes: np.ndarray | None = None

    @classmethod
    def load(cls, folder: Path, panel: VariantPanel, *, label_column: str = "label") -> TestCohort:
        """The cohort in `folder`, its files found as a hospital folder's are (`held_out_cohort_files`)."""
        files = held_out_cohort_files(folder)
        cohort = load_site(files.genotypes, files.phenotypes, panel=panel, label_column=label_column).cohort
        return cls(
            encode(FeatureSpec(alt_freq=panel.alt_freq), cohort),
            cohort.labels.astype(np.float32),
            tuple(cohort.sample_ids),
            ages=covariate_values(cohort.covariates, "age"),
            sexes=covariate_values(cohort.covariates, "sex"),
        )

    def predict(self, model_config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> np.ndarray:
        """The model's predicted risk of every person, in row order."""
        return predict_proba(_model(model_config, state_dict), self.features)

    def score_parts(
        self, model_config: ModelConfig, state_dict: dict[str, torch.Tensor], spec: FeatureSpec
    ) -> dict[str, Any] | None:
        """How much of the model's ranking on this cohort comes from the genotypes and how much from
        the covariates (sex, age): its AUC with both, with the genotypes alone (every covariate set to
        what the model reads for an unknown value) and with the covariates alone (every genotype set
        to the panel's expected dosage, 0 once centred), the last with DeLong's 95 % lower bound
        (`covariates_only_low`: the report says the score rests on sex and age only when they
        rank people better than chance, not when every part sits at 0.5). A clinician told "genetic
        risk" must see when a score mostly ranks people by age. None without both classes. The
        coordinator's own cohort: nothing a hospital released is read. `spec`: the encoding
        `features` was made with (`load`'s)."""
        if len(np.unique(self.labels)) < 2:
            return None
        model = _model(model_config, state_dict)
        covariates = len(spec.covariates)
        genotypes_only = self.features.copy()
        genotypes_only[:, genotypes_only.shape[1] - covariates :] = unknown_covariates(spec)
        covariates_only = self.features.copy()
        covariates_only[:, : covariates_only.shape[1] - covariates] = 0.0
        by_covariates = delong_interval(self.labels, predict_proba(model, covariates_only))
        return {
            "auc": float(roc_auc_score(self.labels, predict_proba(model, self.features))),
            "genotypes_only_auc": float(roc_auc_score(self.labels, predict_proba(model, genotypes_only))),
            "covariates_only_auc": float(by_covariates.auc),
            "covariates_only_low": float(by_covariates.low),
            "covariates": list(spec.covariates),
        }

    def evaluate(self, model_config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> dict:
        return binary_metrics(self.labels, self.predict(model_config, state_dict))


def _model(model_config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The final model, built and loaded."""
    model = build_model(model_config, seed=0)
    model.load_state_dict(state_dict)
    return model

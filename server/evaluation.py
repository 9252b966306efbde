"""Central evaluation of the global model on a held-out test cohort (simulation, or a
coordinator that holds its own validation cohort)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.layout import GENOTYPES, PHENOTYPES
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, predict_proba


@dataclass(frozen=True)
class TestCohort:
    features: np.ndarray
    labels: np.ndarray

    @classmethod
    def load(cls, folder: Path, panel: VariantPanel) -> TestCohort:
        cohort = load_site(folder / GENOTYPES, folder / PHENOTYPES, panel=panel).cohort
        return cls(encode(FeatureSpec(alt_freq=panel.alt_freq), cohort), cohort.labels.astype(np.float32))

    def evaluate(self, model_config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> dict:
        model = build_model(model_config, seed=0)
        model.load_state_dict(state_dict)
        return binary_metrics(self.labels, predict_proba(model, self.features))

"""The privacy frontier's reference models, on the very splits the federation's hospitals train on.

- pooled: a non-private logistic regression (sklearn, lbfgs, its default L2 strength C = 1) on
  every hospital's training patients in one place: the classical ceiling.
- alone: the same model trained at one hospital on its own training patients, without privacy:
  what a hospital gets without joining.
- the plain DP logistic regression federation (`federate`, `genofed.simulations.local.plain_dp_logistic`,
  whose docstring gives its rule from public facts): per-site DP-SGD and FedAvg, the measuring stick
  every DP design is held against; `genofed simulate` reports it too.

Data: `simulated_sites(settings)` (each hospital's `SiteTensors` exactly as its ClientApp sees
them: panel alignment, mean-centred dosages plus sex and age, the keyed 80/20 train/validation
split of the run's seed); only the training split is used. Test: the federation's test cohort.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genofed.client.site import SiteTensors
from genofed.common.data.panel import VariantPanel
from genofed.simulations.local.baselines import logistic_auc


def pooled_auc(sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray) -> float | None:
    """Every hospital's training patients in one place, no privacy: `logistic_auc`."""
    x = np.concatenate([d.train_x for d in sites.values()])
    y = np.concatenate([d.train_y for d in sites.values()])
    return logistic_auc(x, y, x_test, y_test)


def alone_aucs(
    sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float | None]:
    """Each hospital alone on its own training patients, no privacy: `logistic_auc` per site."""
    return {name: logistic_auc(d.train_x, d.train_y, x_test, y_test) for name, d in sites.items()}


def adapted_aucs(
    shared_model: Path,
    panel: VariantPanel,
    sites: dict[str, SiteTensors],
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> dict[str, float | None]:
    """Each hospital's own adaptation of the federation's final model (`genofed adapt`: fitted on
    its training patients, threshold from its validation patients, no privacy: it stays at the
    hospital), scored on the test cohort, as `genofed simulate` reports it."""
    from genofed.simulations.local.simulate import adapted_aucs as simulated_adaptations

    return simulated_adaptations(_run_model(shared_model, panel), sites, x_test, y_test)


def _run_model(path: Path, panel: VariantPanel):
    """A run's RUN/model.pt as a model file; a run written before model files carried their panel
    and task (a dict of `state_dict` and `model_config` only) is completed from the federation's
    panel, with the encoding's default constants, which is what such runs trained on."""
    from genofed.common.data.features import FeatureSpec
    from genofed.common.model.network import ModelConfig
    from genofed.common.scoring.model_file import ModelFile, Task, features_dict, load_model_file

    saved = torch.load(path, weights_only=True)
    if isinstance(saved, dict) and "format" not in saved and {"state_dict", "model_config"} <= set(saved):
        config = ModelConfig.from_dict(saved["model_config"])
        operating = {"features": features_dict(FeatureSpec(alt_freq=panel.alt_freq))}
        return ModelFile(saved["state_dict"], config, panel, Task("binary", "label"), {}, operating)
    return load_model_file(path)

"""The shared disease-risk network and the metrics it is judged by.

Modules:

- `network`: the genotype -> disease-risk network (`GenotypeRiskNet`, built from a `ModelConfig`),
  its locally-connected first layer with Opacus' per-example gradients, the fine-tuning modes,
  and Opacus imported once, quietly, for the whole project.
- `metrics`: binary classification metrics a clinician can read (AUC, calibration), as plain
  floats.

`network` imports torch and Opacus and `metrics` scikit-learn, so every name loads on first use.
"""

from __future__ import annotations

from typing import Any

_NETWORK = {
    "FINETUNE_MODES",
    "BlockLinear",
    "GenotypeRiskNet",
    "ModelConfig",
    "block_linear_grad_sample",
    "build_model",
    "predict_proba",
    "set_trainable",
    "trainable_names",
}
_METRICS = {"ECE_BINS", "binary_metrics", "expected_calibration_error"}


def __getattr__(name: str) -> Any:
    """The names of `network` (torch, Opacus) and `metrics` (scikit-learn), imported on first use."""
    if name in _NETWORK:
        import genofed.common.model.network as network

        return getattr(network, name)
    if name in _METRICS:
        import genofed.common.model.metrics as metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: every name `__getattr__` loads on first use
__all__ = sorted(_NETWORK | _METRICS)

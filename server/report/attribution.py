"""How much each panel variant drives the final model: one non-negative score per panel variant.

- Linear model (`LogisticRiskModel`): |weight per allele| x the variant's genotype standard
  deviation sqrt(2p(1-p)) (p: the panel's alt frequency), i.e. how much the score moves between
  typical carriers and non-carriers. A weight alone would rank a 0.1 % variant with a large,
  noise-driven weight above a common variant that shifts thousands of people's risk. The weight's
  sign (`linear_weights`) says whether the ALT allele raises or lowers the risk.
- Network (`GenotypeRiskNet`): integrated gradients (captum's `IntegratedGradients`, Sundararajan
  et al. 2017) of the logit, from a baseline where every variant is at its panel mean dosage (the
  encoded 0) and the covariates are the person's own, so only genotypes are credited; the score
  is the mean |attribution| over the people attributed (the test cohort, else genotypes drawn from
  the panel's frequencies under Hardy-Weinberg equilibrium). Which way the ALT allele moves the
  risk is the mean logit change per ALT copy from dosage 0 to 2 over the same people
  (`dosage_effects`).

torch and captum are imported inside the functions: importing the report stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.panel import VariantPanel

#: At most this many people are attributed (IG costs `IG_STEPS` forward passes per person).
IG_PEOPLE = 200
IG_STEPS = 32


@dataclass(frozen=True)
class LoadedModel:
    """The final model, its config and, when the model file carries one, its panel."""

    module: Any  # torch.nn.Module
    config: Any  # ModelConfig
    panel: VariantPanel | None


def load_model(path: Path) -> LoadedModel:
    """RUN/model.pt: a full model file (`load_pretrained`, with its panel) or the bare
    {state_dict, model_config} a run writes; raises on anything unreadable (the caller says why)."""
    import torch

    from genofed.common.model.network import ModelConfig, build_model
    from genofed.common.scoring.model_file import load_pretrained

    try:
        model = load_pretrained(path)
        return LoadedModel(model.build(), model.model_config, model.panel)
    except Exception:  # a bare run file (or an older format): read its weights and config only
        saved = torch.load(path, map_location="cpu", weights_only=True)
        config = ModelConfig.from_dict(dict(saved["model_config"]))
        module = build_model(config, seed=0)
        module.load_state_dict(saved["state_dict"])
        return LoadedModel(module, config, None)


def genotype_sd(panel: VariantPanel) -> np.ndarray:
    """sqrt(2p(1-p)) per panel variant: the standard deviation of an allele dosage under HWE."""
    p = np.clip(panel.alt_freq, 0.0, 1.0)
    return np.sqrt(2.0 * p * (1.0 - p))


def linear_weights(module: Any, config: Any, panel: VariantPanel) -> np.ndarray:
    """The signed weight per ALT allele of each panel variant (0 for variants the model does not read).

    `variant_weights` folds in the model's fixed column scale, and the encoding (d - 2p) shifts a
    dosage without scaling it, so one more ALT copy moves the log-odds by exactly this weight: its
    sign says whether the ALT allele raises or lowers the risk.
    """
    weights = module.variant_weights().double().numpy()
    columns = np.asarray(config.selected, dtype=np.int64) if config.selected else np.arange(len(panel))
    signed = np.zeros(len(panel))
    signed[columns] = weights
    return signed


def linear_scores(module: Any, config: Any, panel: VariantPanel) -> np.ndarray:
    """|weight| x genotype sd per panel variant (0 for variants the model does not read)."""
    return np.abs(linear_weights(module, config, panel)) * genotype_sd(panel)


def dosage_effects(module: Any, features: np.ndarray, panel: VariantPanel, variants: list[int]) -> np.ndarray:
    """Per variant in `variants` (panel indices): the mean change in the model's logit per ALT copy
    when each person's dosage goes from 0 to 2, everything else of theirs kept (encoded inputs).

    A network's integrated gradients are averaged in absolute value, so they give a size only; this
    says which way the ALT allele moves the risk, as the model computes it on these people.
    """
    import torch

    from genofed.common.data.features import FREQ_CLIP

    module.eval()
    base = np.ascontiguousarray(features, dtype=np.float32)
    mean = 2.0 * np.clip(panel.alt_freq, FREQ_CLIP, 1.0 - FREQ_CLIP)  # the encoding's d - 2p
    effects = np.zeros(len(variants))
    with torch.no_grad():
        for k, index in enumerate(variants):
            none, two = base.copy(), base.copy()
            none[:, index], two[:, index] = -mean[index], 2.0 - mean[index]
            logits = module(torch.as_tensor(np.vstack([none, two]))).double().numpy()
            effects[k] = float(np.mean(logits[len(base) :] - logits[: len(base)])) / 2.0
    return effects


def integrated_gradient_scores(module: Any, features: np.ndarray, n_variants: int) -> np.ndarray:
    """Mean |integrated gradient| per variant column over the rows of `features` (encoded inputs).

    The baseline is each row with its variant columns at 0 (the panel mean dosage) and its
    covariates kept, so the attributions of one row sum to its logit minus the logit it would have
    with average genotypes (the completeness property of integrated gradients).
    """
    import torch
    from captum.attr import IntegratedGradients

    module.eval()
    inputs = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    baseline = inputs.clone()
    baseline[:, :n_variants] = 0.0
    attributions = IntegratedGradients(module).attribute(
        inputs, baselines=baseline, n_steps=IG_STEPS, internal_batch_size=IG_STEPS * 8
    )
    return attributions[:, :n_variants].abs().mean(dim=0).double().numpy()


def hwe_features(panel: VariantPanel, n_covariates: int, people: int, seed: int = 0) -> np.ndarray:
    """Encoded inputs of `people` drawn from the panel's frequencies (HWE, variants independent),
    covariates at their centre: what IG attributes when no test cohort is available."""
    rng = np.random.default_rng(seed)
    p = np.clip(panel.alt_freq, 0.0, 1.0)
    dosages = rng.binomial(2, p, size=(people, len(p))).astype(np.float32)
    covariates = np.zeros((people, n_covariates), dtype=np.float32)
    return np.hstack([dosages - 2.0 * p.astype(np.float32), covariates])


def subsample(features: np.ndarray, limit: int = IG_PEOPLE, seed: int = 0) -> np.ndarray:
    """At most `limit` rows of `features`, drawn without replacement (seeded: reports reproduce)."""
    if len(features) <= limit:
        return features
    rows = np.sort(np.random.default_rng(seed).choice(len(features), size=limit, replace=False))
    return features[rows]

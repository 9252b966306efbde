"""Genotyping error injected into a whole cohort, for the experiment's robustness test: how much
does a model trained on clean calls lose on a test cohort with a known miscall rate?"""

from __future__ import annotations

import numpy as np

from genofed.common.augment.transforms import CallNoise
from genofed.common.data.cohort import DOSAGE_DTYPE, MISSING


def inject_genotyping_error(
    dosages: np.ndarray, rate: float, seed: int, *, model: str = "adjacent"
) -> np.ndarray:
    """A copy of the (n, V) int8 dosages where each called genotype is miscalled with probability
    `rate` (`CallNoise`, same error model); MISSING calls stay missing; the input is untouched.

    Unlike augmentation, nothing is protected: real genotyping error does not know which
    variants are causal, and that is what the robustness test measures.
    """
    dosages = np.asarray(dosages)
    if dosages.dtype != DOSAGE_DTYPE or dosages.ndim != 2:
        raise ValueError(f"dosages must be an (n, V) int8 matrix, got {dosages.dtype} {dosages.shape}")
    if dosages.size and (dosages.min() < MISSING or dosages.max() > 2):
        raise ValueError("dosages must be MISSING, 0, 1 or 2")
    return CallNoise(rate, model=model).apply(dosages, np.random.default_rng(seed))

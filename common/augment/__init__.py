"""Genotype-aware data augmentation (issue 6): small composable transforms (call noise,
artificial mutations, missingness masking, segment mixing, mixup), the spec that chooses them
per run or site, and the `Augmenter` a site's training loop draws augmented examples from.

Transforms that put two patients into one example (`mixes_patients`: segment mix, mixup) are not
covered by DP-SGD's per-patient accounting; the project's decision is to refuse them under DP.
"""

from genofed.common.augment.augmenter import Augmenter, protected_mask
from genofed.common.augment.robustness import inject_genotyping_error
from genofed.common.augment.spec import KNOWN_KEYS, AugmentSpec, parse_augment
from genofed.common.augment.transforms import (
    NOISE_MODELS,
    TRANSFORM_ORDER,
    CallNoise,
    Missingness,
    Mixup,
    Mutation,
    SegmentMix,
    float_dosages,
)

__all__ = [
    "KNOWN_KEYS",
    "NOISE_MODELS",
    "TRANSFORM_ORDER",
    "AugmentSpec",
    "Augmenter",
    "CallNoise",
    "Missingness",
    "Mixup",
    "Mutation",
    "SegmentMix",
    "float_dosages",
    "inject_genotyping_error",
    "parse_augment",
    "protected_mask",
]

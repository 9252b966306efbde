"""Genotype-aware data augmentation: small composable transforms, the spec that chooses them per
run or site, and the `Augmenter` a site's training loop draws augmented examples from.

Modules:

- `transforms`: one frozen dataclass per transform (call noise, artificial mutations,
  missingness masking, segment mixing, mixup), each changing one record into a new array.
- `spec`: `AugmentSpec` and `parse_augment`, the `--augment` string or a TOML / JSON file with
  per-site tables.
- `augmenter`: the `Augmenter` over one site's training rows, and `protected_mask` for the
  known-causal variants no transform may alter.
- `robustness`: genotyping error injected into a whole cohort, for the robustness experiment.

Transforms that put two patients into one example (`mixes_patients`: segment mix, mixup) are not
covered by DP-SGD's per-patient accounting; the project's decision is to refuse them under DP.
Every module is numpy-only, so all names are imported here.
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

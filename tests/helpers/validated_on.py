"""A model file's `validated_on` record for the tests of `genofed predict`, `inspect-model` and
the model file: a test cohort of adults aged 18-79, as a federated run records it."""

from __future__ import annotations

from typing import Any

import numpy as np

from genofed.common.scoring.validation import validation_record

#: The validated ages of `adults()`.
AGES = (18.0, 79.0)


def adults(people: int = 40, *, sexes: np.ndarray | None = None) -> dict[str, Any]:
    """The record of a test cohort of `people` adults aged 18-79, half of them cases (risks that
    follow the labels loosely), alternately male and female unless `sexes` is given."""
    rng = np.random.default_rng(0)
    labels = np.arange(people) % 2
    risks = np.clip(0.3 + 0.4 * labels + rng.normal(0.0, 0.1, people), 0.01, 0.99)
    return validation_record(
        cohort="the coordinator's test cohort",
        source="held out by the coordinator (a test)",
        labels=labels,
        risks=risks,
        ages=np.linspace(*AGES, people),
        sexes=np.arange(people) % 2 if sexes is None else sexes,
        said_as="the test cohort",
    )

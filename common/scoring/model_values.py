"""The numbers of a model file that scoring reads, checked in one place when the file is loaded.

Why: the content hash detects damage, not edits (docs/predicting.md): anyone with genofed can load a
model, change a value and save it again under a new, valid hash. A value no genofed run writes (a
NaN weight, a threshold of 1.5 or "abc", an age scale of 0, a risk distribution without its edges)
would otherwise reach the patients: every risk NaN and every call "low", a call nobody could get,
risks of exactly 0 or 1, or a traceback half-way through scoring. So `load_model_file` refuses such a
file up front, naming the field, whatever command reads it (`predict`, `adapt`, `inspect-model`, a
run started from it).

What is checked, and the bounds (those of what genofed writes, and of what the options accept):

- `state_dict`: every floating-point tensor finite (the weights and the model's constants);
- `panel.alt_freq`: finite, in [0, 1] (the inputs are centred on them);
- `operating.features`: `age_center` finite, `age_scale` finite and > 0 (inputs are divided by it),
  `freq_clip` a finite number, `covariates` a list of names;
- `operating.threshold`: `threshold` finite and in (0, 1), as `--threshold` accepts;
  `sensitivity`, `specificity` and `flagged_share` in [0, 1]; `validation_patients`,
  `validation_cases`, `flagged` and `bins` finite and >= 0;
- `operating.risk_distribution`: `edges` at least two, finite, in [0, 1] and increasing; `cdf` as
  many, in [0, 1] and non-decreasing; `patients` finite and > 0;
- `validated_on.age`: `min`, `max`, `p5`, `p95` finite with min <= max, `known` >= 0;
  `validated_on.sex`: counts >= 0; `validated_on.fitness` (the run report's verdict, which
  `predict` warns on): a `verdict` in words, `passed` true, false or null, `failed` a list of
  sentences, non-empty exactly when `passed` is false (a file that says both "passed" and which
  rules failed would silence the warning);
- `task` against `model_config` (`task_problem`): a kind genofed writes (`TASK_KINDS`); a binary
  task has one output and no classes; a multi-class one two or more distinct classes and one output
  per class. A model whose outputs contradict its task would be scored (or used as a prior) as a
  task it was not trained for: a regression output read as a disease logit, or the first of three
  class logits read as the risk.

A field that is absent (or null, where the file may record none) is not checked: files written
before it existed keep loading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch


def value_problem(
    state_dict: Mapping[str, torch.Tensor],
    alt_freq: np.ndarray,
    operating: Mapping[str, Any],
    validated_on: Mapping[str, Any],
) -> str | None:
    """The first value of a model file scoring cannot use, as "FIELD is VALUE: why", or None."""
    checks = (
        lambda: _weights(state_dict),
        lambda: _frequencies(alt_freq),
        lambda: _features(operating.get("features")),
        lambda: _threshold(operating.get("threshold")),
        lambda: _distribution(operating.get("risk_distribution")),
        lambda: _validated(validated_on),
    )
    for check in checks:
        problem = check()
        if problem:
            return problem
    return None


#: The task kinds genofed writes: every federated run and `genofed adapt` a binary trait,
#: `genofed pretrain --task` either (`genofed.server.pretraining.settings.TASKS`).
TASK_KINDS = ("binary", "multiclass")


def task_problem(kind: str, classes: Sequence[str], n_outputs: int) -> str | None:
    """Why the task a model file records and its model's outputs disagree, as "FIELD is VALUE:
    why", or None: the hash covers both, so only an edit re-saved with a valid hash gets here."""
    if kind not in TASK_KINDS:
        return f"task.kind is {_shown(kind)}, not a task genofed trains ({', '.join(TASK_KINDS)})"
    if kind == "binary":
        if n_outputs != 1:
            return (
                f"model_config.n_outputs is {n_outputs} under a binary task, which has one output (its logit)"
            )
        if classes:
            return f"task.classes is {_shown(list(classes))} under a binary task, which has no classes"
        return None
    if len(classes) < 2 or len(set(classes)) != len(classes):
        return (
            f"task.classes is {_shown(list(classes))}: a multiclass task names two or more distinct classes"
        )
    if n_outputs != len(classes):
        return (
            f"model_config.n_outputs is {n_outputs} under a multiclass task of {len(classes)} classes, "
            "which has one output per class"
        )
    return None


def _is_number(value: object) -> bool:
    """A real number (not a bool, not a string), finite."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(
    field: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> str | None:
    """ "FIELD is VALUE: ..." unless `value` is a finite number within the bounds given."""
    if not _is_number(value):
        return f"{field} is {_shown(value)}, not a finite number"
    number = float(value)  # type: ignore[arg-type]
    below = low is not None and (number <= low if open_low else number < low)
    above = high is not None and (number >= high if open_high else number > high)
    if below or above:
        left = "(-inf" if low is None else f"{'(' if open_low else '['}{low:g}"
        right = "inf)" if high is None else f"{high:g}{')' if open_high else ']'}"
        interval = f"{left}, {right}"
        return f"{field} is {number:g}, outside {interval}"
    return None


def _numbers(field: str, values: object) -> tuple[np.ndarray | None, str | None]:
    """`values` as a float array when it is a list of finite numbers, else the problem."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        return None, f"{field} is {_shown(values)}, not a list of numbers"
    if not all(_is_number(v) for v in values):
        bad = next(v for v in values if not _is_number(v))
        return None, f"{field} holds {_shown(bad)}, not a finite number"
    return np.asarray(values, dtype=np.float64), None


def _weights(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if torch.is_floating_point(tensor) and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            return (
                f"weights {name} hold {bad} value(s) that are not finite (NaN or infinite): every risk "
                "would be NaN"
            )
    return None


def _frequencies(alt_freq: np.ndarray) -> str | None:
    freq = np.asarray(alt_freq, dtype=np.float64)
    bad = ~np.isfinite(freq) | (freq < 0) | (freq > 1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        return f"panel.alt_freq[{first}] is {freq[first]:g}, not an allele frequency in [0, 1]"
    return None


def _features(features: object) -> str | None:
    if features is None:
        return None
    if not isinstance(features, Mapping):
        return f"operating.features is {_shown(features)}, not a table of encoding constants"
    for key, bounds in (
        ("age_center", {}),
        ("age_scale", {"low": 0.0, "open_low": True}),
        ("freq_clip", {}),
    ):
        if key in features:
            problem = _number(f"operating.features.{key}", features[key], **bounds)
            if problem:
                return problem + (": ages are divided by it" if key == "age_scale" else "")
    covariates = features.get("covariates")
    if covariates is not None and (
        isinstance(covariates, str)
        or not isinstance(covariates, Sequence)
        or not all(isinstance(c, str) for c in covariates)
    ):
        return f"operating.features.covariates is {_shown(covariates)}, not a list of covariate names"
    return None


def _threshold(point: object) -> str | None:
    if point is None:
        return None
    if not isinstance(point, Mapping):
        return f"operating.threshold is {_shown(point)}, not an operating point"
    field = "operating.threshold"
    if point.get("threshold") is not None:
        problem = _number(
            f"{field}.threshold", point["threshold"], low=0.0, high=1.0, open_low=True, open_high=True
        )
        if problem:
            return problem + " (a risk cut-off strictly between 0 and 1, as --threshold takes)"
    shares = ("sensitivity", "specificity", "flagged_share")
    counts = ("validation_patients", "validation_cases", "flagged", "bins")
    for key in (*shares, *counts):
        if point.get(key) is not None:
            high = 1.0 if key in shares else None
            problem = _number(f"{field}.{key}", point[key], low=0.0, high=high)
            if problem:
                return problem
    return None


def _distribution(distribution: object) -> str | None:
    if distribution is None:
        return None
    field = "operating.risk_distribution"
    if not isinstance(distribution, Mapping):
        return f"{field} is {_shown(distribution)}, not a risk distribution"
    for key in ("edges", "cdf"):
        if key not in distribution:
            return f"{field} has no '{key}'"
    edges, problem = _numbers(f"{field}.edges", distribution["edges"])
    if problem:
        return problem
    cdf, problem = _numbers(f"{field}.cdf", distribution["cdf"])
    if problem:
        return problem
    assert edges is not None and cdf is not None
    if edges.size < 2 or cdf.size != edges.size:
        return f"{field} has {edges.size} edges and {cdf.size} cdf values (2 or more of each, as many)"
    if edges.min() < 0 or edges.max() > 1 or np.any(np.diff(edges) <= 0):
        return f"{field}.edges are not increasing risks in [0, 1]"
    if cdf.min() < 0 or cdf.max() > 1 or np.any(np.diff(cdf) < 0):
        return f"{field}.cdf is not a non-decreasing share in [0, 1]"
    if distribution.get("patients") is not None:
        return _number(f"{field}.patients", distribution["patients"], low=0.0, open_low=True)
    return None


def _validated(record: Mapping[str, Any]) -> str | None:
    if not record:
        return None
    age = record.get("age")
    if age is not None:
        if not isinstance(age, Mapping):
            return f"validated_on.age is {_shown(age)}, not an age summary"
        for key in ("min", "max", "p5", "p95"):
            problem = _number(f"validated_on.age.{key}", age.get(key))
            if problem:
                return problem
        if float(age["min"]) > float(age["max"]):
            return f"validated_on.age.min is {age['min']:g}, above its max {age['max']:g}"
        if age.get("known") is not None:
            problem = _number("validated_on.age.known", age["known"], low=0.0)
            if problem:
                return problem
    sex = record.get("sex")
    if sex is not None:
        if not isinstance(sex, Mapping):
            return f"validated_on.sex is {_shown(sex)}, not a count of sexes"
        for key in ("female", "male", "unknown"):
            if sex.get(key) is not None:
                problem = _number(f"validated_on.sex.{key}", sex[key], low=0.0)
                if problem:
                    return problem
    return _fitness(record.get("fitness"))


def _fitness(fitness: object) -> str | None:
    """The run report's verdict as `validated_on.fitness` records it (None: absent, not checked)."""
    if fitness is None:
        return None
    if not isinstance(fitness, Mapping) or not isinstance(fitness.get("verdict"), str):
        return f"validated_on.fitness is {_shown(fitness)}, not a verdict"
    passed = fitness.get("passed")
    if not (passed is None or isinstance(passed, bool)):
        return f"validated_on.fitness.passed is {_shown(passed)}, not true, false or null"
    failed = fitness.get("failed")
    if not isinstance(failed, list) or not all(isinstance(text, str) for text in failed):
        return f"validated_on.fitness.failed is {_shown(failed)}, not a list of sentences"
    if bool(failed) != (passed is False):
        return (
            f"validated_on.fitness.passed is {_shown(passed)} with {len(failed)} failed rule(s): a verdict "
            "fails exactly when a rule failed"
        )
    return None

"""The files beside results.json that the clinician's sections read, each read defensively.

RUN/test_predictions.csv (`sample_id,label,risk`: the final model's risk for every person of the
coordinator's test cohort), RUN/reference_predictions.csv (the same people's risks from each
reference model of a simulation: `sample_id`, then one column per model), the test cohort's folder
(its phenotype table, read by `subgroups`), the federation folder's truth.json (simulated data only)
and the disease's real prevalence. Every reader returns None for a file that is missing or
malformed: an old run, or a federation without a test cohort, still gets its report, which then says
what it could not measure.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.reporting.ratios import Prevalence
from genofed.server.report.reading import config_value, deployed, number

PREDICTIONS = "test_predictions.csv"
PREDICTION_COLUMNS = ("sample_id", "label", "risk")
#: One row per test person: each reference model's risk (`genofed simulate` with its references).
REFERENCE_PREDICTIONS = "reference_predictions.csv"
#: The pooled model's column; each hospital alone is `reference_column(kind, hospital)`.
POOLED_COLUMN = "pooled"
#: The plain DP logistic regression federation's column (a private run's reference), named as
#: results.json names its AUC (`plain_dp_logistic_auc`).
PLAIN_DP_COLUMN = "plain_dp_logistic"
#: The kinds of hospital-alone reference, named as results.json names their AUCs (`<kind>_auc`).
ALONE_KINDS = ("local_only", "local_only_nonprivate")


def reference_column(kind: str, hospital: str) -> str:
    """The column of one hospital alone: 'local_only:rostov' (same privacy as the federation) or
    'local_only_nonprivate:rostov'; the kind is results.json's key less `_auc`, so that a reader
    finds a column's AUC there, and the hospital's name is everything after the first colon."""
    if kind not in ALONE_KINDS:
        raise ValueError(f"not a hospital-alone reference: {kind}")
    return f"{kind}:{hospital}"


@dataclass(frozen=True)
class Predictions:
    """The final model's risks on the test cohort: one label (0/1) and one risk per person, and
    each person's sample id (in the same order; empty when not known) for the subgroup table."""

    labels: np.ndarray
    risks: np.ndarray
    sample_ids: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def cases(self) -> int:
        return int(self.labels.sum())


def read_predictions(run_dir: Path) -> Predictions | None:
    """RUN/test_predictions.csv as arrays; None when absent, malformed or holding no one."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not set(PREDICTION_COLUMNS) <= set(reader.fieldnames or ()):
                return None
            rows = [
                (float(row["label"]), float(row["risk"]), str(row["sample_id"]).strip()) for row in reader
            ]
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or any(label not in (0.0, 1.0) or not 0.0 <= risk <= 1.0 for label, risk, _ in rows):
        return None
    labels, risks, ids = zip(*rows, strict=True)
    return Predictions(np.asarray(labels, dtype=np.int64), np.asarray(risks, dtype=np.float64), tuple(ids))


@dataclass(frozen=True)
class ReferencePredictions:
    """Each reference model's risks on the test cohort, in the order of the final model's
    `Predictions` (matched by sample id), by column name (`POOLED_COLUMN`, `reference_column`)."""

    columns: dict[str, np.ndarray]

    def alone(self, kind: str) -> dict[str, np.ndarray]:
        """Hospital -> risks of one kind of hospital-alone reference (`ALONE_KINDS`)."""
        prefix = f"{kind}:"
        return {name[len(prefix) :]: risks for name, risks in self.columns.items() if name.startswith(prefix)}


def read_reference_predictions(run_dir: Path, predictions: Predictions | None) -> ReferencePredictions | None:
    """RUN/reference_predictions.csv aligned to `predictions` by sample id; None when either is
    absent or malformed, or when the two files do not hold the same people (each once): a run
    without references, or an older one, then shows no paired interval rather than a wrong one."""
    path = Path(run_dir) / REFERENCE_PREDICTIONS
    if predictions is None or not path.is_file() or len(set(predictions.sample_ids)) != predictions.n:
        return None
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            names = [c for c in (reader.fieldnames or ()) if c != "sample_id"]
            if "sample_id" not in (reader.fieldnames or ()) or not names:
                return None
            rows = {str(row["sample_id"]).strip(): [float(row[c]) for c in names] for row in reader}
    except (OSError, ValueError, TypeError, UnicodeDecodeError, csv.Error):
        return None
    if set(rows) != set(predictions.sample_ids):
        return None
    table = np.asarray([rows[sample] for sample in predictions.sample_ids], dtype=np.float64)
    if not np.all(np.isfinite(table)):
        return None
    return ReferencePredictions({name: table[:, i] for i, name in enumerate(names)})


def data_dir(results: Mapping[str, Any]) -> Path | None:
    """The federation folder the run trained on (its config's `data-dir`), if it still exists."""
    value = config_value(results, ("data-dir", "data_dir"))
    return Path(str(value)) if value and Path(str(value)).is_dir() else None


def test_folder(results: Mapping[str, Any]) -> Path | None:
    """The run's test cohort folder, as the run found it: its `test-dir` setting, else the
    federation folder's `test/`; None when neither exists (any more)."""
    from genofed.common.data.layout import TEST  # lazily: common.data loads pandas

    value = config_value(results, ("test-dir", "test_dir"))
    if value and Path(str(value)).is_dir():
        return Path(str(value))
    folder = data_dir(results)
    return folder / TEST if folder is not None and (folder / TEST).is_dir() else None


def read_truth(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The federation's truth.json (simulated data: the disease model, its causal variants)."""
    from genofed.common.data.layout import TRUTH  # lazily: common.data loads pandas

    folder = data_dir(results)
    if folder is None or not (folder / TRUTH).is_file():
        return None
    try:
        truth = json.loads((folder / TRUTH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return truth if isinstance(truth, Mapping) else None


def real_prevalence(results: Mapping[str, Any], truth: Mapping[str, Any] | None) -> Prevalence | None:
    """The run's `prevalence` setting when set (> 0), else a simulated disease's target prevalence.

    None when neither is known: PPV and NPV can then be given only at the test cohort's case share.
    """
    configured = number(config_value(results, ("prevalence",)))
    if configured is not None and 0.0 < configured < 1.0:
        where = "the federation's --prevalence setting (coordinator init)" if deployed(results) else None
        return Prevalence(configured, where or "the run's --prevalence setting")
    for key, words in (
        ("prevalence_target", "the simulated disease's population prevalence (truth.json)"),
        ("prevalence_realised", "the simulated disease's realised prevalence (truth.json)"),
    ):
        value = number((truth or {}).get(key))
        if value is not None and 0.0 < value < 1.0 and not math.isnan(value):
            return Prevalence(value, words)
    return None

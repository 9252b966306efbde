"""The reference models keep each test person's risk (`References.test_risks`), the columns of
RUN/reference_predictions.csv, and each column's AUC is exactly the AUC results.json records, so
that the report's paired intervals are intervals of the figures it states."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.metrics import roc_auc_score

from genofed.common.model.network import ModelConfig
from genofed.server import evaluation
from genofed.simulations.local.baselines import train_references


def _cohort(rng: np.random.Generator, n: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 3, (n, len(weights))).astype(np.float32) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ weights)))).astype(np.float32)
    return x, y


def test_each_reference_keeps_its_test_risks_and_their_auc_is_the_recorded_one():
    rng = np.random.default_rng(1)
    weights = rng.normal(0, 0.4, 30)
    sites = {
        name: SimpleNamespace(train_x=x, train_y=y)
        for name, (x, y) in ((n, _cohort(rng, 80, weights)) for n in ("a", "b"))
    }
    sites["c"] = SimpleNamespace(train_x=sites["a"].train_x, train_y=np.zeros(80, dtype=np.float32))
    test = evaluation.TestCohort(*_cohort(rng, 300, weights))
    config = ModelConfig(n_variants=28, architecture="logistic")
    refs = train_references(sites, test, SimpleNamespace(private=False), config)
    assert list(refs.test_risks) == [
        "pooled",
        "local_only:a",
        "local_only:b",
        "local_only_nonprivate:a",
        "local_only_nonprivate:b",
    ]  # hospital c trained on one class: no model, no column, no AUC
    assert refs.local_only_auc["c"] is None
    auc = {column: roc_auc_score(test.labels, risks) for column, risks in refs.test_risks.items()}
    assert auc["pooled"] == refs.pooled_auc
    for name in ("a", "b"):
        assert auc[f"local_only:{name}"] == refs.local_only_auc[name]
        assert auc[f"local_only_nonprivate:{name}"] == refs.local_only_nonprivate_auc[name]
    assert all(
        len(risks) == 300 and np.all((risks >= 0) & (risks <= 1)) for risks in refs.test_risks.values()
    )


def test_real_exports_keep_no_reference_predictions_but_record_the_intervals(tmp_path):
    """On simulated patients the references' risks are kept in RUN/reference_predictions.csv; on
    real exports only results.json `auc_differences` (the same numbers): the risks would give away
    the non-private reference models themselves (docs/simulation.md)."""
    from genofed.server.report.run_files import REFERENCE_PREDICTIONS
    from genofed.server.results import write_test_predictions
    from genofed.simulations.local.simulate import _paired_differences

    rng = np.random.default_rng(2)
    labels = (rng.random(120) < 0.4).astype(np.float32)
    fed = np.clip(0.3 * labels + rng.random(120) * 0.7, 0, 1)
    test = evaluation.TestCohort(np.zeros((120, 1)), labels, tuple(f"S{i}" for i in range(120)))
    risks = {"pooled": np.clip(fed + rng.normal(0, 0.1, 120), 0, 1), "local_only:a": rng.random(120)}
    real, simulated = tmp_path / "real", tmp_path / "simulated"
    for folder in (real, simulated):
        folder.mkdir()
        write_test_predictions(folder, list(test.sample_ids), labels, fed)
    recorded = _paired_differences(real, test, risks, keep_file=False)
    assert not (real / REFERENCE_PREDICTIONS).exists()
    assert _paired_differences(simulated, test, risks, keep_file=True) == recorded
    assert (simulated / REFERENCE_PREDICTIONS).is_file()
    assert recorded["pooled"]["federated_auc"] == roc_auc_score(labels, fed)
    assert _paired_differences(real, test, {}, keep_file=False) is None  # no reference had an AUC

"""A logistic run's references without privacy are the classical model, scikit-learn's L2 logistic
regression at C = 1, on the same features (`simulations/local/baselines.py`), and the report's
headline names it.

An outside walkthrough on real genotypes read "federated 0.731, 0.012 above training on all
hospitals' data pooled (0.720)": the pooled reference was the run's own DP-tuned loop without its
noise, which a plain regression beat (0.746).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genofed.common.model.network import ModelConfig
from genofed.server import evaluation
from genofed.server.report.summary import headline
from genofed.simulations.local.baselines import CLASSICAL_REFERENCE, train_references


def _cohort(rng: np.random.Generator, n: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 3, (n, len(weights))).astype(np.float32) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ weights)))).astype(np.float32)
    return x, y


def test_a_logistic_runs_references_without_privacy_are_the_plain_regression():
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.4, 30)
    sites = {
        name: SimpleNamespace(train_x=x, train_y=y)
        for name, (x, y) in ((n, _cohort(rng, 80, weights)) for n in ("a", "b"))
    }
    test = evaluation.TestCohort(*_cohort(rng, 300, weights))  # imported so, pytest collects no class
    config = ModelConfig(n_variants=28, architecture="logistic")  # 28 variants + sex, age
    refs = train_references(sites, test, SimpleNamespace(private=False), config)

    def plain(x, y):
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
        return roc_auc_score(test.labels, model.decision_function(test.features))

    pooled_x = np.concatenate([s.train_x for s in sites.values()])
    pooled_y = np.concatenate([s.train_y for s in sites.values()])
    assert refs.pooled_auc == plain(pooled_x, pooled_y)
    assert refs.local_only_nonprivate_auc == {n: plain(s.train_x, s.train_y) for n, s in sites.items()}
    assert refs.local_only_auc == refs.local_only_nonprivate_auc  # no privacy in this run


def test_the_headline_names_the_pooled_model():
    results = {"test_auc": 0.731, "pooled_auc": 0.746, "reference_model": CLASSICAL_REFERENCE}
    text = headline(results)
    assert "without privacy (0.746, a logistic regression (scikit-learn, L2, C = 1))" in text

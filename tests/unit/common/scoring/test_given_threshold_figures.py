"""A --threshold at which the model file records the coordinator's test-cohort figures gets them,
and --prevalence is carried to it as for the operating threshold: `--threshold 0.5` was said to have
unknown sensitivity and specificity, and --prevalence dropped, while the file recorded the test
cohort's figures at exactly 0.5 (`provenance.metrics.test`; a new-user walkthrough). Any other
threshold stays "unknown", naming the thresholds the file does record."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from helpers.model_files import model_file, write_people

from genofed.common.reporting.calibration import wilson_interval
from genofed.common.reporting.ratios import Prevalence
from genofed.common.scoring.operating import held_out_figures_at, held_out_figures_words
from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.threshold_words import figures_at

# the small preset's test cohort as its file records it: at 0.5 (the run's test metrics), 52 of 80
# cases and 83 of 120 controls; at the operating threshold 0.7, 40 of 80 and 97 of 120
TEST = {"threshold": 0.5, "sensitivity": 52 / 80, "specificity": 83 / 120, "n": 200, "cases": 80, "auc": 0.71}
AT_THRESHOLD = held_out_figures_at(
    np.array([1] * 80 + [0] * 120),
    np.array([0.8] * 40 + [0.1] * 40 + [0.8] * 23 + [0.1] * 97),
    0.7,
)


def _model():
    shared = model_file()
    point = {**shared.operating["threshold"], "threshold": 0.7}
    provenance = {"kind": "federated", "metrics": {"test": TEST, "test_at_threshold": AT_THRESHOLD}}
    return replace(shared, provenance=provenance, operating={**shared.operating, "threshold": point})


def test_the_run_test_metrics_give_the_figures_at_their_own_threshold():
    figures = figures_at(_model(), 0.5)
    assert figures == {
        "threshold": 0.5,
        "sensitivity": 52 / 80,
        "sensitivity_interval": list(wilson_interval(52, 80)),
        "specificity": 83 / 120,
        "specificity_interval": list(wilson_interval(83, 120)),
        "cases": 80,
        "controls": 120,
    }
    assert figures_at(_model(), 0.7) is AT_THRESHOLD and figures_at(_model(), 0.6) is None
    assert figures_at(model_file(), 0.5) is None  # a file without test metrics


def test_a_given_threshold_with_recorded_figures_quotes_them_and_carries_the_prevalence(tmp_path):
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(_model(), genotypes, phenotypes=phenotypes, threshold=0.5, prevalence=0.01)
    expected = held_out_figures_words(figures_at(_model(), 0.5), Prevalence(0.01, "given with --prevalence"))
    assert result.threshold_detail == f"given with --threshold (the model's own is 0.7); {expected}"
    assert expected.startswith(
        "on the coordinator's test cohort (80 cases, 120 controls, exact): sensitivity 0.650"
    )
    assert "where 1.0% of people have the disease (given with --prevalence)" in expected
    assert result.prevalence == Prevalence(0.01, "given with --prevalence")
    assert not any(note.startswith("--prevalence was not used") for note in result.notes)
    # without phenotypes the figures, measured with sex and age, are said not to describe the calls
    bare = predict_file(_model(), genotypes, threshold=0.5)
    assert any("these people were scored without them (no --phenotypes)" in note for note in bare.notes)


def test_any_other_given_threshold_stays_unknown_and_names_the_recorded_ones(tmp_path):
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(_model(), genotypes, phenotypes=phenotypes, threshold=0.6, prevalence=0.01)
    assert result.threshold_detail == (
        "given with --threshold (the model's own is 0.7); its sensitivity and specificity are unknown here "
        "(the model file records them at 0.5 and 0.7 only)"
    )
    assert result.prevalence is None
    assert any(
        note.startswith("--prevalence was not used: the threshold used is not the model's")
        for note in result.notes
    )

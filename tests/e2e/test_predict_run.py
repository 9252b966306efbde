"""A real (tiny) federated run's outputs are usable: `genofed predict` on the run's test cohort
reproduces results.json's test AUC from RUN/model.pt alone, RUN/test_predictions.csv holds the
same risks, the operating point is the same in results.json and the model file, and the model
file starts a later run (`--pretrained`)."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from genofed.cli.main import main
from genofed.common.data.panel import VariantPanel
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import build_model
from genofed.common.scoring.model_file import load_model_file
from genofed.common.scoring.operating import exact_counts
from genofed.server import evaluation
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.simulations.local.simulate import simulate


@pytest.fixture(scope="module")
def run(simulated_cohorts, tmp_path_factory) -> tuple[Path, Path, dict]:
    cohorts = simulated_cohorts(5)
    out = tmp_path_factory.mktemp("predict") / "run"
    # without DP: the federation's ~48 validation patients (~19 cases) pass the threshold's minimum of
    # 10 per class for certain; under DP their pooled noisy case count (sd ~10) may not, and then the
    # run sets no threshold (tests/unit/server/test_operating_point.py)
    settings = RunSettings(
        data_dir=str(cohorts),
        out_dir=str(out),
        rounds=2,
        local_epochs=1,
        epsilon=math.inf,
        seed=5,
        quiet=True,
    )
    return cohorts, out, simulate(settings, references=False)


def test_predict_on_the_test_cohort_reproduces_the_runs_test_auc(run, tmp_path, capsys):
    cohorts, out, results = run
    risks = tmp_path / "risks.csv"
    test = cohorts / "test"
    args = ["predict", "--model", str(out / "model.pt"), "--out", str(risks)]
    assert (
        main(
            [
                *args,
                "--genotypes",
                str(test / "genotypes.vcf.gz"),
                "--phenotypes",
                str(test / "phenotypes.csv"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    # the AUC predict prints is computed at full precision (risks.csv rounds the scores to 3 decimals)
    auc = float(re.search(r"AUC against 'label': ([0-9.]+)", printed).group(1))
    assert auc == pytest.approx(results["test_auc"], abs=1e-4)  # printed to 4 decimals
    rows = list(csv.DictReader(risks.open()))
    labels = np.array([int(r["label"]) for r in rows])
    predicted = np.array([float(r["risk"]) for r in rows])
    assert {r["call"] for r in rows} <= {"high", "low"}  # everyone has all genotypes called
    # the run's own per-person file: the same people, labels and risks (to risks.csv's rounding)
    written = list(csv.DictReader((out / "test_predictions.csv").open()))
    assert list(written[0]) == ["sample_id", "label", "risk"]
    assert [r["sample_id"] for r in written] == [r["sample_id"] for r in rows]
    np.testing.assert_allclose([float(r["risk"]) for r in written], predicted, rtol=0, atol=1e-3 + 1e-9)
    assert [int(r["label"]) for r in written] == labels.tolist()
    assert binary_metrics(labels, predicted)["auc"] == pytest.approx(results["test_auc"], abs=0.01)


def test_operating_point_is_recorded_in_results_and_the_model_file(run):
    _, out, results = run
    point = results["operating_point"]
    model = load_model_file(out / "model.pt")
    assert json.loads((out / "results.json").read_text())["operating_point"] == point
    assert point["round"] == 2 == results["site_evaluation"]["round"]  # the final model's release
    assert point["threshold"] in {k / 10 for k in range(1, 10)}
    assert model.operating["threshold"]["threshold"] == point["threshold"]
    assert model.operating["risk_distribution"]["cdf"][-1] == 1.0
    # a run without DP released exact counts: said so, and held to the 100 people rule of exact counts
    assert exact_counts(model.operating, model.provenance)
    assert "exact counts" in model.operating["risk_distribution"]["source"]
    assert model.provenance["plan_id"] == results["plan_id"] and model.task.label == "label"
    # what the threshold does on the test cohort, exact, from the run's own per-person file
    written = list(csv.DictReader((out / "test_predictions.csv").open()))
    labels = np.array([int(r["label"]) for r in written])
    flagged = np.array([float(r["risk"]) >= point["threshold"] for r in written])
    at = model.provenance["metrics"]["test_at_threshold"]
    assert at["threshold"] == point["threshold"] and at["cases"] == labels.sum()
    assert at["sensitivity"] == pytest.approx(flagged[labels == 1].mean(), abs=0.02)  # the csv rounds risks
    assert at["specificity"] == pytest.approx(1 - flagged[labels == 0].mean(), abs=0.02)


def test_the_run_model_file_starts_a_later_run(run):
    cohorts, out, results = run
    panel = VariantPanel.load(cohorts / "panel.tsv")
    later = RunSettings(
        data_dir=str(cohorts), out_dir=str(out.parent / "later"), pretrained=str(out / "model.pt")
    )
    begin = start_model(later, panel)
    model = load_model_file(out / "model.pt")
    assert begin.pretrained["content_hash"] == model.content_hash
    net = build_model(begin.config, seed=0)
    net.load_state_dict(begin.weights)
    test = evaluation.TestCohort.load(cohorts / "test", panel)
    # the later run starts from exactly the delivered model: the same test AUC
    assert test.evaluate(begin.config, begin.weights)["auc"] == pytest.approx(results["test_auc"], abs=1e-6)


def test_the_model_file_records_the_test_cohort_and_the_reports_calibration_verdict(run):
    """RUN/model.pt records the test cohort's ages and sexes (the coordinator's data) and the
    calibration verdict the report states, reached from RUN/test_predictions.csv: the same p-value
    and, word for word, the same sentence."""
    from genofed.common.reporting.calibration import calibration_table, check_calibration

    cohorts, out, _ = run
    record = load_model_file(out / "model.pt").validated_on
    test = list(csv.DictReader((cohorts / "test" / "phenotypes.csv").open()))
    ages = [float(r["age"]) for r in test]
    assert record["cohort"] == "the coordinator's test cohort" and record["people"] == len(test)
    assert (record["age"]["min"], record["age"]["max"]) == (min(ages), max(ages))
    assert record["sex"]["female"] + record["sex"]["male"] + record["sex"]["unknown"] == len(test)
    written = list(csv.DictReader((out / "test_predictions.csv").open()))
    labels = np.array([int(r["label"]) for r in written])
    risks = np.array([float(r["risk"]) for r in written])
    check = check_calibration(calibration_table(labels, risks))
    assert record["calibration"]["p_value"] == check.p_value
    report = (out / "report.md").read_text()
    assert f"**Calibration:** {record['calibration']['statement']} (see Calibration)" in report

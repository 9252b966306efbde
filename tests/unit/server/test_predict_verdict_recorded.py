"""A federated run's model file records its report's fitness verdict (`validated_on.fitness`,
`genofed.server.results.fitness_on_test_cohort`): the Verdict section's own words and failed rules,
reached on the same test cohort and risks before the report exists, so that `genofed predict` can
warn on a model judged NOT FIT FOR USE. A malformed verdict is refused on load; a file without one
keeps loading."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from helpers.model_files import model_file, write_people
from helpers.validated_on import adults

from genofed.common.scoring.model_file import ModelValueError, content_hash, load_model_file, save_model_file
from genofed.common.scoring.validation import FITNESS_NOT_RECORDED, fitness_words, unfit_words
from genofed.server.evaluation import TestCohort as HeldOut
from genofed.server.report.assessment import assess
from genofed.server.report.run_files import Predictions
from genofed.server.report.verdict import CANNOT_JUDGE, NOT_FIT, PASSED, fitness_record, verdict_section
from genofed.server.results import final_model_file, fitness_on_test_cohort
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings

#: results.json's operating point of the audit's run: a threshold that flags everyone (rule 3).
FLAGS_EVERYONE = {"operating_point": {"threshold": 0.01, "rule": "youden"}, "epsilon": {}}


def _fed(tmp_path):
    """A finished federation with the test cohort of `write_people` and `model_file`'s weights
    (unrelated to the labels): what `final_model_file` reads."""
    model = model_file()
    write_people(tmp_path / "test")
    return SimpleNamespace(
        test=HeldOut.load(tmp_path / "test", model.panel),
        model_config=model.model_config,
        state_dict=model.state_dict,
        settings=RunSettings(),
        log=RoundLog({}),
        plan_id="plan",
        rounds=[{"round": 1}],
        sites={"a": {"train": 40, "validation": 10}},
        test_metrics={"auc": 0.43},
        pretrained=None,
        panel=model.panel,
        ended_early=None,
    )


def test_the_model_file_records_the_reports_verdict_word_for_word(tmp_path):
    fed = _fed(tmp_path)
    written = final_model_file(fed, fed.panel, FLAGS_EVERYONE)
    fitness = written.validated_on["fitness"]
    # the report on the same risks, as it reads them back from test_predictions.csv
    risks = fed.test.predict(fed.model_config, fed.state_dict)
    report = verdict_section(
        assess(FLAGS_EVERYONE, Predictions(fed.test.labels.astype(np.int64), risks.astype(np.float64)), None)
    )
    assert fitness["verdict"] == NOT_FIT and fitness["passed"] is False
    assert f"**{NOT_FIT}.**" in report
    assert fitness["failed"] and all(f"\n- {sentence}." in report for sentence in fitness["failed"])
    assert any("flags everyone of the test cohort" in sentence for sentence in fitness["failed"])
    # the rest of the record is unchanged, and the verdict enters the content hash
    assert {k: v for k, v in written.validated_on.items() if k != "fitness"}["cohort"] == (
        "the coordinator's test cohort"
    )
    save_model_file(tmp_path / "model.pt", written)
    loaded = load_model_file(tmp_path / "model.pt")
    assert loaded.validated_on["fitness"] == fitness and loaded.content_hash == content_hash(written)
    without = dict(written.validated_on)
    del without["fitness"]
    assert content_hash(replace(written, validated_on=without)) != content_hash(written)
    assert unfit_words(loaded.validated_on) == NOT_FIT
    assert fitness_words(loaded.validated_on).startswith(f"{NOT_FIT}: fails {len(fitness['failed'])} of ")


def test_passed_and_cannot_be_judged_are_recorded_as_the_report_says_them():
    labels = np.arange(200) % 2
    risks = np.clip(0.3 + 0.4 * labels + np.random.default_rng(0).normal(0.0, 0.1, 200), 0.01, 0.99)
    results = {"operating_point": {"threshold": 0.5, "rule": "youden"}}
    passed = fitness_record(assess(results, Predictions(labels.astype(np.int64), risks), None))
    assert passed["verdict"] == PASSED and passed["passed"] is True and passed["failed"] == []
    record = {**adults(), "fitness": passed}
    assert unfit_words(record) is None and fitness_words(record).startswith(PASSED)
    nothing = fitness_on_test_cohort(SimpleNamespace(test=None), {})
    assert nothing["verdict"] == CANNOT_JUDGE and nothing["passed"] is None
    assert verdict_section(assess({}, None, None)).startswith(f"## Verdict\n\n**{CANNOT_JUDGE}:** ")
    assert unfit_words({"cohort": None, "note": "none", "fitness": nothing}) == CANNOT_JUDGE


def test_a_file_without_the_verdict_says_verdict_not_recorded():
    assert fitness_words(adults()) == FITNESS_NOT_RECORDED and unfit_words(adults()) is None
    assert fitness_words({}) == FITNESS_NOT_RECORDED
    assert FITNESS_NOT_RECORDED.startswith("verdict not recorded")


@pytest.mark.parametrize(
    "fitness, field",
    [
        ({"verdict": NOT_FIT, "passed": True, "failed": ["its AUC ..."]}, "validated_on.fitness.passed"),
        ({"verdict": NOT_FIT, "passed": False, "failed": []}, "validated_on.fitness.passed"),
        ({"verdict": NOT_FIT, "passed": "no", "failed": ["x"]}, "validated_on.fitness.passed"),
        ({"verdict": NOT_FIT, "passed": False, "failed": "x"}, "validated_on.fitness.failed"),
        ("NOT FIT FOR USE", "validated_on.fitness"),
    ],
)
def test_a_verdict_edited_into_nonsense_is_refused_on_load(tmp_path, fitness, field):
    """Someone silencing the warning by hand (passed true, rules still failed) and re-saving."""
    path = tmp_path / "edited.pt"
    save_model_file(path, replace(model_file(), validated_on={**adults(), "fitness": fitness}))
    with pytest.raises(ModelValueError, match=field):
        load_model_file(path)

"""What an adapted model's handful of validation patients can say: its percentiles are withheld
below 100 people (sampling alone moves one by more than `MAX_PERCENTILE_SD` points, the rule the
shared model's DP noise already had), and a passing calibration check on fewer than 100 people is
said as "cannot tell", not as reassurance (a new-user walkthrough: 23 people's percentiles shown,
and "consistent with calibration" on 32 people with a calibration slope of 0.047)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers.model_files import HISTOGRAM, model_file, write_people

from genofed.common.scoring.operating import (
    MAX_PERCENTILE_SD,
    exact_counts,
    minimum_for_percentiles,
    percentiles_shown,
    risk_distribution,
    sampling_percentile_sd,
    total_percentile_sd,
)
from genofed.common.scoring.percentile_words import reference_population
from genofed.common.scoring.predict import predict_file
from genofed.common.scoring.validation import (
    MIN_CALIBRATION_PEOPLE,
    calibration_words,
    validation_record,
)

EXACT = "the hospital's own validation patients, exact counts (nothing released)"


def _exact(scale: float) -> dict:
    """A risk distribution read off exact counts, as `genofed adapt` records it: the helpers'
    histogram (65 people) times `scale`."""
    return {**risk_distribution(HISTOGRAM * scale, round_=0), "source": EXACT}


def test_exact_counts_from_fewer_than_100_people_give_no_percentiles():
    assert minimum_for_percentiles() == 100
    few, enough = _exact(99 / 65), _exact(100 / 65)
    assert sampling_percentile_sd(few) > MAX_PERCENTILE_SD >= sampling_percentile_sd(enough)
    assert sampling_percentile_sd(_exact(23 / 65)) == 100 * 0.5 / np.sqrt(23)  # 10.4 points
    assert not percentiles_shown(few) and percentiles_shown(enough)


def test_a_dp_runs_percentiles_are_held_to_their_noise_and_sampling_together(tmp_path):
    """A DP run's `percentile_sd` is its noise alone; the people its distribution was read off add
    their sampling error (50 / sqrt(n) points at the median) in quadrature, as for exact counts.
    130 noisy people at 1.8 noise per count: 3.1 points of noise, 4.4 of sampling, 5.4 together,
    over `MAX_PERCENTILE_SD` though each alone is within it (shown until 2026-12-07)."""
    noisy = risk_distribution(HISTOGRAM * 2, round_=3, noise_per_count=1.8)
    assert noisy["percentile_sd"] == pytest.approx(3.096, abs=1e-3)
    assert sampling_percentile_sd(noisy) == pytest.approx(100 * 0.5 / np.sqrt(130))
    assert total_percentile_sd(noisy) == pytest.approx(np.hypot(noisy["percentile_sd"], 50 / np.sqrt(130)))
    assert total_percentile_sd(noisy) > MAX_PERCENTILE_SD and not percentiles_shown(noisy)
    # less noise: 0.9 points with the same 4.4 of sampling, 4.5 together: shown
    quieter = risk_distribution(HISTOGRAM * 2, round_=3, noise_per_count=0.5)
    assert percentiles_shown(quieter)
    # 65 noisy people: little noise, but sampling alone is 6.2 points
    assert not percentiles_shown(risk_distribution(HISTOGRAM, round_=3, noise_per_count=0.5))
    model = model_file()
    run = replace(
        model, provenance={"kind": "federated"}, operating={**model.operating, "risk_distribution": noisy}
    )
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(run, genotypes, phenotypes=phenotypes)
    assert result.percentiles is None and result.reference is None
    (said,) = [note for note in result.notes if note.startswith("percentiles not shown")]
    assert said == (
        "percentiles not shown: the training population's risk distribution rests on about 130 noisy "
        "validation patients, whose DP noise moves a percentile by up to 3.1 points and sampling so few "
        "people by up to 4.4: 5.4 points together (one sd; shown up to 5); the risk column is unaffected"
    )


def test_predict_withholds_an_adapted_models_percentiles_from_23_people_and_says_why(tmp_path):
    model = model_file()
    adapted = replace(
        model,
        provenance={"kind": "adapted"},
        operating={**model.operating, "risk_distribution": _exact(23 / 65)},
    )
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(adapted, genotypes, phenotypes=phenotypes)
    assert result.percentiles is None and result.reference is None is reference_population(adapted)
    said = [note for note in result.notes if note.startswith("percentiles not shown")]
    assert said == [
        "percentiles not shown: the risk distribution was read off 23 validation patients (exact counts), "
        "and from so few people sampling alone moves a percentile by up to 10.4 points (one sd; shown up "
        "to 5, so from 100 people); the risk column is unaffected. To get them, adapt the shared model "
        "again with at least 100 validation patients (a larger --validation-fraction), which leaves fewer "
        "patients to fit on"
    ]
    shown = replace(adapted, operating={**model.operating, "risk_distribution": _exact(130 / 65)})
    assert predict_file(shown, genotypes, phenotypes=phenotypes).percentiles is not None


def test_a_federated_run_without_dp_is_held_to_the_100_people_rule_too(tmp_path):
    """A run without DP (noise per count 0) releases exact counts, which its model file called
    "noisy": they escaped the sampling rule, and percentiles read off 65 people were shown. Its
    distribution now says "exact", and so does an older file's by its recorded noise of 0."""
    plain = risk_distribution(HISTOGRAM, round_=3)  # 65 people, noise_per_count 0
    assert "exact counts" in plain["source"] and "noisy" not in plain["source"]
    assert exact_counts({"risk_distribution": plain}, {})
    assert sampling_percentile_sd(plain) == 100 * 0.5 / np.sqrt(65)
    assert not percentiles_shown(plain)
    older = {**plain, "source": "pooled noisy validation histogram of the hospitals (both classes)"}
    assert exact_counts({"risk_distribution": older}, {}) and not percentiles_shown(older)
    unrecorded = {key: value for key, value in older.items() if key != "noise_per_count"}
    # a file from before the noise was recorded: not known exact
    assert not exact_counts({"risk_distribution": unrecorded}, {})
    model = model_file()
    run = replace(
        model, provenance={"kind": "federated"}, operating={**model.operating, "risk_distribution": plain}
    )
    genotypes, phenotypes = write_people(tmp_path)
    result = predict_file(run, genotypes, phenotypes=phenotypes)
    assert result.percentiles is None and result.reference is None is reference_population(run)
    (said,) = [note for note in result.notes if note.startswith("percentiles not shown")]
    assert said.startswith(
        "percentiles not shown: the risk distribution was read off 65 validation patients (exact counts), "
        "and from so few people sampling alone moves a percentile by up to 6.2 points"
    ), said
    assert said.endswith(
        "To get them, the run's hospitals must evaluate the model on at least 100 validation patients "
        "together"
    ), said
    enough = replace(
        run, operating={**model.operating, "risk_distribution": risk_distribution(HISTOGRAM * 2, round_=3)}
    )
    shown = predict_file(enough, genotypes, phenotypes=phenotypes)
    assert shown.percentiles is not None
    assert shown.reference is not None and shown.reference.startswith(
        "the federation's validation patients (exact counts): 130 people, 46% cases"
    ), shown.reference


def _record(people: int, risks: np.ndarray | None = None) -> dict:
    labels = np.arange(people) % 2
    if risks is None:  # risks that follow the labels loosely: the check passes
        risks = np.clip(0.3 + 0.4 * labels + np.random.default_rng(0).normal(0.0, 0.2, people), 0.01, 0.99)
    return validation_record(
        cohort="the hospital's own validation patients",
        source="held out",
        labels=labels,
        risks=risks,
        ages=None,
        sexes=None,
        said_as="the hospital's validation patients",
        possessive="those patients'",
    )


def test_a_passing_calibration_check_on_few_people_is_said_to_tell_nothing():
    assert MIN_CALIBRATION_PEOPLE == 100
    few = _record(32)
    assert few["calibration"]["calibrated"] is True
    words = calibration_words(few)
    assert words.startswith(
        "cannot tell on 32 people: the Hosmer-Lemeshow test found no miscalibration (p = "
    )
    assert "on fewer than 100 it misses even risks far off (calibration slope " in words
    assert words.endswith("; 1 when calibrated); do not read a risk figure as a probability")
    assert "consistent with calibration" not in words
    many = _record(120)  # enough people: the report's sentence, word for word
    assert calibration_words(many) == many["calibration"]["statement"]
    # a failing check on few people is a real finding: said as it is
    failing = _record(32, risks=np.full(32, 0.95))
    assert failing["calibration"]["calibrated"] is False
    assert calibration_words(failing) == failing["calibration"]["statement"]


def test_adapt_says_what_holding_out_100_would_take_or_that_the_cohort_is_too_small():
    from genofed.cli.adapt import _more_validation_patients
    from genofed.common.scoring.adapt import Adaptation

    def said(train: int, validation: int, cases: int) -> str:
        model = replace(model_file(), validated_on={"people": validation, "cases": cases})
        return _more_validation_patients(Adaptation(model, 1.0, train, validation, None, None))

    # the walkthrough's 120 patients: 100 held out would leave 20, about 8 of them cases: refused
    assert said(97, 23, 9) == (
        "these 120 patients are too few to hold out 100 and keep 10 cases and 10 controls to fit on: "
        "percentiles need a larger cohort"
    )
    assert said(400, 100 - 1, 40) == (
        "holding out 100 of these 499 patients takes about --validation-fraction 0.21 (each patient's side "
        "is drawn from its id), leaving about 399 to fit on"
    )

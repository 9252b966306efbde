"""A federated model file's provenance counts the hospitals that trained, and the validation size
beside its noisy count is that of the hospitals whose releases were pooled.

Why: in a deployed walkthrough one of three hospitals introduced itself, then refused every round
(its privacy budget was spent). `inspect-model` said "3 hospitals, 510 patients" where 2 hospitals
and 350 patients trained, and `genofed predict` said "the hospitals declared 102" validation
patients where the 2 that evaluated had declared 70. A hospital that fails its data check never
introduces itself, so a simulation's count was right."""

from __future__ import annotations

from types import SimpleNamespace

from helpers.model_files import HISTOGRAM, model_file, write_people

from genofed.cli.inspect_model import describe_lines
from genofed.common.scoring.predict import predict_file
from genofed.server.results import final_model_file
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings

SIZES = {
    "rostov": {"train": 176, "validation": 44},
    "krasnodar": {"train": 128, "validation": 32},
    "volgograd": {"train": 104, "validation": 26},
}


def _federation(model, participants: list[str] | None) -> SimpleNamespace:
    """A finished 2-round run of the three hospitals in which only `participants` trained and
    evaluated (a round record without `participants` when None: an old run's records)."""
    log = RoundLog({})
    release = {"val-histogram": list((HISTOGRAM / 2).ravel()), "val-noise": 1.0}
    log.evaluate = {2: {name: dict(release) for name in participants or SIZES}}
    record = {} if participants is None else {"participants": participants}
    return SimpleNamespace(
        test=None,
        model_config=model.model_config,
        state_dict=model.state_dict,
        settings=RunSettings(epsilon=16.0),
        log=log,
        plan_id="plan",
        rounds=[{"round": 0}, {"round": 1, **record}, {"round": 2, **record}],
        sites=SIZES,
        test_metrics=None,
        pretrained=None,
        panel=model.panel,
        ended_early=None,
    )


def _written(participants: list[str] | None):
    model = model_file()
    fed = _federation(model, participants)
    results = {
        "operating_point": {
            "threshold": 0.5,
            "rule": "youden",
            "sensitivity": 0.7,
            "specificity": 0.8,
            "validation_patients": 61.0,
            "validation_cases": 30.0,
        },
        "epsilon": {name: 15.9 for name in participants or SIZES},
    }
    return final_model_file(fed, fed.panel, results)


def test_a_hospital_that_trained_in_no_round_is_no_source_of_the_model(tmp_path):
    written = _written(["rostov", "volgograd"])
    prov = written.provenance
    assert set(prov["sites"]) == {"rostov", "volgograd"}
    assert prov["samples"] == 220 + 130
    assert prov["validation_sites"] == {"rostov": 44, "volgograd": 26}
    source = next(line for line in describe_lines(written, parameters=32) if line.startswith("source:"))
    assert "2 hospitals, 350 patients" in source
    genotypes, phenotypes = write_people(tmp_path)
    detail = predict_file(written, genotypes, phenotypes=phenotypes).threshold_detail
    assert "on about 61 validation patients; the hospitals declared 70" in detail


def test_without_participants_recorded_every_hospital_counts_as_before():
    prov = _written(None).provenance
    assert set(prov["sites"]) == set(SIZES) and prov["samples"] == 510
    assert prov["validation_sites"] == {"krasnodar": 32, "rostov": 44, "volgograd": 26}


def test_an_older_file_without_validation_sites_sums_its_hospitals_sizes(tmp_path):
    written = _written(["rostov", "volgograd"])
    del written.provenance["validation_sites"]
    genotypes, phenotypes = write_people(tmp_path)
    detail = predict_file(written, genotypes, phenotypes=phenotypes).threshold_detail
    assert "the hospitals declared 70" in detail

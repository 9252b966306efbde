"""RUN/results.json, RUN/model.pt and RUN/test_predictions.csv: the contract that checks, docs
and reports rely on (field names in ../shared/DESIGN.md; the model file in
`genofed.common.scoring.model_file`, docs/predicting.md)."""

from __future__ import annotations

import csv
import io
import json
import math
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genofed.common.data.features import FeatureSpec
from genofed.common.data.layout import simulated_ledger_root
from genofed.common.data.panel import VariantPanel
from genofed.common.model.network import build_model
from genofed.common.privacy.accountant import Step, epsilon_of, sample_rate, steps_per_epoch
from genofed.common.privacy.release import (
    as_histogram,
    auc_noise_sd,
    histogram_metrics,
    pooled_histogram,
    release_step,
)
from genofed.common.scoring.model_file import (
    ModelFile,
    Task,
    features_dict,
    federated_source,
    save_model_file,
)
from genofed.common.scoring.operating import (
    NO_EVALUATION_RECORDED,
    NO_THRESHOLD,
    held_out_figures_at,
    no_threshold_note,
    operating_point,
    risk_distribution,
)
from genofed.common.scoring.validation import no_validation_cohort, validation_record
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.version import genofed_version
from genofed.server.federation import FederationResult
from genofed.server.round_log import RoundLog, coalition_epsilon_by_site
from genofed.server.settings import RunSettings
from genofed.server.strategies import evaluations_before_the_end

RESULTS = "results.json"
#: The federation's results before the simulation adds its reference models and report
#: (`make_server_app(report=False)`): results.json marks a finished run, so it is written last,
#: and a simulation that stops in between leaves this file and a run `--resume` finishes.
FEDERATION_RESULTS = "federation-results.json"
MODEL = "model.pt"
#: One row per test person: the final model's risk (written when the run has a test cohort).
TEST_PREDICTIONS = "test_predictions.csv"
TEST_PREDICTION_COLUMNS = ("sample_id", "label", "risk")


def federation_results(fed: FederationResult, settings: RunSettings) -> dict[str, Any]:
    """The federated part of results.json; the simulation adds its reference models."""
    trained = [r for r in fed.rounds if r["round"] > 0]
    evaluation = site_evaluation(fed.log)
    return {
        "test_auc": (fed.test_metrics or {}).get("auc"),
        "test_metrics": fed.test_metrics,
        "rounds": fed.rounds,
        "epsilon": {name: _finite(value) for name, value in fed.epsilon.items()},
        "delta": settings.delta if settings.private else None,
        "epsilon_budget": settings.epsilon if settings.private else None,
        "sites": {name: _site_results(fed, settings, evaluation, name) for name in fed.sites},
        # the whole run's, over every launch a resume added (the time between launches not counted);
        # the simulation adds its own launch's time to `wall_seconds_before`
        "wall_seconds": fed.wall_seconds,
        "wall_seconds_before": fed.wall_seconds_before,
        "launches": fed.launches,
        # a SecAgg+ run that stopped before its last round: after which round, of how many, the round
        # whose model it delivers, and why
        "ended_early": fed.ended_early,
        "seconds_per_round": sum(r["seconds"] for r in trained) / len(trained) if trained else None,
        "bytes_sent_per_client_per_round": fed.bytes_per_client_round,
        "model": {
            **fed.model_config.to_dict(),
            # weights only: a logistic model's column scale is a fixed buffer, not a parameter
            "parameters": sum(p.numel() for p in build_model(fed.model_config, seed=0).parameters()),
        },
        "strategy": settings.strategy,
        "secagg": settings.secagg,
        "pretrained": fed.pretrained,
        "prior": fed.prior,
        "finetune": settings.finetune,
        "augment": settings.augment or None,
        "trainable_parameters": fed.trainable_parameters,
        "plan_id": fed.plan_id,
        # refusals, not_connected (never sent a round), turned_away: `RoundLog.participation`
        **fed.log.participation(),
        "site_evaluation": evaluation,
        "operating_point": results_operating_point(fed),
        # the test cohort's AUC with the genotypes alone and with sex and age alone (the report's
        # "What the score rests on"; the coordinator's own cohort, no privacy cost)
        "score_parts": None
        if fed.test is None or fed.panel is None
        else fed.test.score_parts(fed.model_config, fed.state_dict, FeatureSpec(alt_freq=fed.panel.alt_freq)),
        # the coordinator's screening of each update (docs/robust-aggregation.md)
        "update_norms": {str(r): norms for r, norms in sorted(fed.log.update_norms.items())},
        "capped_examples": {str(r): notes for r, notes in sorted(fed.log.capped.items())},
        "release_costs": release_costs(fed.log, fed.sites, settings),
        "config": _recorded_config(settings),
    }


def _recorded_config(settings: RunSettings) -> dict[str, Any]:
    """The run's settings as results.json records them, a simulation's `ledger-dir` resolved to
    where its hospitals' ledgers are (`simulated_ledger_root`: "" told an auditor nothing). A
    deployed run's hospitals keep theirs in their own site folders: "" stays."""
    config = settings.to_config()
    if not settings.deployed and not config.get("ledger-dir") and settings.data_dir:
        config["ledger-dir"] = str(simulated_ledger_root(settings.out_dir, settings.data_dir))
    return config


def _site_results(
    fed: FederationResult, settings: RunSettings, evaluation: dict[str, Any] | None, name: str
) -> dict[str, Any]:
    """One hospital's row of results.json `sites`."""
    sizes = fed.sites[name]
    last_train = _last_train_metrics(fed, name)
    local = evaluation["sites"].get(name, {}) if evaluation else {}
    return {
        "samples": sizes["train"] + sizes["validation"],
        # not released by a hospital (a count of labels); the simulation fills it in
        "cases": sizes.get("cases"),
        "train": sizes["train"],
        "validation": sizes["validation"],
        "synthetic": sizes.get("synthetic", 0),
        "federated_local_auc": local.get("auc"),
        "federated_local_auc_noise_sd": local.get("auc_noise_sd"),
        "noise_multiplier": last_train.get("noise-multiplier") if settings.private else None,
        "epsilon": _finite(fed.epsilon.get(name)),
        # distributed DP only: the epsilon against the coordinator and all other sites colluding
        **(
            {"coalition_epsilon": _finite(coalition_epsilon_by_site(fed.log).get(name))}
            if settings.privacy == "distributed"
            else {}
        ),
    }


def site_evaluation(log: RoundLog) -> dict[str, Any] | None:
    """The hospitals' last evaluation of the global model, read from their DP score histograms.

    Per hospital and pooled: the AUC, accuracy, sensitivity and specificity at risk 0.5, each
    derived from noisy counts, with the spread of the AUC that the DP noise alone causes
    (`auc_noise_sd`), and the noise per count each hospital used. None if no hospital evaluated.
    """
    last = last_evaluation(log)
    if last is None:
        return None
    round_, released = last
    per_site = {
        name: _histogram_summary(as_histogram(m["val-histogram"]), float(m.get("val-noise", 0.0)))
        for name, m in sorted(released.items())
    }
    pooled = pooled_histogram([m["val-histogram"] for m in released.values()])
    pooled_sigma = _pooled_noise(log)
    return {
        "round": round_,
        "sites": per_site,
        "pooled": _histogram_summary(pooled, pooled_sigma),
        # the summed noisy counts themselves (controls' bins, cases' bins): what the summaries,
        # the operating point and the model file's risk distribution are read from
        "pooled_histogram": [[round(float(c), 4) for c in row] for row in pooled],
        "note": "derived from each hospital's noisy score histogram (a DP release charged to its ledger); "
        "auc_noise_sd is the spread the DP noise alone causes, the small-sample error comes on top",
    }


def last_evaluation(log: RoundLog) -> tuple[int, dict[str, dict[str, Any]]] | None:
    """The last round in which hospitals released validation histograms, and their releases by
    hospital; None if none did."""
    rounds = [r for r, sites in log.evaluate.items() if any("val-histogram" in m for m in sites.values())]
    if not rounds:
        return None
    last = max(rounds)
    return last, {name: m for name, m in log.evaluate[last].items() if "val-histogram" in m}


def _pooled_release(log: RoundLog) -> tuple[int, np.ndarray] | None:
    """The last evaluation round and the sum of its released histograms; None without one."""
    last = last_evaluation(log)
    if last is None:
        return None
    round_, released = last
    return round_, pooled_histogram([m["val-histogram"] for m in released.values()])


def _pooled_noise(log: RoundLog) -> float:
    """The sd of the DP noise on each count of `_pooled_release`'s histogram: the hospitals' noise
    variances add (0 without DP, or without an evaluation)."""
    last = last_evaluation(log)
    if last is None:
        return 0.0
    return math.sqrt(sum(float(m.get("val-noise", 0.0)) ** 2 for m in last[1].values()))


def results_operating_point(fed: FederationResult) -> dict[str, Any]:
    """results.json `operating_point`: the threshold chosen on the hospitals' released validation
    histograms (`genofed.common.scoring.operating.operating_point`; post-processing of releases
    already charged to their ledgers, so it costs no privacy), or `threshold` None and why."""
    pooled = _pooled_release(fed.log)
    point = (
        operating_point(pooled[1], round_=pooled[0], noise_per_count=_pooled_noise(fed.log))
        if pooled
        else None
    )
    if point is None:
        return {"threshold": None, "rule": None, "note": _no_threshold_reason(fed, pooled)}
    final_round = max((r["round"] for r in fed.rounds), default=0)
    note = "post-processing of the hospitals' DP validation histograms: no privacy cost beyond their release"
    if not fed.settings.private:  # exact histograms: a run without DP released them with no noise
        note = "read from the hospitals' exact validation histograms (a run without DP: no noise, no charge)"
    if point["round"] != final_round:
        note += f"; read from the model of round {point['round']}, not the final round {final_round}"
    return {**point, "final_round": final_round, "note": note}


def _no_threshold_reason(fed: FederationResult, pooled: tuple[int, np.ndarray] | None) -> str:
    """Why a run has no operating threshold: no evaluation planned, planned but none recorded, or
    the released counts themselves (too few of a class, no cut-off better than chance)."""
    if pooled is not None:
        return no_threshold_note(pooled[1], noise_per_count=_pooled_noise(fed.log))
    planned = fed.settings.site_evaluations
    if planned and fed.ended_early and not evaluations_before_the_end(fed.ended_early, planned):
        return NO_EVALUATION_ENDED_EARLY.format(**fed.ended_early)
    return NO_THRESHOLD if planned == 0 else NO_EVALUATION_RECORDED.format(planned=planned)


#: A run that ended early before any of its planned evaluations (`RoundEnd.ended_early`).
NO_EVALUATION_ENDED_EARLY = (
    "no operating threshold: the run ended early, after round {after_round} of {rounds_planned} (no later "
    "round could complete), before the hospitals' planned evaluation of the final model, which was not "
    "sent: nothing was released for one; risks and percentiles only"
)


def release_costs(
    log: RoundLog, sites: dict[str, dict[str, int]], settings: RunSettings
) -> dict[str, dict[str, float]]:
    """What each kind of release cost each hospital in this run, in epsilon at the run's delta.

    Recomputed from public facts only (the noise each hospital reported, its declared training
    size, the agreed batch size and epochs), with the same accountant as the hospitals' ledgers:
    `training` is the epsilon of its DP-SGD rounds alone, `evaluation` of its evaluation
    releases alone, `run` of both composed (below the sum: RDP composes sub-additively). A
    hospital's reported epsilon can be higher: it includes what it spent before this run, and
    rounds whose update the coordinator refused (their noise is not on record here).
    """
    if not settings.private:
        return {}
    costs = {}
    for name, sizes in sites.items():
        rounds = [m for sites_ in log.train.values() for site, m in sites_.items() if site == name]
        evaluations = [
            m
            for sites_ in log.evaluate.values()
            for site, m in sites_.items()
            if site == name and m.get("val-noise")
        ]
        # DP-SGD samples real and synthetic rows alike; distributed DP: every site samples at the
        # one rate of the largest declared cohort (genofed.server.secagg.noise_share_config)
        rows = int(sizes["train"]) + int(sizes.get("synthetic", 0))
        if settings.privacy == "distributed":
            rows = max(int(s["train"]) for s in sites.values())
        rate = sample_rate(rows, settings.batch_size)
        steps = settings.local_epochs * steps_per_epoch(rows, settings.batch_size)
        training = [(float(m["noise-multiplier"]), rate, steps) for m in rounds if m.get("noise-multiplier")]
        evaluation = [release_step(float(m["val-noise"])) for m in evaluations]
        costs[name] = {
            "training": epsilon_of(training, settings.delta),
            "evaluation": epsilon_of(evaluation, settings.delta),
            "run": epsilon_of(training + evaluation, settings.delta),
            "rounds": len(training),
            "evaluations": len(evaluation),
        }
    return costs


def with_generator_release(
    cost: dict[str, float], generator: list[Step], run: list[Step], delta: float
) -> dict[str, float]:
    """One hospital's `release_costs` row with its synthetic-data generator's release added: its
    DP generator was trained on the hospital's patients before the federation (`--synthetic-ratio`)
    and charged to the same ledger, so it is part of what the run spent.

    `generator`: the generator's charged steps; `run`: the run's training and evaluation steps as
    charged to the hospital's ledger (a simulation reads them there; a coordinator never sees a
    ledger). `generator` is the epsilon of the generator's release alone, and `run` becomes all of
    them composed with the ledger's own accountant, so that it is what the hospital spent in this
    run (the ledger's epsilon when it holds nothing else). Without generator steps, `cost` as is."""
    if not generator:
        return dict(cost)
    return {
        **cost,
        "generator": epsilon_of(generator, delta),
        "run": epsilon_of(list(generator) + list(run), delta),
        "generator_releases": 1,
    }


def _histogram_summary(histogram: np.ndarray, sigma: float) -> dict[str, Any]:
    metrics = histogram_metrics(histogram)
    return {**metrics, "auc_noise_sd": auc_noise_sd(histogram, sigma), "noise_per_count": sigma}


def write_results(out_dir: Path, results: dict[str, Any], name: str = RESULTS) -> Path:
    """Write `results` to `out_dir/name` atomically (results.json, or `FEDERATION_RESULTS`)."""
    path = out_dir / name
    write_text_atomic(path, json.dumps(results, indent=2, default=json_default) + "\n")
    return path


def final_model_file(
    fed: FederationResult,
    panel: VariantPanel,
    results: dict[str, Any],
    test_risks: np.ndarray | None = None,
) -> ModelFile:
    """The run's final model as a model file: the weights, the panel, the task (the run's label
    column), what `genofed predict` needs (`operating`: the encoding's constants, the operating
    threshold of results.json, the risk distribution for percentiles), who it was validated on
    (`validated_on`, `validated_on_test_cohort`) with the run report's fitness verdict there
    (`validated_on.fitness`, `fitness_on_test_cohort`) and the provenance. `test_risks`: the final
    model's risks of the test cohort, when the caller has them already (the ones
    RUN/test_predictions.csv gets)."""
    settings = fed.settings
    if test_risks is None and fed.test is not None:  # computed once for every record below
        test_risks = fed.test.predict(fed.model_config, fed.state_dict)
    pooled = _pooled_release(fed.log)
    threshold = results.get("operating_point") or {}
    operating = {
        "features": features_dict(FeatureSpec(alt_freq=panel.alt_freq)),
        "threshold": threshold if threshold.get("threshold") is not None else None,
        "threshold_note": threshold.get("note"),
        "risk_distribution": (
            risk_distribution(
                pooled[1],
                round_=pooled[0],
                noise_per_count=_pooled_noise(fed.log),
                private=settings.private,
            )
            if pooled
            else None
        ),
    }
    trained = _trained_sites(fed)
    provenance = {
        "source": federated_source(settings.out_dir),
        "kind": "federated",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "genofed_version": genofed_version(),
        "plan_id": fed.plan_id,
        "rounds": max((r["round"] for r in fed.rounds), default=0),
        # a SecAgg+ run that stopped before its last round: which round's model this is, and why
        **({"ended_early": fed.ended_early} if fed.ended_early else {}),
        # the hospitals the model was trained on: not one that introduced itself and then refused
        # every round (its budget spent), which results.json's `sites` keeps, for the report's why
        "samples": sum(int(s["train"]) + int(s["validation"]) for s in trained.values()),
        "sites": {name: {"train": s["train"], "validation": s["validation"]} for name, s in trained.items()},
        # the declared validation sizes of the hospitals whose releases the threshold and the
        # percentiles were read from, beside their noisy count (`genofed predict`)
        "validation_sites": _pooled_sizes(fed),
        "metrics": {
            "test": fed.test_metrics,
            "site_evaluation": (results.get("site_evaluation") or {}).get("pooled"),
            # what the operating threshold does on real people, beside its noisy validation figures
            "test_at_threshold": _test_at_threshold(fed, threshold.get("threshold"), test_risks),
        },
        # each hospital's ledger total (what it reported: every run it took part in), and its spend in
        # this run alone, which `inspect-model` gives beside it when a ledger held more
        "epsilon": results.get("epsilon"),
        "epsilon_this_run": _this_run_spend(results, fed.sites, _refused_updates(fed.log)),
        # where the model is meant to be used, so that `predict` gives PPV there, as the report does
        "prevalence": _prevalence(results),
        "started_from": _started_from(results.get("pretrained")),
        "settings": shared_settings(settings),
        "software": {"torch": str(torch.__version__), "python": platform.python_version()},
    }
    # the run report's verdict on the same people and risks, recorded beside who they were
    fitness = fitness_on_test_cohort(fed, results, test_risks)
    return ModelFile(
        state_dict=fed.state_dict,
        model_config=fed.model_config,
        panel=panel,
        task=Task("binary", settings.label_column),
        # plain JSON data only: the file is read back with weights_only=True
        provenance=_plain(provenance),
        operating=_plain(operating),
        validated_on=_plain({**validated_on_test_cohort(fed, test_risks), "fitness": fitness}),
    )


def _this_run_spend(
    results: dict[str, Any], sites: dict[str, dict[str, int]], refused: frozenset[str] = frozenset()
) -> dict[str, float] | None:
    """{hospital: its releases of this run composed} (results.json `release_costs.NAME.run`) for each
    hospital that reported an epsilon; None without DP or when one has no figure. A hospital that
    trained on synthetic records has none here: its generator's release, charged to its ledger,
    is not on the coordinator's record (a simulation adds it to results.json after this file). Nor
    has one whose update the coordinator refused (`refused`): it was charged for that round, whose
    noise is not on the record, so the record's figure would understate what it spent in this run."""
    costs, reported = results.get("release_costs") or {}, results.get("epsilon") or {}
    spend = {
        name: (costs.get(name) or {}).get("run")
        if not sites.get(name, {}).get("synthetic") and name not in refused
        else None
        for name in reported
    }
    if not spend or any(value is None for value in spend.values()):
        return None
    return {name: float(value) for name, value in spend.items()}


def _refused_updates(log: RoundLog) -> frozenset[str]:
    """The hospitals an update of which the coordinator refused with the epsilon it reported
    (`RoundLog.refused_epsilon`): charged at the hospital, not in `release_costs`."""
    return frozenset(site for sites in log.refused_epsilon.values() for site in sites)


def _trained_sites(fed: FederationResult) -> dict[str, dict[str, Any]]:
    """The declared sizes of the hospitals that trained in at least one round. A hospital that
    introduced itself and then refused every round (a deployed walkthrough: its budget was spent)
    is in `fed.sites` but no source of the model; its model file said "3 hospitals, 510 patients"
    where 2 hospitals and 350 patients trained. Every hospital when no round records who trained."""
    from genofed.server.report.reading import trained_sites

    trained = trained_sites({"rounds": fed.rounds})
    return {name: sizes for name, sizes in fed.sites.items() if trained is None or name in trained}


def _pooled_sizes(fed: FederationResult) -> dict[str, int] | None:
    """Each hospital whose validation release the model file's threshold and risk distribution
    were read from (`last_evaluation`), with the validation size it declared; None without one."""
    last = last_evaluation(fed.log)
    if last is None:
        return None
    return {name: int(fed.sites[name]["validation"]) for name in sorted(last[1]) if name in fed.sites}


#: The run settings that name a file or folder on the coordinator's machine.
PATH_SETTINGS = frozenset(
    {"data-dir", "out-dir", "panel", "test-dir", "ledger-dir", "pretrained", "prior", "gene-prior"}
)


def shared_settings(settings: RunSettings) -> dict[str, Any]:
    """The run's settings as the model file records them: each path (`PATH_SETTINGS`) by its last
    name only. The model file is what a run shares with hospitals and clinicians; the coordinator's
    folders (who ran it, where the exports lie) are no part of how the model was trained; of the
    files that are, the panel is in the model file itself and a pretrained start is named by its
    hash (`pretrained-hash`, `started_from`). results.json keeps the paths (`config`)."""
    return {
        key: (Path(value).name if key in PATH_SETTINGS and value else value)
        for key, value in settings.to_config().items()
    }


def _test_at_threshold(
    fed: FederationResult, threshold: float | None, test_risks: np.ndarray | None
) -> dict[str, Any] | None:
    """The test cohort's exact sensitivity and specificity at the operating threshold
    (`held_out_figures_at`); None without a threshold or a test cohort."""
    if threshold is None or fed.test is None:
        return None
    risks = test_risks if test_risks is not None else fed.test.predict(fed.model_config, fed.state_dict)
    return held_out_figures_at(fed.test.labels, risks, float(threshold))


def _prevalence(results: dict[str, Any]) -> dict[str, Any] | None:
    """The prevalence the run's report gives PPV and NPV at (its --prevalence setting, else a
    simulated disease's, `real_prevalence`) as {"value", "source"}; None when neither is known."""
    from genofed.server.report.run_files import read_truth, real_prevalence

    prevalence = real_prevalence(results, read_truth(results))
    return None if prevalence is None else {"value": prevalence.value, "source": prevalence.source}


def _started_from(pretrained: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a model file records of the model its run started from (`--pretrained`): its hash and
    kind, and for a federation's own model the epsilon its hospitals had spent on it, which this
    run's ledgers do not hold (inspect-model shows both)."""
    if not pretrained:
        return None
    return {key: pretrained.get(key) for key in ("content_hash", "kind", "epsilon")}


#: The model file's `validated_on.source` for a federated run's test cohort.
TEST_COHORT_SOURCE = (
    "the coordinator's own held-out test cohort, never a hospital's patients: recording its ages and sexes "
    "spends no hospital's privacy budget (the test cohort itself has no DP: its exact results are in the "
    "run's report)"
)
#: The model file's `validated_on.note` for a run without a test cohort.
NO_TEST_COHORT = (
    "the run had no test cohort: the model was checked only on the hospitals' DP validation releases, "
    "which carry no ages or sexes, so there is no validated population nor calibration verdict to record"
)


def validated_on_test_cohort(fed: FederationResult, test_risks: np.ndarray | None = None) -> dict[str, Any]:
    """The model file's `validated_on` (`genofed.common.scoring.validation`): the coordinator's
    test cohort's age range and sex mix, and the calibration verdict the run's report reaches on
    it (the same check on the same risks: the report reads them back from RUN/test_predictions.csv,
    written from `test_risks`). Nothing here comes from a hospital's patients: their ages and sexes
    are never released. Without a test cohort, a record that there was none."""
    test = fed.test
    if test is None:
        return no_validation_cohort(NO_TEST_COHORT)
    risks = test.predict(fed.model_config, fed.state_dict) if test_risks is None else test_risks
    return validation_record(
        cohort="the coordinator's test cohort",
        source=TEST_COHORT_SOURCE,
        labels=test.labels,
        risks=risks,
        ages=test.ages,
        sexes=test.sexes,
        said_as="the test cohort",  # the report's own sentence, word for word
    )


def fitness_on_test_cohort(
    fed: FederationResult, results: dict[str, Any], test_risks: np.ndarray | None = None
) -> dict[str, Any]:
    """The model file's `validated_on.fitness`: the verdict the run's report reaches
    (`genofed.server.report.verdict.fitness_record`: NOT FIT FOR USE with the failed rules' own
    sentences, minimum checks passed, or cannot be judged). The model file is written before the
    report, so the verdict is reached here on what the report reads back: the test cohort's labels
    and these risks (RUN/test_predictions.csv is written from them) and results.json's operating
    point; the rules use nothing else (not the real prevalence a later `genofed report` may be
    given). Without a test cohort, as the report without test_predictions.csv: from results.json.
    `test_risks` is required with a test cohort: `final_model_file` computes them once for every
    record of the file."""
    from genofed.server.report.assessment import assess
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.verdict import fitness_record

    test = fed.test
    predictions = None
    if test is not None:
        if test_risks is None:
            raise ValueError("fitness_on_test_cohort: the test cohort's risks are needed")
        predictions = Predictions(
            np.asarray(test.labels, dtype=np.int64), np.asarray(test_risks, dtype=np.float64)
        )
    return fitness_record(assess(results, predictions, None))


def write_model(
    out_dir: Path,
    fed: FederationResult,
    panel: VariantPanel,
    results: dict[str, Any],
    test_risks: np.ndarray | None = None,
) -> Path:
    """RUN/model.pt: the final model file (`final_model_file`), written atomically. `test_risks`:
    the final model's risks of the test cohort, when the caller computed them (else computed here)."""
    path = out_dir / MODEL
    save_model_file(path, final_model_file(fed, panel, results, test_risks))
    return path


def write_test_predictions(
    out_dir: Path, sample_ids: list[str], labels: np.ndarray, risks: np.ndarray
) -> Path:
    """RUN/test_predictions.csv: `sample_id,label,risk`, one row per test person, written
    atomically. The test cohort is the coordinator's own (never a hospital's patients)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TEST_PREDICTION_COLUMNS)
    for sample, label, risk in zip(sample_ids, labels, risks, strict=True):
        writer.writerow([sample, int(label), repr(float(risk))])
    path = out_dir / TEST_PREDICTIONS
    write_text_atomic(path, buffer.getvalue())
    return path


def write_reference_predictions(out_dir: Path, sample_ids: list[str], columns: dict[str, np.ndarray]) -> Path:
    """RUN/reference_predictions.csv: `sample_id`, then one column per reference model (its risk
    for each test person, in the rows of test_predictions.csv), written atomically as that file
    is. The report's paired intervals of federated minus each reference read it."""
    from genofed.server.report.run_files import REFERENCE_PREDICTIONS

    names = list(columns)
    if any(len(columns[name]) != len(sample_ids) for name in names):
        raise ValueError("reference_predictions.csv: every column needs one risk per test person")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sample_id", *names])
    for i, sample in enumerate(sample_ids):
        writer.writerow([sample, *(repr(float(columns[name][i])) for name in names)])
    path = out_dir / REFERENCE_PREDICTIONS
    write_text_atomic(path, buffer.getvalue())
    return path


def _plain(value: Any) -> Any:
    """`value` as plain JSON data (numpy scalars to numbers, anything else to strings)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _last_train_metrics(fed: FederationResult, site: str) -> dict[str, float]:
    for _round, sites in sorted(fed.log.train.items(), reverse=True):
        if site in sites:
            return sites[site]
    return {}


def _finite(value: float | None) -> float | None:
    """None for a missing, NaN or infinite epsilon (JSON has no inf: "no DP" is null)."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return value


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for numpy scalars (they have .item())."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

"""One federated run on the coordinator: ask who is there, train for N rounds with a Flower
strategy, evaluate centrally, checkpoint every round, and return what happened.

`run_federation` reads as the run's steps; each step lives where its concept does: where the
run starts (`genofed.server.resume`), who takes part (`genofed.server.sites`), the strategy
(`genofed.server.strategies`), what happens after each round (`genofed.server.round_end`), and
the SecAgg+ rounds (`genofed.server.secagg`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord
from flwr.serverapp import Grid

from genofed.common.data.layout import PANEL, TEST, hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError, GenofedError
from genofed.common.model.network import ModelConfig, build_model, set_trainable, trainable_names
from genofed.common.util.progress import Progress, silent
from genofed.server.evaluation import TestCohort
from genofed.server.resume import RunStart, restore_log, run_start
from genofed.server.round_end import RoundEnd
from genofed.server.round_log import RoundLog, epsilon_by_site
from genofed.server.settings import RunSettings
from genofed.server.sites import (
    SimulatedHospitals,
    SiteInfo,
    describe_sites,
    enrolled_names,
    not_connected,
    require_delta_below_smallest,
    round_log_of,
    turned_away_names,
)
from genofed.server.start_model import StartModel, start_model
from genofed.server.strategies import make_strategy
from genofed.server.tracking import Tracked
from genofed.server.training_rule import distributed_step

__all__ = [
    "FederationResult",
    "Rounds",
    "evaluate_config",
    "load_test_cohort",
    "panel_path",
    "run_federation",
    "simulated_hospitals",
    "train_config",
]


@dataclass
class FederationResult:
    """What a run produced: the per-round history, the final model and what the hospitals did.

    `sites`: each hospital's declared sizes by name; `bytes_per_client_round`: what a hospital
    uploads per round; `epsilon`: each hospital's cumulative epsilon as it last reported it.
    `settings`: the run's settings with the model and the rule's values resolved.
    `wall_seconds`: the run's wall time over all its launches (`RunStart.elapsed`), of which
    `wall_seconds_before` were spent by earlier launches (0 unless resumed; up to their last
    checkpoint); `launches`: this launch's number (1 for a run never resumed).
    """

    settings: RunSettings
    rounds: list[dict[str, Any]]
    state_dict: dict[str, torch.Tensor]
    model_config: ModelConfig
    sites: dict[str, dict[str, int]]
    log: RoundLog
    plan_id: str
    wall_seconds: float
    bytes_per_client_round: int
    test_metrics: dict[str, Any] | None = None
    epsilon: dict[str, float] = field(default_factory=dict)
    pretrained: dict[str, Any] | None = None  # `pretrained.describe` of the starting model
    prior: dict[str, Any] | None = None  # what the public priors selected (`StartModel.prior`)
    trainable_parameters: int = 0  # what each hospital trains (privately) per round
    #: The run's panel and the coordinator's test cohort (None without one), as read at the start:
    #: the model file and RUN/test_predictions.csv are written from them.
    panel: VariantPanel | None = None
    test: TestCohort | None = None
    wall_seconds_before: float = 0.0
    launches: int = 1
    #: A SecAgg+ run that ended before its last round, since no later round could complete
    #: (`RoundEnd.ended_early`); None when it trained all its rounds.
    ended_early: dict[str, Any] | None = None


@dataclass
class Rounds:
    """The rounds a run still has to train, and everything they are run with.

    `after_round` is the strategy's `evaluate_fn`; the train and evaluate configs are what every
    hospital receives with each round.
    """

    settings: RunSettings
    start: RunStart
    sites: dict[int, SiteInfo]
    strategy: Tracked
    after_round: RoundEnd
    train_config: ConfigRecord
    evaluate_config: ConfigRecord

    @property
    def left(self) -> int:
        return self.settings.rounds - self.start.round


def run_federation(
    grid: Grid,
    settings: RunSettings,
    progress: Progress | None = None,
    *,
    stop_when_every_hospital_refuses: bool = True,
) -> FederationResult:
    """Run the federation `settings` describe on `grid`; `progress` gets one line per round.

    `stop_when_every_hospital_refuses`: end the run (`EveryHospitalRefused`) after the first
    round that leaves every hospital refusing it for its own reason and none trained, rather than
    asking round after round; False where such a run is recorded whole (an experiment's)."""
    say = progress or silent
    started = time.perf_counter()
    panel = VariantPanel.load(panel_path(settings))
    begin = start_model(settings, panel)
    settings, model_config, initial = begin.settings, begin.config, begin.weights
    test = load_test_cohort(settings, panel)
    start = run_start(settings, model_config, initial, say, launched=started)
    turned_away: dict[int, str] = {}
    sites, asked = describe_sites(
        grid,
        settings.min_nodes,
        expected=settings.expected_nodes,
        grace=settings.wait_seconds,
        reply_timeout=settings.round_timeout,
        simulated=simulated_hospitals(settings, grid),
        turned_away=turned_away,
    )
    if settings.private:
        require_delta_below_smallest(sites, settings.delta)
    log = round_log_of(sites, asked)
    log.not_connected = not_connected(grid, asked, turned_away)
    log.turned_away = turned_away_names(grid, turned_away)
    for name, reason in log.turned_away.items():
        say(f"{name} cannot take part in this run: {reason}")
    if start.checkpoint is not None:
        restore_log(log, start.checkpoint)
    log.note_launch(start.round)  # a hospital an earlier launch left out: its rounds, now it is asked
    _say_start(say, settings, sites, begin.pretrained)
    frozen, trainable_parameters = _training_split(model_config, settings.finetune)
    strategy = make_strategy(settings, log, round_offset=start.round, frozen=frozen)
    if start.checkpoint is not None:
        strategy.load_state(start.checkpoint.strategy_state)
    rounds = _rounds(begin, start, sites, strategy, test, say, stop_when_every_hospital_refuses)
    bytes_up = _train(grid, rounds, say)
    log.close_absences(max((r["round"] for r in rounds.after_round.history), default=0))
    final, final_metrics = rounds.after_round.final()
    return FederationResult(
        settings=settings,
        rounds=rounds.after_round.history,
        state_dict=final,
        model_config=model_config,
        sites={s.name: dict(s.sizes) for s in sites.values()},
        log=log,
        plan_id=start.plan_id,
        wall_seconds=start.elapsed(),
        bytes_per_client_round=bytes_up or ArrayRecord(final).count_bytes(),
        test_metrics=final_metrics,
        epsilon=epsilon_by_site(log),
        pretrained=begin.pretrained,
        prior=begin.prior,
        trainable_parameters=trainable_parameters,
        panel=panel,
        test=test,
        wall_seconds_before=start.elapsed_before,
        launches=start.launches,
        ended_early=rounds.after_round.ended_early,
    )


def simulated_hospitals(settings: RunSettings, grid: Grid) -> SimulatedHospitals | None:
    """The hospital folders a simulation's SuperNodes serve (one each, by partition id), which
    `describe_sites` holds the node count to; None for a deployed run (no data-dir, or a grid that
    knows its nodes' enrolled names) or a data-dir whose hospitals cannot be read here (each
    SuperNode then says why)."""
    if not settings.data_dir or enrolled_names(grid) is not None:
        return None
    try:
        folders = hospital_folders(settings.data_dir, test_dir=settings.test_dir)
    except DataError:
        return None
    return SimulatedHospitals(settings.data_dir, tuple(folder.name for folder in folders))


def load_test_cohort(settings: RunSettings, panel: VariantPanel) -> TestCohort | None:
    """The held-out test cohort: test-dir, else data-dir/test when it exists; None without one
    (it is optional: the model is then judged by the hospitals' DP validation releases only).
    Its files are found as a hospital folder's, and read with the run's label column. A test-dir
    that was given and is gone (moved since `coordinator init` checked it) is an error, not a run
    that quietly skips its evaluation on the test cohort."""
    if settings.test_dir and not Path(settings.test_dir).is_dir():
        raise DataError(
            settings.test_dir,
            "the run's test cohort (test-dir) is not a folder any more",
            hint="restore the folder, or set test-dir in federation.json to where it is now",
        )
    folder = (
        Path(settings.test_dir)
        if settings.test_dir
        else (Path(settings.data_dir) / TEST if settings.data_dir else None)
    )
    if folder is None or not folder.is_dir():
        return None
    return TestCohort.load(folder, panel, label_column=settings.label_column)


def _say_start(
    say: Progress, settings: RunSettings, sites: dict[int, SiteInfo], pretrained: dict[str, Any] | None
) -> None:
    if pretrained:
        say(
            f"starting from pretrained model {settings.pretrained} ({pretrained['content_hash'][:12]}), "
            f"finetune={settings.finetune}"
        )
    say(
        f"{len(sites)} hospitals: "
        + ", ".join(f"{s.name} ({s.sizes['train']}+{s.sizes['validation']})" for s in sites.values())
    )


def _training_split(model_config: ModelConfig, finetune: str) -> tuple[frozenset[str], int]:
    """The parameters no hospital trains under `finetune`, and how many scalars they do train."""
    model = build_model(model_config, seed=0)
    trained = set(trainable_names(model, finetune))
    frozen = frozenset(k for k in model.state_dict() if k not in trained)
    return frozen, set_trainable(model, finetune)


def _rounds(
    begin: StartModel,
    start: RunStart,
    sites: dict[int, SiteInfo],
    strategy: Tracked,
    test: TestCohort | None,
    say: Progress,
    stop_when_every_hospital_refuses: bool,
) -> Rounds:
    settings, model_config = begin.settings, begin.config
    model_json = json.dumps(model_config.to_dict())
    return Rounds(
        settings=settings,
        start=start,
        sites=sites,
        strategy=strategy,
        after_round=RoundEnd(
            settings,
            model_config,
            start,
            strategy.log,
            strategy,
            test,
            say,
            stop_when_every_hospital_refuses=stop_when_every_hospital_refuses,
        ),
        train_config=train_config(settings, start.plan_id, model_json, from_weights=begin.from_weights),
        evaluate_config=evaluate_config(settings, start.plan_id, model_json),
    )


def train_config(
    settings: RunSettings, plan_id: str, model_json: str, *, from_weights: bool | None = None
) -> ConfigRecord:
    """What every hospital receives with each training round. `from_weights`: whether round 0
    holds a model's weights (`StartModel.from_weights`; None = read from the settings), which sets
    the distributed step."""
    return ConfigRecord(
        {
            "num-rounds": settings.rounds,
            "plan-id": plan_id,
            "local-epochs": settings.local_epochs,
            "batch-size": settings.batch_size,
            "lr": settings.lr,
            "clip": settings.clip,
            # only when not the network's 0.9, which every site assumed before it was sent
            **({"momentum": settings.momentum} if settings.momentum != 0.9 else {}),
            "epsilon": settings.epsilon if settings.private else math.inf,
            "delta": settings.delta,
            "model": model_json,
            "finetune": settings.finetune,
            # only when set: the round's input digest covers this config, and plain runs keep their draws
            **({"augment": settings.augment} if settings.augment else {}),
            # the sites pay for these evaluations when they plan the run's privacy
            "site-evaluations": settings.site_evaluations,
            # only when distributed (local runs keep their config and draws); the SecAgg+ rounds add
            # noise-share-sites and noise-share-rate per round (genofed.server.secagg)
            **({"privacy": "distributed"} if settings.privacy == "distributed" else {}),
            # only when not the sites' default "mean" (runs from scratch keep their config and draws)
            **(
                {"distributed-step": "sum"}
                if distributed_step(settings, from_weights=from_weights) == "sum"
                else {}
            ),
        }
    )


def evaluate_config(settings: RunSettings, plan_id: str, model_json: str) -> ConfigRecord:
    """What every hospital receives with each evaluation round."""
    return ConfigRecord(
        {
            "model": model_json,
            "plan-id": plan_id,
            "delta": settings.delta,
            "epsilon": settings.epsilon if settings.private else math.inf,
        }
    )


def _train(grid: Grid, rounds: Rounds, say: Progress) -> int:
    """Train the rounds left; returns the measured upload per hospital and round under SecAgg+
    (masked vectors, keys, shares), 0 otherwise.

    Every exchange (a round's training, its evaluation, each SecAgg+ stage) waits at most
    `round-timeout` seconds for the hospitals' replies, then goes on with those it has: the
    strategy aggregates them (a hospital that did not answer is logged as refusing the round,
    `Tracked`), and a late reply is never pulled into a later exchange (each pulls the replies to
    its own messages only)."""
    if rounds.left <= 0:
        say(
            f"the checkpoint already closes round {rounds.start.round} of {rounds.settings.rounds}: "
            "nothing left to train"
        )
        return 0
    if rounds.settings.secagg:  # the same rounds on Flower's SecAgg+: the coordinator sees sums only
        return _train_secagg(grid, rounds)
    rounds.strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(rounds.start.weights),
        num_rounds=rounds.left,
        train_config=rounds.train_config,
        evaluate_config=rounds.evaluate_config,
        evaluate_fn=rounds.after_round,
        timeout=rounds.settings.round_timeout,
    )
    return 0


def _train_secagg(grid: Grid, rounds: Rounds) -> int:
    from genofed.server.secagg import run_secagg_rounds

    settings = rounds.settings
    return run_secagg_rounds(
        grid,
        state=rounds.start.weights,
        num_rounds=rounds.left,
        round_offset=rounds.start.round,
        seed=settings.seed,
        train_config=rounds.train_config,
        evaluate_config=rounds.evaluate_config,
        evaluate_fn=rounds.after_round,
        tracked=rounds.strategy,
        max_weight=max(s.sizes["train"] for s in rounds.sites.values()),
        min_nodes=settings.min_nodes,
        fraction_train=settings.fraction_train,
        timeout=settings.round_timeout,
    ).bytes_per_client_round()


def panel_path(settings: RunSettings) -> Path:
    """The run's variant panel: `panel` when set, else the federation folder's panel.tsv."""
    if settings.panel:
        return Path(settings.panel)
    if settings.data_dir:
        return Path(settings.data_dir) / PANEL
    raise GenofedError("no variant panel: set panel (deployment) or data-dir (simulation)")

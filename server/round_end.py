"""What the coordinator does after every round: evaluate the global model on the held-out test
cohort, add the round to the run's history, write a checkpoint, and report a progress line.

Flower calls it as a strategy's `evaluate_fn` (before round 1 and after each round); the
SecAgg+ rounds call it the same way. It also keeps the latest global model and its test
metrics, so the final model is not evaluated twice and a run in which every hospital refused
still has a model to deliver.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from flwr.app import ArrayRecord, MetricRecord

from genofed.common.model.network import ModelConfig
from genofed.common.util.progress import Progress
from genofed.server.checkpoint import Checkpoint, save_checkpoint, save_progress
from genofed.server.evaluation import TestCohort
from genofed.server.resume import RunStart, checkpoint_folder, log_snapshot
from genofed.server.round_log import (
    NOT_CONNECTED,
    EveryHospitalRefused,
    RoundLog,
    RunEndsEarly,
    ended_early_reason,
    hospitals_left,
    refusals_by_reason,
    restart_words,
    too_few_left,
)
from genofed.server.settings import RunSettings
from genofed.server.tracking import Tracked

logger = logging.getLogger(__name__)


@dataclass
class RoundEnd:
    """The after-round step of one run (an `evaluate_fn` for Flower).

    `start`: where the run started (a resumed run does not re-evaluate its checkpoint's round);
    `test`: the held-out test cohort, None without one; `strategy`: whose optimiser state each
    checkpoint keeps. `history`, `weights` and `metrics` fill in as rounds end.
    `stop_when_every_hospital_refuses`: after a round (not the last) that leaves every hospital
    refusing the run and none trained, stop the run (`EveryHospitalRefused`) instead of asking
    every round left, and end a SecAgg+ run early when no later round can complete
    (`ended_early`); False where a run is recorded whole (`genofed simulate`'s
    `require_training=False`).
    """

    settings: RunSettings
    model_config: ModelConfig
    start: RunStart
    log: RoundLog
    strategy: Tracked
    test: TestCohort | None
    say: Progress
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The global model after the last round (Flower's Result has none if all refused) and its
    #: test metrics (None until a round ended in this process).
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    round_started: float = field(default_factory=time.perf_counter)
    stop_when_every_hospital_refuses: bool = True
    #: Set when a SecAgg+ run whose earlier rounds trained ended before its last round, since no
    #: later round could complete: {"after_round", "rounds_planned", "model_round" (the last round
    #: whose updates were used), "reason"} (results.json's `ended_early`); None otherwise.
    ended_early: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.history = list(self.start.history)
        self.weights = self.start.weights

    def __call__(self, server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """Close Flower's round `server_round` (the run's round `server_round + start.round`)."""
        if server_round == 0 and self.start.resumed:
            return None  # round `start.round` was evaluated and checkpointed before the restart
        real = server_round + self.start.round
        weights = arrays.to_torch_state_dict()
        bad = non_finite(weights)
        if bad:  # never evaluate, checkpoint or deliver it: the last finite model stays the run's
            logger.error(
                "round %s: the global model is not finite (NaN or inf in %s); it is neither evaluated nor "
                "checkpointed, and the run keeps the model of the round before",
                real,
                bad,
            )
            self.say(f"round {real}/{self.settings.rounds}: global model not finite, not used")
            self.round_started = time.perf_counter()
            return None
        self.weights = weights
        self.metrics = self.test.evaluate(self.model_config, self.weights) if self.test else None
        record = round_record(real, self.metrics or {}, self.log, time.perf_counter() - self.round_started)
        self.history.append(record)
        self._save(real)
        self.say(progress_line(record, self.settings.rounds))
        self._stop_if_no_later_round_can_train(real)
        self.round_started = time.perf_counter()
        return MetricRecord(
            {k: v for k, v in record.items() if isinstance(v, (int, float)) and v is not None}
        )

    def final(self) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
        """The run's final model and its test metrics (evaluated here when no round ran in this
        process, e.g. a resume with nothing left to train)."""
        if self.metrics is None and self.test:
            return self.weights, self.test.evaluate(self.model_config, self.weights)
        return self.weights, self.metrics

    def _stop_if_no_later_round_can_train(self, real: int) -> None:
        """Stop the run after round `real` when no later round can train: every hospital refused
        it for a reason of its own (its budget, its settings, its data), which repeats every round
        since a run's plan, settings and data never change within it; under SecAgg+, too few are
        left that did not refuse to complete a round (an operator's walkthrough: two of three
        hospitals refused every round for lasting reasons, and the third paid for three rounds and
        an evaluation, none of which could be unmasked). Without this the run asked round after
        round until its last (hours with many rounds) and only then failed (`genofed.server.app`'s
        `NothingTrained`), as it still does after the last round. The round's checkpoint is
        written first: it keeps the record of the refusals.

        A run with a trained round has a model to deliver: a SecAgg+ run then ends early with it
        (`RunEndsEarly`); a plain run asks on, since a refusing hospital spends nothing and the
        one left trains alone."""
        if not self.stop_when_every_hospital_refuses or real >= self.settings.rounds:
            return
        taking_part = len(self.log.participants())
        needed = 1  # FedAvg: any one hospital trains a round
        if self.settings.secagg:
            # imported here, as federation._train_secagg does: Flower's SecAgg+ workflow costs a
            # plain run's ServerApp about a second to import
            from genofed.server.secagg import secagg_needed

            needed = secagg_needed(taking_part, self.settings.fraction_train)
        refusals = too_few_left(self.log, needed=needed)
        if refusals is None:
            return
        trained = any(self.log.train.values())
        if trained and not self.settings.secagg:
            return
        left = self.settings.rounds - real
        named = refusals_by_reason(refusals).rstrip(".")  # a reason may end its own sentence
        every = len(refusals) == taking_part
        who = (
            "every hospital refused the run's plan"
            if every
            else f"{len(refusals)} of the run's {taking_part} hospitals refused its plan, and a SecAgg+ "
            f"round needs at least {needed} hospitals to complete it before their sum can be unmasked"
        )
        before = "" if every else ", before the hospitals left spend privacy on rounds that cannot be used"
        why = (
            f"round {real} of {self.settings.rounds}: {who}, for a reason that repeats in every round of "
            "the run (a budget or cap reached, a setting, data changed since the hospital's check: none "
            f"changes within a run), so none of the {left} round{'s' if left != 1 else ''} left could "
        )
        if trained:
            used = max(r for r, sites in self.log.train.items() if sites)
            reason = ended_early_reason(
                real,
                self.settings.rounds,
                left=hospitals_left(self.log, refusals),
                needed=needed,
                model_round=used,
            )
            self.ended_early = {
                "after_round": real,
                "rounds_planned": self.settings.rounds,
                "model_round": used,
                "reason": reason,
                # each refusing hospital's own reason, for the report (docs/secure-aggregation.md)
                "refused": dict(refusals),
            }
            logger.warning("the run ends early: %s. The hospitals refused: %s.", reason, named)
            planned = self.settings.rounds
            self.say(f"the run ends after round {real} of {planned}: no later round can complete")
            raise RunEndsEarly(reason)
        raise EveryHospitalRefused(
            f"{why}train and the run stops now{before}; {self.settings.out_dir} gets no model, results nor "
            f"report. The hospitals refused: {named}.",
            restart_words(self.settings),
        )

    def _save(self, real: int) -> None:
        checkpoint = Checkpoint(
            real,
            self.weights,
            self.model_config.to_dict(),
            self.start.plan_id,
            list(self.history),
            log_snapshot(self.log),
            self.strategy.state(),
            self.settings.to_config(),
            # the run's wall time so far over all its launches, so a resumed run's results count them all
            elapsed_seconds=self.start.elapsed(),
            launches=self.start.launches,
        )
        save_checkpoint(checkpoint_folder(self.settings), checkpoint)
        save_progress(
            checkpoint_folder(self.settings),
            real,
            {"rounds": list(self.history), **self.log.participation()},
        )


def non_finite(weights: dict[str, torch.Tensor]) -> str | None:
    """The first floating-point array of `weights` with a NaN or inf in it (None if all are finite)."""
    for key, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return key
    return None


def round_record(real: int, metrics: dict[str, Any], log: RoundLog, seconds: float) -> dict[str, Any]:
    """The history entry of round `real`: test metrics, who took part and refused, worst epsilon."""
    train, refused = log.train.get(real, {}), log.refused.get(real, {})
    epsilons = [m["epsilon"] for m in train.values() if not math.isinf(m["epsilon"])]
    return {
        "round": real,
        "test_auc": metrics.get("auc"),
        "test_accuracy": metrics.get("accuracy"),
        "train_loss": None,  # hospitals do not release a loss on their patients (it is an exact query)
        "seconds": seconds if real else 0.0,
        "participants": sorted(train),
        # every hospital taking part that did not train in the round, for whatever reason ...
        "refused": sorted(refused),
        # ... of which those not connected when it started (sent nothing; a deployed run only)
        "not_connected": sorted(site for site, why in refused.items() if why == NOT_CONNECTED),
        "epsilon_max": max(epsilons) if epsilons else None,
    }


def progress_line(record: dict[str, Any], rounds: int) -> str:
    """One line for the progress callback, e.g. `round 2/3, test AUC 0.712, epsilon <= 4.10`."""
    auc = "n/a" if record["test_auc"] is None else f"{record['test_auc']:.3f}"
    parts = [f"round {record['round']}/{rounds}", f"test AUC {auc}"]
    if record["epsilon_max"] is not None:
        parts.append(f"epsilon <= {record['epsilon_max']:.2f}")
    away = record.get("not_connected") or []
    refused = [site for site in record["refused"] if site not in away]
    if refused:
        parts.append(f"refused: {', '.join(refused)}")
    if away:
        parts.append(f"not connected: {', '.join(away)}")
    return ", ".join(parts)

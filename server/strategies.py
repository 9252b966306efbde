"""The Flower strategy a run's settings ask for, wrapped with genofed's tracking.

FedAvg, FedProx and FedAdam, and the robust aggregators FedMedian, FedTrimmedAvg, Krum and
MultiKrum, all from `flwr.serverapp.strategy`: Flower's strategies do the aggregation, and
`genofed.server.tracking.Tracked` adds the round bookkeeping and update screening a clinical
run needs around them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg, FedMedian, FedProx, FedTrimmedAvg, Krum, MultiKrum

from genofed.server.integrity import LocalTraining, UpdateScreen
from genofed.server.noise_weighting import RunNoisePlan
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings
from genofed.server.tracking import Tracked

__all__ = ["RoundLog", "Tracked", "evaluation_rounds", "make_strategy", "max_epsilon_metrics"]

logger = logging.getLogger(__name__)


def make_strategy(
    settings: RunSettings, log: RoundLog, *, round_offset: int = 0, frozen: frozenset[str] = frozenset()
) -> Tracked:
    """The strategy the settings ask for, wrapped with tracking.

    `log` is the run's round log (its `site_of_node` and `declared_sizes` filled in from the
    hospitals' introductions); `round_offset` the round a resumed run starts from; `frozen` the
    parameters no hospital trains.
    """
    hospitals = len(log.site_of_node)
    flower_class, own_arguments = _flower_strategy(settings, _per_round(settings, hospitals))
    inner = flower_class(
        fraction_train=settings.fraction_train,
        fraction_evaluate=1.0,
        min_train_nodes=min(settings.min_nodes, hospitals),
        min_evaluate_nodes=min(settings.min_nodes, hospitals),
        min_available_nodes=settings.min_nodes,
        train_metrics_aggr_fn=max_epsilon_metrics,
        **own_arguments,
    )
    return Tracked(
        inner,
        log,
        round_offset=round_offset,
        seed=settings.seed,
        frozen=frozen,
        screen=UpdateScreen(
            LocalTraining.from_settings(settings),
            log.declared_sizes,
            frozen,
            noise_plan=RunNoisePlan.from_settings(settings),
        ),
        evaluation_rounds=evaluation_rounds(settings.rounds, settings.site_evaluations),
        round_timeout=settings.round_timeout,
    )


def evaluation_rounds(rounds: int, evaluations: int) -> frozenset[int]:
    """The rounds after which hospitals evaluate: `evaluations` of them, evenly spaced, the last
    one after the final round (the model the run delivers)."""
    if evaluations <= 0:
        return frozenset()
    return frozenset(round(rounds * k / evaluations) for k in range(1, evaluations + 1))


def evaluations_before_the_end(ended: dict[str, Any], planned: int) -> int:
    """How many of a run's `planned` evaluations fell on rounds up to the one it ended early after
    (`RoundEnd.ended_early`: `after_round` of `rounds_planned`): the others were never sent."""
    rounds = evaluation_rounds(int(ended["rounds_planned"]), planned)
    return sum(1 for r in rounds if r <= int(ended["after_round"]))


def max_epsilon_metrics(records: list[RecordDict], weight_key: str) -> MetricRecord:
    """The hospitals' reply metrics merged: the worst (largest) epsilon and noise multiplier (a
    mean epsilon, Flower's default, would understate what the least protected hospital spent),
    `weight_key` summed, any other metric (the synthetic records' count) averaged by it. The
    outbound guard lets hospitals send no loss or timing (exact numbers on patients)."""
    merged: dict[str, float] = {}
    total = sum(float(next(iter(r.metric_records.values()))[weight_key]) for r in records)
    for record in records:
        metrics = next(iter(record.metric_records.values()))
        weight = float(metrics[weight_key]) / total if total else 0.0
        for key, value in metrics.items():
            value = float(value)
            if key in ("epsilon", "noise-multiplier"):
                merged[key] = max(merged.get(key, -math.inf), value)
            elif key == weight_key:
                merged[key] = merged.get(key, 0.0) + value
            else:
                merged[key] = merged.get(key, 0.0) + weight * value
    return MetricRecord(merged)


def _flower_strategy(settings: RunSettings, per_round: int) -> tuple[type[FedAvg], dict[str, Any]]:
    """Flower's strategy class for `settings.strategy` and its own arguments."""
    if settings.strategy == "fedprox":
        return FedProx, {"proximal_mu": settings.proximal_mu}
    if settings.strategy == "fedadam":
        return FedAdam, {"eta": settings.server_lr, "eta_l": settings.lr}
    if settings.strategy == "fedmedian":
        return FedMedian, {}
    if settings.strategy == "fedtrimmedavg":
        _warn_if_nothing_trimmed(settings.trim_beta, per_round)
        return FedTrimmedAvg, {"beta": settings.trim_beta}
    if settings.strategy in ("krum", "multikrum"):
        return _krum(settings, per_round)
    return FedAvg, {}


def _krum(settings: RunSettings, per_round: int) -> tuple[type[FedAvg], dict[str, Any]]:
    """Krum or Multi-Krum against `settings.malicious_nodes` hospitals."""
    if per_round < 2 * settings.malicious_nodes + 3:
        logger.warning(
            "%s tolerates %d malicious hospitals only with at least %d per round, not %d",
            settings.strategy,
            settings.malicious_nodes,
            2 * settings.malicious_nodes + 3,
            per_round,
        )
    if settings.strategy == "krum":
        return Krum, {"num_malicious_nodes": settings.malicious_nodes}
    # Multi-Krum's usual choice (El Mhamdi et al. 2018): average the n - f best-scored updates
    return MultiKrum, {
        "num_malicious_nodes": settings.malicious_nodes,
        "num_nodes_to_select": max(1, per_round - settings.malicious_nodes),
    }


def _warn_if_nothing_trimmed(trim_beta: float, per_round: int) -> None:
    if int(trim_beta * per_round) == 0:
        logger.warning(
            "fedtrimmedavg with trim-beta %g and %d hospitals per round trims nothing: it is an "
            "unweighted mean; raise trim-beta to %.2f or more to cut one hospital at each end",
            trim_beta,
            per_round,
            math.ceil(100 / max(per_round, 1)) / 100,
        )


def _per_round(settings: RunSettings, hospitals: int) -> int:
    """How many hospitals Flower samples per round (FedAvg.configure_train's rule)."""
    return min(hospitals, max(int(hospitals * settings.fraction_train), min(settings.min_nodes, hospitals)))

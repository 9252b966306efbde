"""One federated run on the coordinator: ask who is there, train for N rounds with a Flower
strategy, evaluate centrally, checkpoint every round, and return what happened."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid

from genofed.common.data.layout import PANEL, TEST
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.model.network import ModelConfig, build_model, set_trainable, trainable_names
from genofed.common.util.progress import Progress
from genofed.server.checkpoint import Checkpoint, latest_checkpoint, save_checkpoint
from genofed.server.evaluation import TestCohort
from genofed.server.pretraining.model_file import check_compatible, describe, disease_start, load_pretrained
from genofed.server.settings import RunSettings
from genofed.server.strategies import RoundLog, evaluation_rounds, make_strategy

logger = logging.getLogger(__name__)


@dataclass
class SiteInfo:
    name: str
    sizes: dict[str, int]


@dataclass
class FederationResult:
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
    trainable_parameters: int = 0  # what each hospital trains (privately) per round


def run_federation(grid: Grid, settings: RunSettings, progress: Progress | None = None) -> FederationResult:
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    out_dir = Path(settings.out_dir)
    checkpoints = out_dir / "checkpoints"
    panel = VariantPanel.load(_panel_path(settings))
    model_config, initial, pretrained = starting_model(settings, panel)
    test = load_test_cohort(settings, panel)

    resumed = latest_checkpoint(checkpoints) if settings.resume else None
    if settings.resume and resumed is None:
        say(f"no checkpoint in {checkpoints}: starting from round 0")
    if resumed is not None:
        _check_resumable(resumed, model_config, settings, checkpoints)
    start_round = resumed.round if resumed else 0
    plan_id = resumed.plan_id if resumed else (settings.plan_id or uuid.uuid4().hex)
    state = resumed.state_dict if resumed else initial
    history: list[dict[str, Any]] = list(resumed.history) if resumed else []

    sites, asked = describe_sites(
        grid, settings.min_nodes, expected=settings.expected_nodes, grace=settings.wait_seconds
    )
    log = RoundLog(
        site_of_node={node: s.name for node, s in sites.items()},
        taking_part=asked,
        declared_sizes={node: dict(s.sizes) for node, s in sites.items()},
    )
    if resumed:
        for name in _LOGGED:
            setattr(log, name, resumed.log.get(name, {}))
    if pretrained:
        say(
            f"starting from pretrained model {settings.pretrained} ({pretrained['content_hash'][:12]}), finetune={settings.finetune}"
        )
    say(
        f"{len(sites)} hospitals: "
        + ", ".join(f"{s.name} ({s.sizes['train']}+{s.sizes['validation']})" for s in sites.values())
    )
    model = build_model(model_config, seed=0)
    trained = set(trainable_names(model, settings.finetune))
    strategy = make_strategy(
        settings,
        log,
        round_offset=start_round,
        frozen=frozenset(k for k in model.state_dict() if k not in trained),
    )
    if resumed:
        for key, value in resumed.strategy_state.items():
            setattr(strategy, key, value)

    model_json = json.dumps(model_config.to_dict())
    train_config = ConfigRecord(
        {
            "num-rounds": settings.rounds,
            "plan-id": plan_id,
            "local-epochs": settings.local_epochs,
            "batch-size": settings.batch_size,
            "lr": settings.lr,
            "clip": settings.clip,
            "epsilon": settings.epsilon if settings.private else math.inf,
            "delta": settings.delta,
            "model": model_json,
            "finetune": settings.finetune,
            # only when set: the round's input digest covers this config, and plain runs keep their draws
            **({"augment": settings.augment} if settings.augment else {}),
            # the sites pay for these evaluations when they plan the run's privacy
            "site-evaluations": settings.site_evaluations,
        }
    )
    evaluate_config = ConfigRecord(
        {
            "model": model_json,
            "plan-id": plan_id,
            "delta": settings.delta,
            "epsilon": settings.epsilon if settings.private else math.inf,
        }
    )
    strategy.evaluation_rounds = evaluation_rounds(settings.rounds, settings.site_evaluations)
    secagg_bytes = 0  # measured upload per hospital and round under SecAgg+ (masked vectors, keys, shares)
    round_started = [time.perf_counter()]
    # The global model after the last round (Flower's Result has none if all refused) and its
    # test metrics, so the final model is not evaluated twice.
    latest: list[Any] = [state, None]

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        real = server_round + start_round
        if server_round == 0 and resumed:
            return None  # round `start_round` was evaluated and checkpointed before the restart
        weights = arrays.to_torch_state_dict()
        metrics = test.evaluate(model_config, weights) if test else None
        latest[:] = [weights, metrics]
        record = _round_record(real, metrics or {}, log, time.perf_counter() - round_started[0])
        history.append(record)
        strategy_state = {
            k: getattr(strategy, k) for k in ("m_t", "v_t") if hasattr(strategy, k)
        }  # FedAdam's moments
        save_checkpoint(
            checkpoints,
            Checkpoint(
                real,
                weights,
                model_config.to_dict(),
                plan_id,
                list(history),
                {name: getattr(log, name) for name in _LOGGED},
                strategy_state,
                settings.to_config(),
            ),
        )
        say(_progress_line(record, settings.rounds))
        round_started[0] = time.perf_counter()
        return MetricRecord(
            {k: v for k, v in record.items() if isinstance(v, (int, float)) and v is not None}
        )

    if start_round >= settings.rounds:
        say(f"the checkpoint already closes round {start_round} of {settings.rounds}: nothing left to train")
    elif settings.secagg:  # the same rounds on Flower's SecAgg+: the coordinator sees sums only
        from genofed.server.secagg import run_secagg_rounds

        secagg_bytes = run_secagg_rounds(
            grid,
            state=state,
            num_rounds=settings.rounds - start_round,
            round_offset=start_round,
            seed=settings.seed,
            train_config=train_config,
            evaluate_config=evaluate_config,
            evaluate_fn=evaluate,
            tracked=strategy,
            max_weight=max(s.sizes["train"] for s in sites.values()),
            min_nodes=settings.min_nodes,
            fraction_train=settings.fraction_train,
        ).bytes_per_client_round()
    else:
        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(state),
            num_rounds=settings.rounds - start_round,
            train_config=train_config,
            evaluate_config=evaluate_config,
            evaluate_fn=evaluate,
        )
    final, final_metrics = latest
    if final_metrics is None and test:  # no round ran in this process (a resume with nothing left)
        final_metrics = test.evaluate(model_config, final)

    return FederationResult(
        rounds=history,
        state_dict=final,
        model_config=model_config,
        sites={s.name: dict(s.sizes) for s in sites.values()},
        log=log,
        plan_id=plan_id,
        wall_seconds=time.perf_counter() - started,
        bytes_per_client_round=secagg_bytes or ArrayRecord(final).count_bytes(),
        test_metrics=final_metrics,
        epsilon=_epsilon_by_site(log),
        pretrained=pretrained,
        trainable_parameters=set_trainable(model, settings.finetune),
    )


def starting_model(
    settings: RunSettings, panel: VariantPanel
) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any] | None]:
    """(config, weights, description) of the round-0 model: a fresh one, or the pretrained one.

    A pretrained model must be intact (content hash), be the approved one when
    `pretrained-hash` is set, and fit this federation's panel; anything else is refused before
    a single hospital is contacted.
    """
    if not settings.pretrained:
        config = ModelConfig(n_variants=len(panel))
        return config, build_model(config, seed=settings.seed).state_dict(), None
    model = load_pretrained(settings.pretrained, expected_hash=settings.pretrained_hash)
    check_compatible(model, panel, source=settings.pretrained)
    config, weights = disease_start(model, seed=settings.seed)
    return config, weights, describe(model)


#: Settings a resumed run may change: where outputs go and how progress is shown; and the plan
#: id, which a resumed run takes from its checkpoint whatever the settings say.
_RESUMABLE_CHANGES = frozenset(
    {"out-dir", "resume", "quiet", "ledger-dir", "plan-id", "expected-nodes", "wait-seconds"}
)


#: What a checkpoint keeps of the round log (by RoundLog field), so a resumed run reports every round.
_LOGGED = ("train", "evaluate", "refused", "capped", "update_norms", "refused_epsilon")

#: Settings added after checkpoints were first written, with the value older runs had in effect.
_SETTINGS_ADDED_SINCE = {"secagg": False, "trim-beta": 0.2, "malicious-nodes": 1, "site-evaluations": 0}


def _check_resumable(
    checkpoint: Checkpoint, model_config: ModelConfig, settings: RunSettings, folder: Path
) -> None:
    """A resumed run must compute what the interrupted one would have, so nothing else may change."""
    if checkpoint.model_config != model_config.to_dict():
        raise GenofedError(f"the checkpoint in {folder} is for another model/panel; start a new run folder")
    # checkpoints written before a setting existed ran with its default
    before, now = {**_SETTINGS_ADDED_SINCE, **checkpoint.settings}, settings.to_config()
    changed = sorted(
        k for k in set(before) | set(now) if k not in _RESUMABLE_CHANGES and before.get(k) != now.get(k)
    )
    if changed:
        details = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise GenofedError(f"--resume needs the interrupted run's settings; changed: {details}")


def describe_sites(
    grid: Grid, min_nodes: int, timeout: float = 600.0, *, expected: int = 0, grace: float = 120.0
) -> tuple[dict[int, SiteInfo], set[int]]:
    """Wait for `min_nodes` hospitals (and up to `grace` seconds for all `expected` ones), then
    ask each its name and (aggregate) cohort sizes.

    Returns the hospitals that can take part, and every node asked: only those are sent rounds
    (one connecting later joins the next run); one whose data failed its checks is still asked
    every round, so that its refusal and reason are on record."""
    started = time.monotonic()
    while len(nodes := list(grid.get_node_ids())) < max(min_nodes, expected):
        waited = time.monotonic() - started
        if len(nodes) >= min_nodes and waited > grace:
            logger.warning(
                "%d of %d enrolled hospitals connected after %.0f s: starting without the others",
                len(nodes),
                expected,
                waited,
            )
            break
        if waited > timeout:
            raise GenofedError(
                f"only {len(nodes)} hospital(s) connected after {timeout:.0f} s; {min_nodes} needed"
            )
        time.sleep(1.0)
    queries = [Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=node) for node in nodes]
    sites, unavailable = {}, {}
    for reply in grid.send_and_receive(queries, timeout=timeout):
        if reply.has_error():  # e.g. its data failed its checks: the others go on without it
            unavailable[reply.metadata.src_node_id] = reply.error.reason
            continue
        name = str(reply.content["site"]["name"])
        sites[reply.metadata.src_node_id] = SiteInfo(
            name, {k: int(v) for k, v in reply.content["sizes"].items()}
        )
    for node, reason in unavailable.items():
        logger.warning("hospital node %s cannot take part: %s", node, reason)
    names = [site.name for site in sites.values()]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:  # per-site epsilon and participation are reported by name
        raise GenofedError(
            f"several hospitals call themselves {', '.join(duplicated)}: give each a distinct site-name"
        )
    if len(sites) < min_nodes:
        raise GenofedError(
            f"only {len(sites)} hospital(s) can take part, {min_nodes} needed; "
            + "; ".join(f"node {n}: {r}" for n, r in unavailable.items())
        )
    return dict(sorted(sites.items(), key=lambda item: item[1].name)), set(nodes)


def _round_record(real: int, metrics: dict[str, Any], log: RoundLog, seconds: float) -> dict[str, Any]:
    train = log.train.get(real, {})
    epsilons = [m["epsilon"] for m in train.values() if not math.isinf(m["epsilon"])]
    return {
        "round": real,
        "test_auc": metrics.get("auc"),
        "test_accuracy": metrics.get("accuracy"),
        "train_loss": None,  # hospitals do not release a loss on their patients (it is an exact query)
        "seconds": seconds if real else 0.0,
        "participants": sorted(train),
        "refused": sorted(log.refused.get(real, {})),
        "epsilon_max": max(epsilons) if epsilons else None,
    }


def _progress_line(record: dict[str, Any], rounds: int) -> str:
    auc = "n/a" if record["test_auc"] is None else f"{record['test_auc']:.3f}"
    parts = [f"round {record['round']}/{rounds}", f"test AUC {auc}"]
    if record["epsilon_max"] is not None:
        parts.append(f"epsilon <= {record['epsilon_max']:.2f}")
    if record["refused"]:
        parts.append(f"refused: {', '.join(record['refused'])}")
    return ", ".join(parts)


def _epsilon_by_site(log: RoundLog) -> dict[str, float]:
    """Each site's cumulative epsilon as it last reported it (a round's evaluation follows its training)."""
    latest: dict[str, float] = {}
    replies = [((r, 0), sites) for r, sites in log.train.items()] + [
        ((r, 1), sites) for r, sites in log.evaluate.items()
    ]
    replies += [
        ((r, 0), {site: {"epsilon": eps} for site, eps in sites.items()})
        for r, sites in log.refused_epsilon.items()
    ]
    for _order, sites in sorted(replies, key=lambda item: item[0]):
        for site, metrics in sites.items():
            if "epsilon" in metrics:
                latest[site] = metrics["epsilon"]
    return latest


def _panel_path(settings: RunSettings) -> Path:
    if settings.panel:
        return Path(settings.panel)
    if settings.data_dir:
        return Path(settings.data_dir) / PANEL
    raise GenofedError("no variant panel: set panel (deployment) or data-dir (simulation)")


def load_test_cohort(settings: RunSettings, panel: VariantPanel) -> TestCohort | None:
    """The held-out test cohort: test-dir, else data-dir/test when it exists; None without one."""
    folder = (
        Path(settings.test_dir)
        if settings.test_dir
        else (Path(settings.data_dir) / TEST if settings.data_dir else None)
    )
    if folder is None or not folder.is_dir():
        return None
    return TestCohort.load(folder, panel)

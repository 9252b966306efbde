"""A run that every hospital refuses stops after the first round that makes it certain.

A hospital's own refusal (error code 4001: its privacy budget cannot cover the plan, a wrong
setting, require-secagg on a plain run, data that fail validation) repeats every round, since a
run's plan, settings and data do not change within it. Such a run used to ask round after round
until its last (with 100,000 rounds: hours) and only then fail with `NothingTrained`. Now the
round end stops it (`EveryHospitalRefused`, a `NothingTrained`) as soon as every hospital taking
part has refused in this launch and none has trained in any round of the run. A hospital that
did not reply in time, failed inside (4002) or whose update the coordinator's screen refused may
answer next round: it does not count.

The rounds run on Flower's own `Strategy.start` (plain) and `DefaultWorkflow` (SecAgg+), with
genofed's `Tracked`, `RoundEnd` and a stand-in grid whose hospitals answer as each test says.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch
from flwr.app import ArrayRecord, Error, Message, MessageType, MetricRecord, RecordDict

from genofed.client.app import FAILED, REFUSED, REFUSED_THIS_ROUND
from genofed.server import round_end, secagg
from genofed.server.federation import evaluate_config, train_config
from genofed.server.resume import RunStart
from genofed.server.round_log import (
    SITE_REFUSED,
    EveryHospitalRefused,
    NothingTrained,
    RoundLog,
    too_few_left,
)
from genofed.server.settings import RunSettings
from genofed.server.strategies import make_strategy
from genofed.server.tracking import Tracked

NAMES = {1: "rostov", 2: "astrakhan", 3: "elista"}
BUDGET = "privacy budget exhausted: the plan needs epsilon 8, 0.5 is left. Nothing was trained or sent."
WRONG_SETTING = "the run's clip 5 is above this site's max-clip 1"
WEIGHTS = {"w": torch.zeros(4)}

Answer = Callable[[Message, int], Message | None]  # a hospital's reply to a round (None: silence)


pytestmark = pytest.mark.usefixtures("flower_task_identity")


# --- the stand-in hospitals ----------------------------------------------------------------------


def refuses(reason: str, code: int = REFUSED) -> Answer:
    return lambda message, _round: Message(error=Error(code=code, reason=reason), reply_to=message)


def trains(message: Message, _round: int) -> Message:
    """A training reply: the model sent, moved by a small step, as an honest non-private site's."""
    sent = next(iter(message.content.array_records.values())).to_torch_state_dict()
    moved = {k: v + 1e-3 for k, v in sent.items()}
    metrics = {"num-examples": 80, "epsilon": math.inf, "noise-multiplier": 0.0}
    return Message(
        RecordDict({"arrays": ArrayRecord(moved), "metrics": MetricRecord(metrics)}), reply_to=message
    )


def silent(_message: Message, _round: int) -> None:
    return None


def from_round(first: int, then: Answer, before: Answer) -> Answer:
    """`before` until round `first`, `then` from it on."""
    return lambda message, real: (then if real >= first else before)(message, real)


class Grid:
    """Flower's grid as the strategy sees it: each hospital answers its message (or not) at once;
    pushing gives each message an id, as the SuperLink does. Notes the nodes each training round
    asked."""

    run = SimpleNamespace(run_id=1)  # what Flower's legacy workflow (SecAgg+) reads of a grid

    def __init__(self, answers: dict[int, Answer]) -> None:
        self.answers = answers
        self.asked: dict[int, set[int]] = {}  # training round -> the nodes asked
        self.evaluated: dict[int, set[int]] = {}  # evaluation round -> the nodes asked

    def get_node_ids(self) -> list[int]:
        return list(self.answers)

    def send_and_receive(self, messages, *, timeout=None) -> list[Message]:
        replies = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            node = message.metadata.dst_node_id
            real = _round_of(message)
            if message.metadata.message_type == MessageType.TRAIN:
                self.asked.setdefault(real, set()).add(node)
            if message.metadata.message_type == MessageType.EVALUATE:
                self.evaluated.setdefault(real, set()).add(node)
            reply = self.answers[node](message, real)
            if reply is not None:
                replies.append(reply)
        return replies


def _round_of(message: Message) -> int:
    """The run's round a message belongs to: the train config's `server-round`, else its group."""
    for record in message.content.config_records.values():
        if "server-round" in record:
            return int(record["server-round"])
    return int(message.metadata.group_id or 0)


# --- the run ----------------------------------------------------------------------------------


def settings_for(tmp_path, **changes) -> RunSettings:
    """A non-private run with its local training spelled out (the coordinator's screen bounds each
    update by it) and no evaluation by the hospitals."""
    values = dict(
        out_dir=str(tmp_path / "run"),
        rounds=5,
        epsilon=math.inf,
        lr=0.1,
        clip=1.0,
        local_epochs=1,
        batch_size=16,
        site_evaluations=0,
        round_timeout=1.0,
    )
    return RunSettings(**{**values, **changes})


def log_of(names: dict[int, str] = NAMES) -> RoundLog:
    sizes = {node: {"train": 80, "validation": 20, "synthetic": 0} for node in names}
    return RoundLog(site_of_node=dict(names), taking_part=set(names), declared_sizes=sizes)


def after_round(
    monkeypatch,
    settings: RunSettings,
    log: RoundLog,
    strategy: Tracked,
    start: RunStart,
    *,
    stop: bool = True,
) -> tuple[round_end.RoundEnd, list[int], list[str]]:
    """The run's round end, its checkpoints noted (their rounds) instead of written."""
    saved: list[int] = []
    monkeypatch.setattr(
        round_end, "save_checkpoint", lambda folder, checkpoint: saved.append(checkpoint.round)
    )
    said: list[str] = []
    end = round_end.RoundEnd(
        settings,
        SimpleNamespace(to_dict=dict),  # type: ignore[arg-type]
        start,
        log,
        strategy,
        None,
        said.append,
        stop_when_every_hospital_refuses=stop,
    )
    return end, saved, said


def plain_run(
    monkeypatch,
    tmp_path,
    grid: Grid,
    *,
    log: RoundLog | None = None,
    start_round: int = 0,
    stop: bool = True,
    **changes,
) -> tuple[RoundLog, list[int], list[str]]:
    """The run's plain rounds on `grid`, on Flower's `Strategy.start`, from round `start_round`."""
    settings = settings_for(tmp_path, **changes)
    log = log or log_of()
    strategy = make_strategy(settings, log, round_offset=start_round)
    start = RunStart(start_round, "plan", dict(WEIGHTS), [])
    end, saved, said = after_round(monkeypatch, settings, log, strategy, start, stop=stop)
    strategy.start(
        grid=grid,  # type: ignore[arg-type]
        initial_arrays=ArrayRecord(dict(WEIGHTS)),
        num_rounds=settings.rounds - start_round,
        train_config=train_config(settings, "plan", "{}"),
        evaluate_config=evaluate_config(settings, "plan", "{}"),
        evaluate_fn=end,
        timeout=settings.round_timeout,
    )
    return log, saved, said


# --- the refusal the stop counts ---------------------------------------------------------------


def test_the_servers_code_of_a_sites_own_refusal_is_the_clients():
    assert SITE_REFUSED == REFUSED


# a failure inside, a refusal of that round's draws only, the screen, the SuperLink
@pytest.mark.parametrize("code", [FAILED, REFUSED_THIS_ROUND, 4010, 0])
def test_only_a_sites_own_refusal_is_kept_as_one(code):
    log = log_of()
    for site in NAMES.values():
        log.note_training_error(site, code, "something else")
    assert log.own_refusals == {} and too_few_left(log, needed=1) is None
    for site in NAMES.values():
        log.note_training_error(site, REFUSED, BUDGET)
    assert too_few_left(log, needed=1) == {site: BUDGET for site in NAMES.values()}


def test_a_refusal_of_one_rounds_draws_has_its_own_code_at_the_site():
    """SecAgg+'s clipping range refuses an update whose noise drew a weight outside it
    (`client/secagg.py`): the next round's draw may fit, so the site's reply does not carry the
    code of a refusal that repeats."""
    from genofed.client.app import _guarded
    from genofed.common.errors import GenofedError, RoundRefusal

    asked = Message(RecordDict(), dst_node_id=1, message_type=MessageType.TRAIN)

    def raising(error: Exception) -> Callable[[], RecordDict]:
        def handler() -> RecordDict:
            raise error

        return handler

    assert _guarded(asked, raising(RoundRefusal("outside the range"))).error.code == REFUSED_THIS_ROUND
    assert _guarded(asked, raising(GenofedError("budget"))).error.code == REFUSED


def test_a_stop_is_a_nothing_trained():
    assert issubclass(EveryHospitalRefused, NothingTrained)


# --- plain rounds --------------------------------------------------------------------------------


def test_every_hospital_refusing_round_1_stops_the_run_naming_them_by_reason(monkeypatch, tmp_path):
    grid = Grid({1: refuses(BUDGET), 2: refuses(WRONG_SETTING), 3: refuses(BUDGET)})
    with pytest.raises(EveryHospitalRefused) as stopped:
        plain_run(monkeypatch, tmp_path, grid, rounds=1000)
    message = str(stopped.value)
    assert message.startswith("round 1 of 1000: every hospital refused the run's plan")
    assert "a reason that repeats in every round of the run" in message
    named = f"The hospitals refused: astrakhan: {WRONG_SETTING}; elista, rostov: {BUDGET} It keeps"
    assert named in message and "named cause" in message and "start the run again" in message
    assert list(grid.asked) == [1]  # no second round asked


def test_a_deployed_runs_stop_says_what_the_coordinator_operator_can_do(monkeypatch, tmp_path):
    """A new-user walkthrough's federation, every hospital's budget spent: `coordinator start` ended
    with "start the run again: with resume=true to continue this out-dir ..., or in another
    out-dir", `flwr run`'s terms, which a coordinator operator has neither of."""
    grid = Grid({1: refuses(BUDGET), 2: refuses(BUDGET), 3: refuses(BUDGET)})
    folder = tmp_path / "fed"
    with pytest.raises(EveryHospitalRefused) as stopped:
        plain_run(monkeypatch, tmp_path, grid, out_dir=str(folder / "run"), expected_nodes=3)
    message = str(stopped.value)
    assert "resume=true" not in message and "out-dir" not in message
    assert f"then `genofed coordinator start {folder}` again continues this run from its last checkpoint" in (
        message
    )
    assert "--change-budget REASON" in message
    # other settings: a second study on the same federation, not a new CA and every hospital enrolled again
    assert f"`genofed coordinator init NEW_DIR --same-federation-as {folder} ...`" in message
    # a run on Flower's own (`flwr run`) keeps its terms
    with pytest.raises(EveryHospitalRefused) as stopped:
        plain_run(monkeypatch, tmp_path, grid)
    assert "with resume=true to continue this out-dir" in str(stopped.value)


def test_the_stop_comes_after_round_1s_checkpoint_and_progress_line(monkeypatch, tmp_path):
    settings = settings_for(tmp_path)
    log = log_of()
    strategy = make_strategy(settings, log)
    start = RunStart(0, "plan", dict(WEIGHTS), [])
    end, saved, said = after_round(monkeypatch, settings, log, strategy, start)
    with pytest.raises(EveryHospitalRefused):
        strategy.start(
            grid=Grid(dict.fromkeys(NAMES, refuses(BUDGET))),  # type: ignore[arg-type]
            initial_arrays=ArrayRecord(dict(WEIGHTS)),
            num_rounds=settings.rounds,
            train_config=train_config(settings, "plan", "{}"),
            evaluate_fn=end,
        )
    assert saved == [0, 1]  # round 1's checkpoint keeps the record of the refusals
    assert said[-1] == "round 1/5, test AUC n/a, refused: astrakhan, elista, rostov"


def test_a_hospital_that_did_not_reply_may_still_train_so_the_run_goes_on(monkeypatch, tmp_path):
    grid = Grid({1: refuses(BUDGET), 2: refuses(BUDGET), 3: silent})
    log, saved, _said = plain_run(monkeypatch, tmp_path, grid)
    assert sorted(grid.asked) == [1, 2, 3, 4, 5] and saved == [0, 1, 2, 3, 4, 5]
    assert "round-timeout" in log.refused[1]["elista"] and "elista" not in log.own_refusals


def test_a_failure_inside_a_hospital_is_not_a_refusal_that_repeats(monkeypatch, tmp_path):
    grid = Grid({1: refuses(BUDGET), 2: refuses(BUDGET), 3: refuses("internal error", FAILED)})
    plain_run(monkeypatch, tmp_path, grid)
    assert sorted(grid.asked) == [1, 2, 3, 4, 5]


def test_an_update_the_screen_refused_is_not_a_refusal_that_repeats(monkeypatch, tmp_path):
    def not_finite(message: Message, real: int) -> Message:
        reply = trains(message, real)
        reply.content["arrays"] = ArrayRecord({"w": torch.full((4,), math.nan)})
        return reply

    grid = Grid({1: refuses(BUDGET), 2: refuses(BUDGET), 3: not_finite})
    log, _saved, _said = plain_run(monkeypatch, tmp_path, grid)
    assert "refused by the coordinator" in log.refused[1]["elista"]
    assert sorted(grid.asked) == [1, 2, 3, 4, 5] and not any(log.train.values())


def test_a_hospital_that_trained_in_an_earlier_round_means_no_stop(monkeypatch, tmp_path):
    """elista trains round 1, then its budget runs out: the run has a model, and goes on."""
    grid = Grid({1: refuses(BUDGET), 2: refuses(BUDGET), 3: from_round(2, refuses(BUDGET), trains)})
    log, _saved, _said = plain_run(monkeypatch, tmp_path, grid)
    assert sorted(log.train[1]) == ["elista"] and sorted(grid.asked) == [1, 2, 3, 4, 5]
    assert set(log.own_refusals) == set(NAMES.values())


def test_a_resumed_runs_restored_training_means_no_stop(monkeypatch, tmp_path):
    """Rounds 1-2 trained before the restart: every hospital refusing round 3 does not stop it."""
    log = log_of()
    log.train = {1: {"rostov": {"num-examples": 80.0}}, 2: {}}
    grid = Grid(dict.fromkeys(NAMES, refuses(BUDGET)))
    plain_run(monkeypatch, tmp_path, grid, log=log, start_round=2)
    assert sorted(grid.asked) == [3, 4, 5]


def test_with_fraction_sampling_the_run_stops_once_every_hospital_has_refused(monkeypatch, tmp_path):
    """One hospital asked per round: the run stops in the first round by which all three have
    been asked and refused, not before."""
    grid = Grid(dict.fromkeys(NAMES, refuses(BUDGET)))
    with pytest.raises(EveryHospitalRefused) as stopped:
        plain_run(monkeypatch, tmp_path, grid, rounds=50, fraction_train=0.34, min_nodes=1)
    assert all(len(nodes) == 1 for nodes in grid.asked.values())
    seen: set[int] = set()
    for real in sorted(grid.asked):
        seen |= grid.asked[real]
        if seen == set(NAMES):
            break
    assert real >= 3  # one hospital asked a round: at least three rounds
    assert max(grid.asked) == real  # no round asked after the one that made it certain
    assert str(stopped.value).startswith(f"round {real} of 50: every hospital refused"), grid.asked
    assert f"The hospitals refused: astrakhan, elista, rostov: {BUDGET} It keeps" in str(stopped.value)


def test_a_run_recorded_whole_is_not_stopped(monkeypatch, tmp_path):
    """`genofed simulate(require_training=False)`: the round end does not stop the run."""
    grid = Grid(dict.fromkeys(NAMES, refuses(BUDGET)))
    log, _saved, _said = plain_run(monkeypatch, tmp_path, grid, stop=False)
    assert sorted(grid.asked) == [1, 2, 3, 4, 5] and sorted(log.refused) == [1, 2, 3, 4, 5]


def test_the_last_round_is_left_to_the_end_of_run_check(monkeypatch, tmp_path):
    """A one-round run ends as before: `genofed.server.app` fails it with `NothingTrained`."""
    grid = Grid(dict.fromkeys(NAMES, refuses(BUDGET)))
    _log, saved, _said = plain_run(monkeypatch, tmp_path, grid, rounds=1)
    assert list(grid.asked) == [1] and saved == [0, 1]


def test_a_model_no_hospital_trained_is_not_evaluated_at_the_hospitals(monkeypatch, tmp_path):
    """The evaluation would cost each hospital privacy for a model the run will not deliver (an
    operator's walkthrough: 0.48 of a hospital's budget); once a round trains, the plan's
    evaluations go out as before."""
    grid = Grid(dict.fromkeys(NAMES, refuses(BUDGET)))
    plain_run(monkeypatch, tmp_path, grid, rounds=2, site_evaluations=2, stop=False)
    assert sorted(grid.asked) == [1, 2] and grid.evaluated == {}
    grid = Grid({1: trains, 2: refuses(BUDGET), 3: refuses(BUDGET)})
    plain_run(monkeypatch, tmp_path, grid, rounds=2, site_evaluations=2, out_dir=str(tmp_path / "b"))
    assert grid.evaluated == {1: set(NAMES), 2: set(NAMES)}


# --- SecAgg+ rounds ------------------------------------------------------------------------------


def secagg_run(monkeypatch, tmp_path, answers: dict[int, Answer]) -> tuple[Grid, RoundLog, list[int]]:
    settings = settings_for(tmp_path, secagg=True)
    log = log_of()
    tracked = make_strategy(settings, log)
    end, saved, _said = after_round(
        monkeypatch, settings, log, tracked, RunStart(0, "plan", dict(WEIGHTS), [])
    )
    grid = Grid(answers)
    secagg.run_secagg_rounds(
        grid,  # type: ignore[arg-type]
        state=dict(WEIGHTS),
        num_rounds=settings.rounds,
        round_offset=0,
        seed=0,
        train_config=train_config(settings, "plan", "{}"),
        evaluate_config=evaluate_config(settings, "plan", "{}"),
        evaluate_fn=end,
        tracked=tracked,
        max_weight=80,
        min_nodes=2,
        fraction_train=1.0,
        timeout=settings.round_timeout,
    )
    return grid, log, saved


def test_every_hospital_refusing_a_secagg_round_stops_the_run(monkeypatch, tmp_path):
    answers = {1: refuses(BUDGET), 2: refuses(WRONG_SETTING), 3: refuses(BUDGET)}
    with pytest.raises(EveryHospitalRefused, match=r"^round 1 of 5: every hospital refused") as stopped:
        secagg_run(monkeypatch, tmp_path, answers)
    assert (
        f"astrakhan: {WRONG_SETTING}; elista, rostov: {BUDGET} It keeps its checkpoints: fix the named cause"
        in str(stopped.value)
    )


def test_a_secagg_round_halted_by_silent_hospitals_goes_on(monkeypatch, tmp_path):
    """Two of three did not answer: they may next round, and with the third's refusal two are
    left, the round's threshold."""
    answers = {1: refuses(BUDGET), 2: silent, 3: silent}
    grid, log, saved = secagg_run(monkeypatch, tmp_path, answers)
    assert saved == [0, 1, 2, 3, 4, 5] and set(log.own_refusals) == {"rostov"}


def test_a_secagg_run_stops_when_too_few_are_left_to_complete_a_round(monkeypatch, tmp_path):
    """Two of three refuse every round for reasons of their own: the one left can never complete a
    SecAgg+ round (it needs 2), so the run stops after round 1 instead of charging it for rounds
    whose sum can never be unmasked (an operator's walkthrough: three rounds and an evaluation)."""
    answers = {1: refuses(BUDGET), 2: refuses(WRONG_SETTING), 3: silent}
    with pytest.raises(EveryHospitalRefused) as stopped:
        secagg_run(monkeypatch, tmp_path, answers)
    message = str(stopped.value)
    assert message.startswith(
        "round 1 of 5: 2 of the run's 3 hospitals refused its plan, and a SecAgg+ round needs at least 2"
    ), message
    assert f"The hospitals refused: astrakhan: {WRONG_SETTING}; rostov: {BUDGET}" in message
    assert "elista" not in message.split("The hospitals refused:")[1]


def test_the_hospitals_a_secagg_round_needs():
    assert [secagg.secagg_needed(n, 1.0) for n in (2, 3, 4, 5, 8)] == [2, 2, 3, 3, 5]
    assert secagg.secagg_needed(8, 0.5) == 2  # a smaller sample has a lower threshold

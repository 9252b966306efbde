"""A SecAgg+ run whose earlier rounds trained ends early, with its model, once no later round can
complete.

A SecAgg+ round needs at least its reconstruction threshold of hospitals before their sum can be
unmasked. When hospitals refuse the run's plan for reasons of their own (their budget or cap
reached, their settings), the refusals repeat every round; once fewer are left than a round
needs, every later round halts, and each hospital still answering pays its privacy for a masked
update nobody can use. A run in which nobody had trained already stopped (`EveryHospitalRefused`);
one whose earlier rounds trained asked until its last round. Now it ends after the round that made
it certain, delivers the model of its last completed round, and says why in results.json, the
report and `coordinator status`. A plain run asks on: a refusing hospital spends nothing there,
and the one left trains alone.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from flwr.app import Error, Message, MessageType
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from helpers.instant_superlink import InstantSuperLink, introduction
from helpers.secagg_hospitals import SecAggHospitals

from genofed.client.app import REFUSED
from genofed.server import federation
from genofed.server.app import AdmittedGrid
from genofed.server.report.facts import run_facts_section
from genofed.server.results import federation_results
from genofed.server.round_log import RoundLog, too_few_left
from genofed.server.service.launch import _say_who_took_part
from genofed.server.service.status import unrecorded_evaluations
from genofed.server.settings import RunSettings

NAMES = {11: "rostov", 12: "astrakhan", 13: "elista"}
BUDGET = "privacy budget exhausted: the plan needs epsilon 8, 0.5 is left. Nothing was trained or sent."
WRONG_SETTING = "the run's clip 5 is above this site's max-clip 1"

pytestmark = pytest.mark.usefixtures("flower_task_identity")


class Hospitals:
    """Three hospitals that introduce themselves and train through SecAgg+; `refusing` names,
    per node, the round from which it refuses to train, and why. As a deployed hospital does, it
    takes part in a round's key stages and refuses when asked for its masked update, the stage
    that trains (and spends privacy)."""

    def __init__(self, refusing: dict[int, tuple[int, str]]) -> None:
        self.refusing = refusing
        self.secagg = SecAggHospitals(NAMES)
        self.link = InstantSuperLink(self, NAMES)
        self.asked: dict[int, set[int]] = {}  # training round -> the nodes sent its first stage

    def __call__(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        if message.metadata.message_type == MessageType.QUERY:
            return introduction(message, NAMES[node])
        real = int(message.metadata.group_id)
        self.asked.setdefault(real, set()).add(node)
        first, reason = self.refusing.get(node, (math.inf, ""))
        configs = message.content.config_records.get(RECORD_KEY_CONFIGS)
        stage = configs.get(Key.STAGE) if configs is not None else None
        if stage == Stage.COLLECT_MASKED_VECTORS and real >= first:
            return Message(error=Error(code=REFUSED, reason=reason), reply_to=message)
        return self.secagg(message)


def _run(
    simulated_cohorts,
    tmp_path,
    refusing: dict[int, tuple[int, str]],
    *,
    stop: bool = True,
    evaluations: int = 0,
):
    settings = RunSettings(
        **{
            "data_dir": str(simulated_cohorts(5)),
            "out_dir": str(tmp_path / "run"),
            "rounds": 5,
            "epsilon": math.inf,
            "model": "logistic",
            "site_evaluations": evaluations,
            "round_timeout": 5.0,
            "secagg": True,
            "quiet": True,
        }
    )
    hospitals = Hospitals(refusing)
    said: list[str] = []
    grid = AdmittedGrid(hospitals.link, lambda: dict(NAMES))  # type: ignore[arg-type]
    result = federation.run_federation(grid, settings, said.append, stop_when_every_hospital_refuses=stop)
    return result, hospitals, said, settings


def test_a_secagg_run_that_trained_ends_with_its_model_once_no_round_can_complete(
    simulated_cohorts, tmp_path
):
    """Round 1: rostov and astrakhan train, elista refuses its settings. Round 2: astrakhan's budget
    is spent, and rostov alone cannot complete a round (it needs 2): the run ends there, with round
    1's model, instead of charging rostov for rounds 3-5."""
    result, hospitals, said, settings = _run(
        simulated_cohorts, tmp_path, {13: (1, WRONG_SETTING), 12: (2, BUDGET)}, evaluations=1
    )
    assert sorted(hospitals.asked) == [1, 2]  # nothing sent for rounds 3-5
    assert sorted(result.log.train) == [1] and sorted(result.log.train[1]) == ["astrakhan", "rostov"]
    assert [r["round"] for r in result.rounds] == [0, 1, 2]  # round 2 halted: no update entered
    assert result.ended_early is not None and result.ended_early["after_round"] == 2
    reason = result.ended_early["reason"]
    # one short sentence (it was ~900 characters): who is left, what a round needs, whose model;
    # round 2 halted: the model is round 1's, the last whose updates were used
    assert reason == (
        "round 2 of 5: only rostov has not refused the run's plan, and a SecAgg+ round needs 2 hospitals; "
        "the model is round 1's"
    ), reason
    assert len(reason) < 200
    assert result.ended_early["model_round"] == 1
    assert result.ended_early["refused"] == {"astrakhan": BUDGET, "elista": WRONG_SETTING}
    # rostov's masked update of round 2 had arrived: it paid for the round, and the run says so
    assert (
        "its masked update had been sent, so this round's privacy is spent" in result.log.refused[2]["rostov"]
    )
    assert result.log.refused_epsilon[2] == {"rostov": 1.0} and result.epsilon["rostov"] == 1.0
    assert said[-1] == "the run ends after round 2 of 5: no later round can complete"
    assert all(torch.isfinite(v).all() for v in result.state_dict.values())

    results = json.loads(json.dumps(federation_results(result, settings)))
    assert results["ended_early"] == {
        "after_round": 2,
        "rounds_planned": 5,
        "model_round": 1,
        "reason": reason,
        "refused": {"astrakhan": BUDGET, "elista": WRONG_SETTING},
    }
    facts = run_facts_section(results)
    row = next(line for line in facts.splitlines() if line.startswith("| Rounds"))
    assert (
        row == f"| Rounds | 2 of the 5 planned (the model is round 1's); the run ended early: {reason} |"
    ), row
    # the refusals and why a run ends, once, under the table
    (why,) = [line for line in facts.splitlines() if line.startswith("Why the run ended early")]
    assert f"(astrakhan: {BUDGET.rstrip('.')}; elista: {WRONG_SETTING})" in why
    assert why.endswith("(docs/secure-aggregation.md, 'A run that ends early').")
    # the planned evaluation (after round 5) was never sent: no threshold, and nothing unrecorded
    note = results["operating_point"]["note"]
    assert note.startswith("no operating threshold: the run ended early, after round 2 of 5"), note
    assert unrecorded_evaluations(results) == 0
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    summary: list[str] = []
    _say_who_took_part(path, summary.append)
    assert summary[0] == "hospitals that trained (rounds): astrakhan 1 of 2, rostov 1 of 2"
    assert summary[1] == f"the run ended early: {reason}"


def test_a_secagg_run_that_can_still_complete_rounds_trains_them_all(simulated_cohorts, tmp_path):
    """Only elista refuses: the two left are a round's threshold, so every round is asked."""
    result, hospitals, _said, settings = _run(simulated_cohorts, tmp_path, {13: (1, WRONG_SETTING)})
    assert sorted(hospitals.asked) == [1, 2, 3, 4, 5] and result.ended_early is None
    assert json.loads(json.dumps(federation_results(result, settings)))["ended_early"] is None
    assert "| Rounds | 5 |" in run_facts_section(federation_results(result, settings))


def test_a_hospital_that_trains_after_a_refusal_no_longer_counts_as_refusing():
    log = RoundLog(site_of_node=dict(NAMES), taking_part=set(NAMES))
    log.note_training_error("rostov", REFUSED, BUDGET)
    log.note_training_error("astrakhan", REFUSED, BUDGET)
    assert too_few_left(log, needed=2) == {"astrakhan": BUDGET, "rostov": BUDGET}
    log.note_trained("rostov")
    assert too_few_left(log, needed=2) is None and set(log.own_refusals) == {"astrakhan"}


def test_a_run_recorded_whole_is_not_ended_early(simulated_cohorts, tmp_path):
    """`genofed simulate(require_training=False)` records every round: nothing ends it early."""
    result, hospitals, _said, _settings = _run(
        simulated_cohorts, tmp_path, {13: (1, WRONG_SETTING), 12: (2, BUDGET)}, stop=False
    )
    assert sorted(hospitals.asked) == [1, 2, 3, 4, 5] and result.ended_early is None


def test_inspect_model_says_which_rounds_model_a_run_that_ended_early_delivered():
    from genofed.cli.inspect_model import _ended_early_words

    ended = {"after_round": 7, "rounds_planned": 8, "model_round": 6, "reason": "..."}
    assert _ended_early_words(ended) == "ended early after round 7 of 8 planned, the model of round 6"
    assert _ended_early_words(None) is None


def test_a_long_reason_of_an_older_results_json_is_still_shown():
    """A results.json written before the reason was made short: its ~900-character reason, with the
    refusals inside and no `refused`, is shown as written, and nothing is added under the table."""
    from genofed.server.round_log import ended_early_reason

    long = (
        "round 2 of 5: 2 of the run's 3 hospitals refused its plan, and a SecAgg+ round needs at least 2 "
        "hospitals to complete it before their sum can be unmasked, ... The hospitals refused: "
        f"astrakhan: {BUDGET}; elista: {WRONG_SETTING}."
    )
    results = {"rounds": [{"round": 1}, {"round": 2}], "ended_early": {
        "after_round": 2, "rounds_planned": 5, "model_round": 1, "reason": long}}  # fmt: skip
    facts = run_facts_section(results)
    assert "the run ended early: round 2 of 5: 2 of the run's 3 hospitals refused" in facts
    assert "Why the run ended early" not in facts
    # three named, then how many more
    many = ended_early_reason(4, 9, left=["a", "b", "c", "d", "e"], needed=7, model_round=3)
    assert many == (
        "round 4 of 9: only a, b, c and 2 more have not refused the run's plan, and a SecAgg+ round needs "
        "7 hospitals; the model is round 3's"
    )
    assert ended_early_reason(2, 5, left=["a", "b"], needed=3, model_round=1).startswith(
        "round 2 of 5: only a and b have not refused"
    )
    assert ended_early_reason(2, 5, left=[], needed=2, model_round=1) == (
        "round 2 of 5: every hospital refused the run's plan; the model is round 1's"
    )

"""`genofed coordinator start` says, every minute, which hospitals an exchange of the run (a
round's training or evaluation, a SecAgg+ stage, the first query) still waits for and until when:
once rounds ran, a round waiting for replies was bounded by `round-timeout` (600 s) but said
nothing, so an operator saw no output for minutes and could not tell which hospital was slow.

The grid is the deployed coordinator's own `AdmittedGrid` over a stand-in SuperLink; the
coordinator's loop is `_watch_run` over a stand-in `flwr` CLI, as in
test_coordinator_says_it_waits.py."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from helpers.coordinator_service import RunningThenFinished, StillRunning

from genofed.server.app import AdmittedGrid
from genofed.server.service import launch, reply_wait
from genofed.server.service.federation_folder import RUN_DIR
from genofed.server.service.reply_wait import record_reply_wait

NAMES = {1: "rostov", 2: "astrakhan", 3: "elista"}

pytestmark = pytest.mark.usefixtures("flower_task_identity")


class _SlowLink:
    """A SuperLink whose nodes answer at the pull given by `answers_at` (node -> pull number; a
    node absent never answers); `seen` holds the run's reply-wait record at every pull."""

    def __init__(self, answers_at: dict[int, int], run_dir: Path) -> None:
        self.answers_at, self.run_dir, self.pulls, self.seen = answers_at, run_dir, 0, []
        self.sent: dict[str, Message] = {}

    def push_messages(self, messages) -> list[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            self.sent[message.metadata.message_id] = message
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids) -> list[Message]:
        self.pulls += 1
        self.seen.append(reply_wait.reply_wait(self.run_dir, 7))
        due = [
            i
            for i in message_ids
            if self.answers_at.get(self.sent[i].metadata.dst_node_id, 10**9) <= self.pulls
        ]
        return [Message(RecordDict(), reply_to=self.sent[i]) for i in due]


def _round_messages(kind: str = MessageType.TRAIN, server_round: int = 3) -> list[Message]:
    config = RecordDict({"config": ConfigRecord({"server-round": server_round})})
    return [Message(config, message_type=kind, dst_node_id=node) for node in NAMES]


def _grid(link: _SlowLink, run_dir: Path) -> AdmittedGrid:
    return AdmittedGrid(
        link,  # type: ignore[arg-type]
        lambda: dict(NAMES),
        replies=lambda wait: record_reply_wait(run_dir, 7, wait),
    )


def test_a_round_that_waits_records_whom_it_waits_for_by_name_and_until_when(tmp_path, monkeypatch):
    monkeypatch.setattr(reply_wait, "RECORD_AFTER_SECONDS", 0.0)
    link = _SlowLink({1: 1, 3: 1, 2: 4}, tmp_path)  # astrakhan answers at the fourth pull
    before = time.time()
    replies = _grid(link, tmp_path).send_and_receive(_round_messages(), timeout=600.0)
    assert len(list(replies)) == 3
    assert link.seen[0] is None  # the first pull, before any wait
    wait = link.seen[1]
    assert wait["exchange"] == "round 3 training" and wait["waiting_for"] == ["astrakhan"]
    assert wait["asked"] == 3 and wait["timeout"] == 600.0
    assert before + 600 <= wait["until"] <= time.time() + 600
    assert reply_wait.reply_wait(tmp_path, 7) is None  # the exchange is over: the file is gone


def test_a_round_answered_within_seconds_writes_nothing(tmp_path):
    link = _SlowLink({1: 2, 2: 2, 3: 3}, tmp_path)  # three pulls, 0.2 s: under RECORD_AFTER_SECONDS
    _grid(link, tmp_path).send_and_receive(_round_messages(MessageType.EVALUATE), timeout=600.0)
    assert link.seen == [None, None, None]
    assert not (tmp_path / reply_wait.REPLY_WAIT_FILE).exists()


def test_an_exchange_past_its_timeout_takes_its_record_with_it(tmp_path, monkeypatch):
    monkeypatch.setattr(reply_wait, "RECORD_AFTER_SECONDS", 0.0)
    link = _SlowLink({1: 1}, tmp_path)  # astrakhan and elista never answer
    replies = _grid(link, tmp_path).send_and_receive(_round_messages(MessageType.EVALUATE, 5), timeout=0.3)
    assert len(list(replies)) == 1
    assert link.seen[-1]["exchange"] == "round 5 evaluation"
    assert link.seen[-1]["waiting_for"] == ["astrakhan", "elista"]
    assert reply_wait.reply_wait(tmp_path, 7) is None


def test_the_exchange_is_named_as_the_coordinators_log_names_it():
    query = [Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=1)]
    assert reply_wait.exchange_words(query) == "the first query"
    secagg = Message(RecordDict(), message_type=MessageType.TRAIN, dst_node_id=1)
    secagg.metadata.group_id = "4"  # a SecAgg+ stage carries its round as Flower's group id
    assert reply_wait.exchange_words([secagg]) == "round 4 training"


def _watch(folder: Path) -> list[str]:
    said: list[str] = []
    options = launch.ServiceOptions(poll_seconds=0.05, sync_seconds=60.0)
    status = {"run_id": 7, "hospitals": {name: {"status": "online"} for name in NAMES.values()}}
    launch._watch_run(
        folder,
        options,
        RunningThenFinished(),
        StillRunning(),
        {},
        status,
        {"signal": None},
        said.append,
        time.monotonic(),
    )
    return said


def _wait(since: float, until: float | None = None) -> dict:
    return {
        "exchange": "round 3 training",
        "waiting_for": ["astrakhan", "elista"],
        "asked": 3,
        "since": since,
        "until": until,
        "timeout": None if until is None else 600.0,
    }


def test_start_says_once_a_minute_which_hospitals_a_round_waits_for_and_until_when(tmp_path):
    until = time.time() + 530
    record_reply_wait(tmp_path / RUN_DIR, 7, _wait(time.time() - 70, until))
    (said,) = _watch(tmp_path)  # three polls within a second: said once, not at every poll
    at = dt.datetime.fromtimestamp(until, dt.timezone.utc).strftime("%H:%M:%S UTC")
    assert said.startswith(
        "run 7: round 3 training is waiting for 2 of 3 hospital(s) to reply: astrakhan, elista; "
        f"it goes on without them at {at} (round-timeout 600 s)."
    )
    assert "SITE/clientapp.log" in said


def test_start_says_nothing_of_a_round_waiting_under_a_minute_or_of_another_run(tmp_path):
    record_reply_wait(tmp_path / RUN_DIR, 7, _wait(time.time() - 5, time.time() + 595))
    assert _watch(tmp_path) == []
    record_reply_wait(tmp_path / RUN_DIR, 6, _wait(time.time() - 600, time.time() + 5))  # an earlier run's
    assert _watch(tmp_path) == []


def test_a_round_without_a_timeout_says_it_waits_without_a_limit():
    said: list[str] = []
    moment = reply_wait.say_reply_wait(7, _wait(time.time() - 61), None, said.append)
    assert "it waits without a limit (round-timeout inf)" in said[0]
    assert reply_wait.say_reply_wait(7, _wait(time.time() - 121), moment, said.append) == moment  # not yet
    assert reply_wait.say_reply_wait(7, None, moment, said.append) is None and len(said) == 1


def test_the_next_exchange_is_said_a_minute_into_its_own_wait_not_the_previous_ones():
    """The coordinator polls every 10 s and may not see the moment between two exchanges' waits."""
    said: list[str] = []
    previous = time.time() - 61  # round 1's wait was said a minute ago
    assert reply_wait.say_reply_wait(7, _wait(time.time() - 10), previous, said.append) == previous
    assert said == []  # round 2 has waited 10 s
    assert reply_wait.say_reply_wait(7, _wait(time.time() - 61), previous, said.append) != previous
    assert len(said) == 1

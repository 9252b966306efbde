"""The warm worker takes a task's objects as soon as its SuperNode holds them.

The SuperNode lists a message before it has the message's objects (it pulls them from the
SuperLink with a 1-s backoff when the coordinator is still pushing them). A backoff that doubles
from 0.05 s asked at 0.35, 0.75 and 1.55 s and so took objects that arrived at 1.05 s half a
second late, in every exchange of a deployed round (`bench/deployed.py`); the worker now asks
every `PULL_RETRY_SECONDS`.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict

from genofed.client.agent import worker as worker_module
from genofed.client.agent.worker import pull_task_input

pytestmark = pytest.mark.usefixtures("flower_task_identity")


class _LateObjectsClient:
    """A Runtime API client whose task's objects reach the SuperNode `delay` seconds after the
    task is handed out; it records when each object was asked for."""

    def __init__(self, message: Message, delay: float) -> None:
        from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree

        self.message = message
        self.tree = get_object_tree(message)
        self.contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
        self.available_at = time.monotonic() + delay
        self.asked: list[float] = []
        self.confirmed = False

    def PullTaskInput(self, request):  # noqa: N802 - Flower's API
        from flwr.common.serde import context_to_proto
        from flwr.proto.fab_pb2 import Fab
        from flwr.proto.run_pb2 import Run
        from flwr.proto.runtime_pb2 import PullTaskInputResponse

        context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={})
        return PullTaskInputResponse(
            context=context_to_proto(context), run=Run(run_id=1), fab=Fab(), task_id=1
        )

    def PullMessages(self, request):  # noqa: N802
        from flwr.proto.message_pb2 import Message as MessageProto
        from flwr.proto.runtime_pb2 import PullAppMessagesResponse

        return PullAppMessagesResponse(messages_list=[MessageProto()], message_object_trees=[self.tree])

    def PullObject(self, request):  # noqa: N802
        from flwr.proto.message_pb2 import PullObjectResponse

        now = time.monotonic()
        self.asked.append(now)
        if now < self.available_at:
            return PullObjectResponse(object_found=True, object_available=False)
        return PullObjectResponse(
            object_found=True, object_available=True, object_content=self.contents[request.object_id]
        )

    def ConfirmMessageReceived(self, request):  # noqa: N802
        from flwr.proto.message_pb2 import ConfirmMessageReceivedResponse

        self.confirmed = True
        return ConfirmMessageReceivedResponse()


def _train_message() -> Message:
    weights = ArrayRecord({"w": Array(np.arange(6, dtype=np.float32))})
    return Message(RecordDict({"arrays": weights}), dst_node_id=0, message_type="train")


def test_objects_that_arrive_late_are_taken_within_one_retry() -> None:
    sent = _train_message()
    client = _LateObjectsClient(sent, delay=1.2)
    message, _context, _fab = pull_task_input(client)
    taken = time.monotonic()
    np.testing.assert_array_equal(message.content["arrays"]["w"].numpy(), sent.content["arrays"]["w"].numpy())
    assert client.confirmed
    # the waits between the worker's requests stay short: a doubling backoff waited 0.4 and 0.8 s
    # (to 1.55 s) before it asked again; 0.25 s leaves room for a loaded machine's scheduling
    gaps = np.diff(client.asked)
    assert gaps.max() < 0.25, f"the worker waited {gaps.max():.2f} s between two requests"
    assert taken - client.available_at < 0.25


def test_a_long_wait_is_bounded_by_time_not_by_flowers_count_of_tries(monkeypatch) -> None:
    # Flower's default gives an object up after 500 tries: 25 s at this retry, short of the
    # worker's own bound (120 s, for a slow link). At a retry of 1 ms the 500 tries pass well
    # before the objects arrive.
    monkeypatch.setattr(worker_module, "PULL_RETRY_SECONDS", 0.001)
    client = _LateObjectsClient(_train_message(), delay=1.5)
    message, _context, _fab = pull_task_input(client, max_seconds=30.0)
    assert message.metadata.message_type == "train"
    assert len(client.asked) > 500

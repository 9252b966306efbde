"""A stand-in for the SuperLink behind a coordinator's grid, for tests that run the ServerApp's
rounds (`genofed.server.app.AdmittedGrid` wraps it): hospitals that answer at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from types import SimpleNamespace

from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict


class InstantSuperLink:
    """Lists the `online` nodes; gives each pushed message an id and its reply, `answer(message)`,
    at once; pulls hand the replies over (each once)."""

    run = SimpleNamespace(run_id=1)

    def __init__(self, answer: Callable[[Message], Message], nodes: Iterable[int]) -> None:
        self.answer = answer
        self.online = set(nodes)
        self.arrived: dict[str, Message] = {}

    def get_node_ids(self) -> list[int]:
        return sorted(self.online)

    def push_messages(self, messages) -> list[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            ids.append(message.metadata.message_id)
            self.arrived[message.metadata.message_id] = self.answer(message)
        return ids

    def pull_messages(self, message_ids) -> list[Message]:
        return [self.arrived.pop(i) for i in list(message_ids) if i in self.arrived]


def introduction(message: Message, name: str) -> Message:
    """A hospital's answer to the coordinator's first query: its name and sizes (80 training and 20
    validation patients, 480 variants)."""
    sizes = MetricRecord({"train": 80, "validation": 20, "variants": 480, "synthetic": 0})
    return Message(RecordDict({"site": ConfigRecord({"name": name}), "sizes": sizes}), reply_to=message)

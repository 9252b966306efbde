"""Stand-in hospitals for tests that run SecAgg+ rounds in-process: each runs Flower's own
`secaggplus_mod` (its SecAgg+ state between stages in its context) around a training step that
adds its node id x 1e-3 to every weight."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from flwr.app import Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat


class SecAggHospitals:
    """`hospitals(message)`: the reply of the hospital the message is for, through SecAgg+."""

    def __init__(self, nodes: Iterable[int]) -> None:
        self.contexts = {n: Context(1, n, {}, RecordDict(), {}) for n in nodes}

    def __call__(self, message: Message) -> Message:
        received = copy.deepcopy(message)  # as the wire would: the stages share their records
        node = message.metadata.dst_node_id
        return secaggplus_mod(received, self.contexts[node], self._fit)

    @staticmethod
    def _fit(message: Message, _context: Context) -> Message:
        fitins = compat.recorddict_to_fitins(message.content, keep_input=True)
        node = message.metadata.dst_node_id
        arrays = [a + node * 1e-3 for a in parameters_to_ndarrays(fitins.parameters)]
        fitres = FitRes(Status(Code.OK, "ok"), ndarrays_to_parameters(arrays), 80, {"epsilon": 1.0})
        return Message(compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=message)

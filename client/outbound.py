"""The last gate before a reply leaves the hospital: only model arrays and aggregate numbers.

`outbound_guard` is a Flower client mod, so it sees every reply on the real message path, in
simulation and in deployment alike. A reply may hold:
- ArrayRecords with exactly the keys and shapes of the model the coordinator sent (updated
  weights; nothing shaped like a cohort);
- MetricRecords with whitelisted keys and scalar values (counts, mean loss, AUC, epsilon);
- a ConfigRecord with the site's name (the describe reply).
Anything else (a string that could be a sample id, a per-patient list, an unknown record) is
blocked: the reply is replaced by an error, and the site's log says what was stopped.
"""

from __future__ import annotations

import logging

from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord
from flwr.clientapp.typing import ClientAppCallable

from genofed.common.errors import GenofedError

logger = logging.getLogger(__name__)

#: Error code of a reply the guard blocked.
BLOCKED = 4003

ALLOWED_METRICS = frozenset(
    {
        "num-examples", "synthetic-examples", "train-loss", "epsilon", "noise-multiplier", "train-seconds",  # train
        "val-auc", "val-accuracy", "val-loss",  # evaluate
        "train", "validation", "cases", "variants", "synthetic",  # describe: cohort sizes
    }
)
ALLOWED_CONFIG = frozenset({"name"})


class OutboundViolation(GenofedError):
    """A reply holds something other than model arrays and aggregate metrics."""


def check_outbound(reply: Message, sent: Message) -> None:
    """Raise OutboundViolation unless `reply` holds only what may leave a site."""
    if reply.has_error():
        return
    expected = _array_shapes(sent)
    for name, record in reply.content.items():
        if isinstance(record, ArrayRecord):
            shapes = {key: tuple(array.shape) for key, array in record.items()}
            if shapes != expected:
                raise OutboundViolation(f"array record {name!r} does not have the shapes of the model the coordinator sent")
        elif isinstance(record, MetricRecord):
            for key, value in record.items():
                if key not in ALLOWED_METRICS:
                    raise OutboundViolation(f"metric {key!r} is not on the list of aggregate metrics a site may send")
                if not isinstance(value, (int, float)):
                    raise OutboundViolation(f"metric {key!r} is a list: per-sample values may not leave the site")
        elif isinstance(record, ConfigRecord):
            unknown = set(record) - ALLOWED_CONFIG
            if unknown:
                raise OutboundViolation(f"config entries {sorted(unknown)} may not leave the site")
        else:
            raise OutboundViolation(f"record {name!r} of type {type(record).__name__} may not leave the site")


def outbound_guard(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod: check every reply before Flower sends it; block it if it breaks the rules."""
    reply = call_next(msg, context)
    try:
        check_outbound(reply, msg)
    except OutboundViolation as exc:
        logger.error("blocked an outbound %s reply: %s", msg.metadata.message_type, exc)
        return Message(error=Error(code=BLOCKED, reason=f"blocked by the site's outbound guard: {exc}"), reply_to=msg)
    return reply


def _array_shapes(sent: Message) -> dict[str, tuple[int, ...]] | None:
    records = [r for r in sent.content.values() if isinstance(r, ArrayRecord)] if sent.has_content() else []
    if len(records) != 1:
        return None  # a message without a model gets no arrays back: any ArrayRecord mismatches
    return {key: tuple(array.shape) for key, array in records[0].items()}

"""The last gate before a reply leaves the hospital: only model arrays and aggregate numbers.

`outbound_guard` is a Flower client mod, so it sees every reply on the real message path, in
simulation and in deployment alike. A reply may hold:
- ArrayRecords with exactly the keys and shapes of the model the coordinator sent (updated
  weights; nothing shaped like a cohort), every value finite;
- MetricRecords with whitelisted keys and scalar values (public counts, epsilon, noise), and one
  list: an evaluation's noisy score histogram of exactly its fixed length;
- a ConfigRecord with the site's name (the describe reply);
- under secure aggregation, a legacy FitRes (the shape Flower's SecAgg+ masks): exactly the
  records fitres.parameters (the arrays the coordinator sent, by count, shape and dtype),
  fitres.metrics (whitelisted scalars), fitres.num_examples and fitres.status ("Success").
Anything else (a string that could be a sample id, a per-patient list, an unknown record) is
blocked: the reply is replaced by an error, and the site's log says what was stopped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord
from flwr.clientapp.typing import ClientAppCallable

from genofed.common.errors import GenofedError
from genofed.common.privacy.release import SCORE_BINS

logger = logging.getLogger(__name__)

#: Error code of a reply the guard blocked (its own code: 4001-4003 are the ClientApp's, `client/app.py`).
BLOCKED = 4004

CHARGED, PUBLIC = "charged", "public"


@dataclass(frozen=True)
class Release:
    """Why a metric may leave a site: `basis` CHARGED (a DP release, charged to the site's privacy
    ledger before it leaves) or PUBLIC (a number that tells nothing about any patient beyond what
    the site declared or the run's settings fix), and `because`, what makes it so.

    Why a justification and not just a name: with a bare list of names, a new key (an ML engineer's
    walkthrough: each hospital's exact mean training loss) passed the guard once added, charged
    nothing and left every round. Now a key cannot be added without writing down what charges it
    or why it is public, and `tests/unit/client/test_outbound.py` checks every entry has one and
    that docs/extending.md's table says the same.
    """

    basis: str
    because: str

    def __post_init__(self) -> None:
        if self.basis not in (CHARGED, PUBLIC) or not self.because.strip():
            raise ValueError(
                f"a metric may leave a site only {CHARGED} to its ledger or {PUBLIC}, and with the reason "
                f"why: not {self.basis!r} because {self.because!r}"
            )


_DECLARED = "a cohort size the hospital declares when it joins a run (the describe reply)"

#: Every metric key a site may send, and why it may (the training update itself is a DP release
#: charged each round; the arrays are checked above, not here).
ALLOWED_METRICS: Mapping[str, Release] = MappingProxyType(
    {
        "num-examples": Release(
            PUBLIC, "the declared training (train reply) or validation (evaluate reply) size, not a count"
        ),
        "synthetic-examples": Release(
            PUBLIC, "the synthetic records it trains with: its ratio x its declared size"
        ),
        "epsilon": Release(
            PUBLIC, "the privacy its ledger has spent: set by the run's DP plan, not by patients"
        ),
        "coalition-epsilon": Release(
            PUBLIC,
            "distributed DP: the epsilon against the coordinator and every other site colluding (the plan)",
        ),
        "noise-multiplier": Release(
            PUBLIC, "the DP-SGD noise multiplier the plan derives from the run's settings"
        ),
        "val-histogram": Release(
            CHARGED,
            "the validation score histogram with Gaussian noise, charged to the ledger before it leaves (a "
            "site that chose no DP, epsilon inf, sends it exact: its own choice) "
            "(client/evaluate_handler.py, genofed.common.privacy.release)",
        ),
        "val-noise": Release(PUBLIC, "the noise scale of val-histogram: set by the settings and the charge"),
        "train": Release(PUBLIC, _DECLARED),
        "validation": Release(PUBLIC, _DECLARED),
        "variants": Release(PUBLIC, "the panel's size, the same at every site of the run"),
        "synthetic": Release(PUBLIC, _DECLARED),
    }
)
#: The one list a site may send, with its fixed length: nothing per patient fits in it.
ALLOWED_LISTS = {"val-histogram": 2 * SCORE_BINS}
ALLOWED_CONFIG = frozenset({"name"})


class OutboundViolation(GenofedError):
    """A reply holds something other than model arrays and aggregate metrics."""


def check_outbound(reply: Message, sent: Message) -> None:
    """Raise OutboundViolation unless `reply` holds only what may leave a site."""
    if reply.has_error():
        return
    if any(name.startswith("fitres.") for name in reply.content):
        _check_fitres(reply, sent)
        return
    expected = _array_shapes(sent)
    for name, record in reply.content.items():
        if isinstance(record, ArrayRecord):
            shapes = {key: tuple(array.shape) for key, array in record.items()}
            if shapes != expected:
                raise OutboundViolation(
                    f"array record {name!r} does not have the shapes of the model the coordinator sent"
                )
            if not all(_finite_array(array.numpy()) for array in record.values()):
                raise OutboundViolation(
                    f"array record {name!r} holds NaN or infinite values: it would poison the shared model"
                )
        elif isinstance(record, MetricRecord):
            for key, value in record.items():
                _check_metric(key, value)
        elif isinstance(record, ConfigRecord):
            unknown = set(record) - ALLOWED_CONFIG
            if unknown:
                raise OutboundViolation(f"config entries {sorted(unknown)} may not leave the site")
        else:
            raise OutboundViolation(f"record {name!r} of type {type(record).__name__} may not leave the site")


FITRES_RECORDS = frozenset({"fitres.parameters", "fitres.metrics", "fitres.num_examples", "fitres.status"})


def _check_fitres(reply: Message, sent: Message) -> None:
    """A SecAgg+ reply before masking: the model-shaped arrays and whitelisted metrics, nothing else.

    Legacy Parameters carry no shapes in their ArrayRecord, so both sides are decoded to compare
    real shapes and dtypes with the FitIns the coordinator sent.
    """
    content = reply.content
    if set(content) != FITRES_RECORDS:
        raise OutboundViolation(
            f"a FitRes reply must hold exactly {sorted(FITRES_RECORDS)}, not {sorted(content)}"
        )
    parameters, metrics = content["fitres.parameters"], content["fitres.metrics"]
    examples, status = content["fitres.num_examples"], content["fitres.status"]
    if not (
        isinstance(parameters, ArrayRecord)
        and isinstance(metrics, ConfigRecord)
        and isinstance(examples, MetricRecord)
        and isinstance(status, ConfigRecord)
    ):
        raise OutboundViolation("a FitRes reply's records are not of the kinds Flower's FitRes uses")
    sent_records = [
        r for name, r in sent.content.items() if isinstance(r, ArrayRecord) and name == "fitins.parameters"
    ]
    if len(sent_records) != 1 or _legacy_layout(parameters) != _legacy_layout(sent_records[0]):
        raise OutboundViolation("the FitRes arrays do not have the shapes of the model the coordinator sent")
    if not all(_finite_array(array) for array in _legacy_arrays(parameters)):
        raise OutboundViolation(
            "the FitRes arrays hold NaN or infinite values: they would poison the shared model"
        )
    for key, value in metrics.items():
        if isinstance(value, list):
            raise OutboundViolation(f"metric {key!r} is a list: only aggregate numbers may leave the site")
        _check_metric(key, value)
    if dict(examples) != {"num_examples": examples.get("num_examples")} or not isinstance(
        examples["num_examples"], int
    ):
        raise OutboundViolation("fitres.num_examples must hold one integer count")
    if dict(status) != {"code": 0, "message": "Success"}:
        raise OutboundViolation("fitres.status may only say Success")


def _check_metric(key: str, value: object) -> None:
    """A whitelisted key; a number (NaN never; inf only as the epsilon of a site without DP), or the
    one allowed list at its fixed length."""
    if key not in ALLOWED_METRICS:
        raise OutboundViolation(
            f"metric {key!r} is not on the list of aggregate metrics a site may send (ALLOWED_METRICS in "
            "genofed's client/outbound.py): every number a site sends must be charged to its privacy ledger "
            "as a DP release or be public, and a new metric is added there only with which, and why "
            "(docs/extending.md, A hospital-side metric)"
        )
    if isinstance(value, list):
        if len(value) != ALLOWED_LISTS.get(key, -1):
            raise OutboundViolation(f"metric {key!r} is a list: per-sample values may not leave the site")
        numbers = value
    else:
        numbers = [value]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise OutboundViolation(
                f"metric {key!r} is not a number: only aggregate numbers may leave the site"
            )
        if math.isnan(number) or (math.isinf(number) and key != "epsilon"):
            raise OutboundViolation(f"metric {key!r} is not finite")


def _finite_array(array: np.ndarray) -> bool:
    return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())


def _legacy_layout(record: ArrayRecord) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each array of a legacy Parameters record, in order."""
    return [(tuple(a.shape), str(a.dtype)) for a in _legacy_arrays(record)]


def _legacy_arrays(record: ArrayRecord) -> list[np.ndarray]:
    """The arrays of a legacy Parameters record, decoded."""
    from flwr.common import bytes_to_ndarray

    try:
        return [bytes_to_ndarray(array.data) for array in record.values()]
    except Exception:  # noqa: BLE001 - not a serialized ndarray: cannot be the model
        raise OutboundViolation("the FitRes arrays are not serialized NumPy arrays") from None


def outbound_guard(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod: check every reply before Flower sends it; block it if it breaks the rules."""
    reply = call_next(msg, context)
    try:
        check_outbound(reply, msg)
    except OutboundViolation as exc:
        logger.error("blocked an outbound %s reply: %s", msg.metadata.message_type, exc)
        return Message(
            error=Error(code=BLOCKED, reason=f"blocked by the site's outbound guard: {exc}"), reply_to=msg
        )
    return reply


def _array_shapes(sent: Message) -> dict[str, tuple[int, ...]] | None:
    records = [r for r in sent.content.values() if isinstance(r, ArrayRecord)] if sent.has_content() else []
    if len(records) != 1:
        return None  # a message without a model gets no arrays back: any ArrayRecord mismatches
    return {key: tuple(array.shape) for key, array in records[0].items()}

"""The hospital's side of secure aggregation (Flower's SecAgg+, legacy message shapes).

Flower's `secaggplus_mod` runs the protocol (key agreement, secret shares, masking); this module
adapts genofed's ClientApp to it: `secagg_mod` calls Flower's mod only for SecAgg+ rounds and
lets refusals through, and `train_secagg` runs the very same training as a plain round on the
legacy FitIns and returns the FitRes that SecAgg+ masks. The coordinator side is
genofed.server.secagg.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, RECORD_KEY_STATE
from flwr.compat.common import recorddict_compat as compat

from genofed.client.coordinator_request import model_config_in
from genofed.client.site import SiteConfig
from genofed.common.errors import GenofedError, RoundRefusal
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.privacy.secagg_masks import install as install_mask_stream

#: The ClientApp's training of one plain round: (message, context, site, settings) -> reply content.
logger = logging.getLogger(__name__)

TrainFn = Callable[[Message, Context, SiteConfig, dict], RecordDict]


def secagg_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower's `secaggplus_mod` for SecAgg+ rounds; every other message passes untouched.

    Why not `secaggplus_mod` itself: it expects SecAgg+ configs in every TRAIN message (a plain
    round has none), and it reads the inner reply's content, so a refusal (an error reply: budget
    exhausted, bad data) would become an exception and lose its reason. Here the refusal is
    returned as it is: the coordinator counts the site as dropped out, unmasks the others' sum
    without it (SecAgg+'s threshold), and logs the reason as in a plain round.
    """
    if (
        msg.metadata.message_type != MessageType.TRAIN
        or not msg.has_content()
        or RECORD_KEY_CONFIGS not in msg.content.config_records
    ):
        return call_next(msg, context)
    install_mask_stream()  # Flower's own masks keep 32 bits of each seed (common/privacy/secagg_masks.py)
    refusal: list[Message] = []

    def inner(inner_msg: Message, inner_context: Context) -> Message:
        reply = call_next(inner_msg, inner_context)
        if reply.has_error():
            refusal.append(reply)
            raise _Refused
        return reply

    rounding = np.random.get_state()  # `train_secagg` seeds the rounding; put NumPy's back after
    try:
        return secaggplus_mod(msg, context, inner)
    except _Refused:
        return refusal[0]
    finally:
        np.random.set_state(rounding)


class _Refused(Exception):
    """The training handler refused inside SecAgg+'s masked stage."""


def is_secagg_fit(msg: Message) -> bool:
    records = msg.content.config_records
    return "fitins.config" in records and RECORD_KEY_CONFIGS in records


def train_secagg(
    msg: Message, context: Context, site: SiteConfig, settings: dict, train: TrainFn
) -> RecordDict:
    """The ClientApp's training (`genofed.client.train_handler.train`) on SecAgg+'s legacy FitIns:
    the same ArrayRecord (the model's state-dict names, in the model's order) and the same train
    config as a plain round, so the ledger is charged and the noise drawn exactly as there; the
    result goes back as a FitRes for SecAgg+ to mask."""
    result = train(_plain_round(msg), context, site, settings)
    updated = [a.numpy() for a in result["arrays"].values()]
    # a distributed round refused a range below its public bound before it computed anything
    # (`client.train_handler`), so for it the check below never fires; a local-DP round is checked
    # on its reply, which carries the whole noise
    limit = float(context.state.config_records[RECORD_KEY_STATE]["clipping_range"])
    largest = max(float(np.abs(a).max(initial=0.0)) for a in updated)
    if not largest <= limit:  # SecAgg+ would clip it silently and corrupt the sum
        # the value stays in the site's log: the refusal is not masked, and under distributed DP
        # this reply carries only the site's noise share
        logger.warning("largest updated weight %.3g outside SecAgg+'s clipping range +-%g", largest, limit)
        raise RoundRefusal(  # the updated weights carry the round's noise: the next may fit
            f"an updated weight is outside SecAgg+'s clipping range (+-{limit:g}); the coordinator must "
            "raise it"
        )
    _seed_the_rounding(updated)
    metrics = dict(result["metrics"])
    return compat.fitres_to_recorddict(
        FitRes(
            status=Status(Code.OK, "Success"),
            parameters=ndarrays_to_parameters(updated),
            num_examples=int(metrics["num-examples"]),
            metrics=metrics,
        ),
        keep_input=False,
    )


def _seed_the_rounding(updated: list[np.ndarray]) -> None:
    """Seed NumPy's global generator, which Flower's SecAgg+ quantization draws its stochastic
    rounding from right after this returns (`flwr.common.secure_aggregation.quantization`), with a
    hash of the reply itself (`secagg_mod` restores the generator afterwards).

    Why: unseeded, the rounding moved the round's sum by about 1e-6, so the next round's global
    model, its input digest and so its whole DP noise draw differed between two runs of the same
    command (an ML engineer's walkthrough: AUC 0.683 against 0.657 after round 2). Drawn from the
    reply, the rounding is a fixed pseudo-random function of it (post-processing of a DP reply),
    and the coordinator, which sees only the masked sum, cannot know it."""
    digest = hashlib.sha256()
    for array in updated:
        digest.update(np.ascontiguousarray(array).tobytes())
    np.random.seed(int.from_bytes(digest.digest()[:4], "little"))


def _plain_round(msg: Message) -> Message:
    """The legacy FitIns as the message of a plain round: the arrays under the model's state-dict
    names, the train config as it came, the received message's identity."""
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    names = list(build_model(ModelConfig.from_dict(model_config_in(fitins.config)), seed=0).state_dict())
    arrays = [torch.from_numpy(np.array(a)) for a in parameters_to_ndarrays(fitins.parameters)]
    if len(arrays) != len(names):
        raise GenofedError(f"the coordinator sent {len(arrays)} arrays for a model with {len(names)}")
    content = RecordDict(
        {
            "arrays": ArrayRecord(dict(zip(names, arrays, strict=True))),
            "config": ConfigRecord(dict(fitins.config)),
        }
    )
    return Message(content, metadata=copy.deepcopy(msg.metadata))

"""The hospital's Flower ClientApp: local DP fine-tuning, DP evaluation, a size report.

What a reply may hold is the whole privacy story of this module. Every number computed on
patients is a DP release charged to the site's ledger: the DP-SGD update, and an evaluation's
noisy score histogram (`genofed.common.privacy.release`). Everything else is public by the site's
own declaration or by the federation's settings: its name, its declared cohort size (rounded;
DP-SGD's sampling rate is computed from it, never from the exact count), its panel size, the
epsilon it has spent and the noise it used (both functions of public facts). No loss, AUC,
accuracy or time measured on patients leaves; the outbound and attack tests check that on the
real message path.

This module wires the ClientApp (mods, handlers, refusals); the work sits beside it:
`training_request` reads and refuses a train request, `train_handler` trains and charges,
`evaluate_handler` releases a noisy evaluation, `coordinator_request` holds the checks both
share (budget, model, digests).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable

from genofed.client import evaluate_handler, train_handler
from genofed.client.agent.audit import AUDIT_KEY, audit_mod
from genofed.client.coordinator_request import (
    architecture_digest,
    input_digest,
    model_digest,
    site_split_seed,
    spend_limit,
)
from genofed.client.outbound import outbound_guard
from genofed.client.outward_words import outward_words_mod
from genofed.client.secagg import is_secagg_fit, secagg_mod, train_secagg
from genofed.client.site import SiteConfig, in_federation_words, load_site_tensors, resolve_site
from genofed.client.training_request import TRAINING_LIMITS, requested_training
from genofed.client.unwritable import unwritable_reason
from genofed.common.errors import DATA_REFUSAL, DataError, GenofedError, RoundRefusal
from genofed.common.util.torch_threads import single_torch_thread

logger = logging.getLogger(__name__)

__all__ = [
    "FAILED",
    "REFUSED",
    "REFUSED_THIS_ROUND",
    "TRAINING_LIMITS",
    "app",
    "architecture_digest",
    "input_digest",
    "make_client_app",
    "model_digest",
    "requested_training",
    "spend_limit",
]

#: Error code of a reply that refuses to train (budget, bad data): the strategy skips it.
REFUSED = 4001
#: Error code of a reply after an unexpected failure at the site (details stay in its log).
FAILED = 4002
#: Error code of a refusal of this round only (`RoundRefusal`: it depends on the round's noise).
REFUSED_THIS_ROUND = 4003


def make_client_app(defaults: Mapping[str, Any] | None = None) -> ClientApp:
    """A ClientApp whose settings are `defaults` overridden by the run config.

    `flwr run` fills the run config from pyproject.toml; Flower's Python simulation entry point
    leaves it empty, so `genofed simulate` passes its settings here instead.
    """
    # outermost first: the audit log records what leaves (under SecAgg+: masked vectors and key
    # material); the outbound guard checks the plaintext reply before SecAgg+ masks it
    # outside them all, `unwritable_audit_mod`: an audit log that cannot be written stops the reply;
    # outermost, `outward_words_mod`: a refusal leaves without the site's paths (logged in full inside)
    app = ClientApp(mods=[outward_words_mod, unwritable_audit_mod, audit_mod, secagg_mod, outbound_guard])
    base = dict(defaults or {})

    @app.query()
    def describe(msg: Message, context: Context) -> Message:
        return _guarded(msg, lambda: _describe(_site(context, base), _settings(context, base)), context, base)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        # the same round gives the same update, bit for bit (common/util/torch_threads.py)
        with single_torch_thread():
            return _guarded(msg, lambda: _train_any(msg, context, base), context, base)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        with single_torch_thread():
            return _guarded(
                msg,
                lambda: evaluate_handler.evaluate(
                    msg, context, _site(context, base), _settings(context, base)
                ),
                context,
                base,
            )

    return app


def _train_any(msg: Message, context: Context, base: dict) -> RecordDict:
    """A plain round, or SecAgg+'s masked stage: legacy FitIns in, FitRes out, the same training.

    A hospital that requires secure aggregation refuses a plain round before loading anything.
    """
    if is_secagg_fit(msg):
        masked = functools.partial(train_handler.train, masked=True)
        return train_secagg(msg, context, _site(context, base), _settings(context, base), masked)
    return train_handler.train(
        msg, context, _plain_round_allowed(_site(context, base)), _settings(context, base)
    )


def _settings(context: Context, base: dict) -> dict:
    return {**base, **dict(context.run_config)}


def _site(context: Context, base: dict) -> SiteConfig:
    return resolve_site(dict(context.node_config), _settings(context, base))


def _guarded(msg: Message, handler, context: Context | None = None, base: dict | None = None) -> Message:
    """Run a handler; a user-fixable problem becomes a refusal reply that carries no data.

    A data error's message names files, lines and sample ids: it stays in the site's log, and
    the coordinator only learns that the site's data failed its checks. A site state folder
    (ledger, secret, plans) that cannot be written (`unwritable_reason`: read-only, full, not the
    agent's) is refused in those words, which name the site's own path and no patient: the
    handler fails before its reply exists, so nothing is sent. The ledger's charge is written
    before the reply is returned (`train_handler`: plan, train, charge, reply): a charge that
    cannot be written leaves no reply to send, and no release goes out uncharged.
    """
    try:
        return Message(handler(), reply_to=msg)
    except DataError as exc:
        if context is not None:
            exc = in_federation_words(exc, dict(context.node_config))
        logger.error("refusing: %s", exc)
        return Message(error=Error(code=REFUSED, reason=DATA_REFUSAL), reply_to=msg)
    except RoundRefusal as exc:  # this round's draws only: the next round may be answered
        logger.warning("refusing this round: %s", exc)
        return Message(error=Error(code=REFUSED_THIS_ROUND, reason=str(exc)), reply_to=msg)
    except GenofedError as exc:  # budget and configuration refusals: our own words, no patient data
        logger.warning("refusing: %s", exc)
        return Message(error=Error(code=REFUSED, reason=str(exc)), reply_to=msg)
    except OSError as exc:
        state = _state_paths(context, base) if context is not None else []
        reason = unwritable_reason(exc, state, state[0] if state else None, _NOTHING_SENT)
        if reason is None:
            return _failed(msg)
        logger.error("refusing: %s", reason)  # no traceback: the reason says what to fix
        return Message(error=Error(code=REFUSED, reason=reason), reply_to=msg)
    except Exception:  # noqa: BLE001 - an unexpected failure's text may hold paths or data
        return _failed(msg)


def _failed(msg: Message) -> Message:
    """The reply to an unexpected failure: its details (and traceback) stay in the site's log."""
    logger.exception("this site failed to handle a %s message", msg.metadata.message_type)
    return Message(
        error=Error(code=FAILED, reason="the site hit an internal error; details are in its own log"),
        reply_to=msg,
    )


_NOTHING_SENT = (
    "nothing was trained or sent; free space or fix the folder's permissions, then the next round can train"
)
_REPLY_NOT_SENT = (
    "this reply was not sent (a round it trained stays charged to the site's ledger); free space or fix "
    "the file's permissions, then the next round can train"
)


def _state_paths(context: Context, base: dict | None) -> list[Path]:
    """The folders the site writes while it answers: its state folder (ledger, secret) first."""
    try:
        return [_site(context, base or {}).state_dir]
    except Exception:  # noqa: BLE001 - a node config that names no site: no state folder to name
        return []


def unwritable_audit_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Flower mod, outside `audit_mod`: an audit log that cannot be written (read-only, full, not
    the agent's: `unwritable_reason`) becomes the site's refusal, without a traceback. The reply it
    was to record is not sent: nothing leaves the site unrecorded; a round it trained stays charged.
    The refusal itself cannot be recorded, and carries only the log's path and the reason."""
    try:
        return call_next(msg, context)
    except OSError as exc:
        log = str(context.node_config.get(AUDIT_KEY, "") or "")
        if not log:
            raise
        reason = unwritable_reason(exc, [Path(log)], Path(log), _REPLY_NOT_SENT)
        if reason is None:
            raise
        logger.error("refusing: %s", reason)
        return Message(error=Error(code=REFUSED, reason=reason), reply_to=msg)


def _plain_round_allowed(site: SiteConfig) -> SiteConfig:
    if site.require_secagg:
        raise GenofedError(
            "this hospital sends its update only under secure aggregation (node config require-secagg); "
            "the coordinator asked for a plain round: run the federation with secagg"
        )
    return site


def _describe(site: SiteConfig, settings: dict) -> RecordDict:
    """The site's name and its public sizes: the training and validation sizes that follow from the
    cohort size it declared (node config `declared-size`, else its size rounded to 10; DP-SGD's
    sampling rate is set from it, never from the exact count), its panel's variants and its
    synthetic records. Not its exact size, nor its number of cases: those are counts of patients."""
    data = load_site_tensors(site, site_split_seed(site, settings))
    return RecordDict(
        {
            "site": ConfigRecord({"name": site.name}),
            "sizes": MetricRecord(
                {
                    "train": data.public_train,
                    "validation": data.public_validation,
                    "variants": data.n_variants,
                    "synthetic": data.n_synthetic,
                }
            ),
        }
    )


#: The ClientApp `flwr run` loads (pyproject.toml [tool.flwr.app.components]).
app = make_client_app()

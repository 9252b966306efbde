"""The reply a site sent for its latest charged release of each plan, kept so that the same request
gets the same reply, whatever the site's data has become.

Why: a coordinator may send a charged round's request again (a run resumed after a crash, or an
attack). Until stop 54 the site trained again: deterministic noise from its secret and the inputs
gave the identical reply when its data had not changed, and the ledger refused when it had ("already
trained on other inputs"). A red-team audit replayed a train and an evaluate message and read,
uncharged and as often as it liked, whether any training or validation patient's record had changed
since that round: one exact bit about the patients, infinite epsilon for a patient added in between.
Now a repeated request is answered from what was sent (a release again, free) and anything else
under a charged round's key is refused (`PrivacyLedger.check_rerun`), both decided on the request
alone.

What is kept: the reply's content (Flower's own serialisation of a RecordDict), the round and the
request's digest without the site's data (`request_digest`), one file per plan and kind in
`STATE_DIR/kept-replies/`, written atomically after the charge and before the reply leaves. A site
that stops between the two refuses the replay (fail closed: the round's charge stands). Only the
latest round of a plan is kept: a resumed run repeats at most the round it was in.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from flwr.app import RecordDict
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.util.atomic import atomic_path

logger = logging.getLogger(__name__)

#: The folder in a site's state folder that holds its kept replies.
KEPT_REPLIES = "kept-replies"
_MAGIC = b"genofed-kept-reply-1\n"


@dataclass(frozen=True)
class KeptReply:
    """One kept reply: the round it answered, the digest of the request it answered (without the
    site's data) and the reply's content as sent."""

    round: int
    request_digest: str
    content: RecordDict


def keep_reply(state_dir: Path, plan_id: str, kind: str, reply: KeptReply) -> None:
    """Keep `reply` as the latest `kind` ("train", "evaluate") reply of `plan_id`, replacing the
    one kept before. A file that cannot be written (no space, no permission) raises GenofedError
    saying that the release is charged and not sent (the site's generic "nothing was trained or
    sent" would be false: a review)."""
    payload = recorddict_to_proto(reply.content).SerializeToString()
    head = f"{int(reply.round)}\n{reply.request_digest}\n".encode()
    path = _path(state_dir, plan_id, kind)
    try:
        with atomic_path(path, mode=0o600) as tmp:  # as private as the ledger
            tmp.write_bytes(_MAGIC + head + payload)
    except (OSError, GenofedError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise GenofedError(
            f"{path}: the reply of round {reply.round} could not be kept ({why}): it was not sent, and the "
            "round stays charged to this site's ledger (a release it cannot repeat); free space or fix the "
            "folder's permissions, then the next round can train"
        ) from None


def kept_reply(
    state_dir: Path, plan_id: str, kind: str, server_round: int, request_digest: str
) -> RecordDict | None:
    """The content kept for exactly this request (the same plan, kind, round and request digest);
    None when none is (never sent, another round or request, or a file that cannot be read: the
    caller then refuses the rerun, fail closed)."""
    path = _path(state_dir, plan_id, kind)
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if not raw.startswith(_MAGIC):
        return None
    try:
        round_text, digest, payload = raw[len(_MAGIC) :].split(b"\n", 2)
        if int(round_text) != int(server_round) or digest.decode() != request_digest:
            return None
        content = recorddict_from_proto(ProtoRecordDict.FromString(payload))
    except Exception:  # noqa: BLE001 - a damaged file (a bad split, number or protobuf) is no reply
        return None
    logger.info("round %d (%s): the same request again, answered with its reply", server_round, kind)
    return content


def _path(state_dir: Path, plan_id: str, kind: str) -> Path:
    """One file per plan and kind; the plan id (the coordinator's text) hashed into the name."""
    name = hashlib.sha256(plan_id.encode()).hexdigest()[:24]
    return Path(state_dir) / KEPT_REPLIES / f"{name}-{kind}.bin"


def replayed(
    state_dir: Path, plan_id: str, kind: str, server_round: int, request_digest: str
) -> RecordDict | None:
    """The reply to send again when this request repeats a charged release (the same plan, kind,
    round and request digest), read under the ledger's lock; None when the round was not charged
    (the caller computes it) or its reply was not kept for this request (the caller's
    `check_rerun` then refuses). Never reads the site's data."""
    with PrivacyLedger.locked_at(Path(state_dir) / LEDGER_FILE) as ledger:
        if not any(charge.key == (plan_id, kind, server_round) for charge in ledger.charges):
            return None
        return kept_reply(state_dir, plan_id, kind, server_round, request_digest)

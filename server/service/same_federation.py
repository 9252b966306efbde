"""`genofed coordinator init NEW_DIR --same-federation-as OLD_DIR`: a second study on the same federation.

Why: a federation folder fixes one run's settings (its epsilon, rounds, priors, test cohort), and
until now a study under other settings meant `coordinator init` anew, which made a new CA: every
hospital had to be sent a new ca.pem, enrolled again (its key and declared size read out by phone
again) and its agent restarted, and a running agent stopped (exit 79) until its ca.pem was
replaced. What a Flower user and an operator expect is that the federation (its CA, its
enrolled hospitals with their declared sizes, its revocations, its address) outlives one study,
and a new study is new settings on the same trust. So NEW_DIR gets:

- OLD_DIR's CA (ca.pem, and ca.key unless it is kept offline and given with --ca-key) and a new
  server certificate it signs for the hosts given (by default OLD_DIR's): hospitals keep ca.pem,
  and a running agent joins the new study's run without a restart;
- OLD_DIR's enrolment list as it stands: enrolled keys with names, declared sizes and their
  history, the revoked keys (a revoked key stays revoked) and the unenrolled ones, with a note
  saying where they came from;
- everything else anew, as every init: the settings given, the panel (by default OLD_DIR's),
  model.json and a new plan id. The plan id names a study's privacy plan in every hospital's
  ledger: each hospital's ledger goes on across studies (its budget and what it spent are its
  own, never the folder's), and `--epsilon` is what the ledger may reach, earlier studies
  included, so no study is a fresh budget. Nothing of OLD_DIR's run (its SuperLink state, node
  ids, checkpoints, results) is carried: the new study's coordinator registers the keys anew.

OLD_DIR is then marked as carried over (server/service/handover.py): the federation's trust
lives in one folder at a time, so that a revocation made in NEW_DIR cannot be undone by
starting OLD_DIR, whose coordinator (and enrolment commands) refuse from then on. The carrying
holds OLD_DIR's coordinator lock (refused while its coordinator runs) and its enrolment list's
lock, so nothing changes OLD_DIR meanwhile.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genofed.common.errors import GenofedError
from genofed.common.util.atomic import exclusive_lock
from genofed.server.service.enrollment import load_registry
from genofed.server.service.federation_folder import (
    CarriedTrust,
    init_federation,
    read_federation_file,
    recorded_hosts,
    refuse_existing,
)
from genofed.server.service.federation_model import Digest
from genofed.server.service.folder_files import (
    HOSPITALS_FILE,
    PANEL_FILE,
    CoordinatorRunning,
    hold_federation,
    require_complete,
)
from genofed.server.service.handover import handed_over_to, write_handover
from genofed.server.service.pki import Issued, PkiError, load_ca


@dataclass(frozen=True)
class Predecessor:
    """The federation folder a second study continues, read and checked under its locks."""

    folder: Path  # resolved
    federation: dict[str, Any]  # its federation.json
    registry: dict[str, Any]  # its hospitals.json
    ca: Issued
    ca_key_offline: bool  # the key came from --ca-key: it stays where the operator keeps it

    @property
    def panel(self) -> Path:
        """OLD_DIR's copy of the panel: the default, so hospitals keep the panel they checked."""
        return self.folder / PANEL_FILE

    def hosts(self) -> list[str]:
        """The hosts OLD_DIR's server certificate names: the default, so hospitals keep --coordinator."""
        try:
            return recorded_hosts(self.folder, self.federation)
        except GenofedError as refused:
            raise GenofedError(f"{refused}; or give --host NAME_OR_IP to coordinator init") from None

    def carried(self, handover_id: str, at: str) -> CarriedTrust:
        """What NEW_DIR takes over: the CA, the enrolment list (with where it came from) and the
        record federation.json keeps, and the mark OLD_DIR gets."""
        registry = copy.deepcopy(self.registry)
        registry["carried_from"] = {"folder": str(self.folder), "at": at}
        record = {
            "folder": str(self.folder),
            "handover_id": handover_id,
            "carried_at": at,
            "ca_sha256": self.federation.get("tls", {}).get("ca_sha256"),
            "plan_id": self.federation.get("plan_id"),
            "hospitals": len(registry["hospitals"]),
            "revoked": len(registry["revoked"]),
        }
        return CarriedTrust(
            ca=self.ca,
            write_ca_key=not self.ca_key_offline,
            registry=registry,
            record=record,
            mark_predecessor=lambda new: write_handover(self.folder, new, at, handover_id),
        )


def init_same_federation(
    folder: str | Path,
    old: str | Path,
    *,
    hosts: list[str] | None = None,
    panel: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    test_dir: str | Path | None = None,
    digest: Digest | None = None,
    ca_key: str | Path | None = None,
) -> tuple[dict[str, Any], Predecessor]:
    """Create `folder` for a second study on `old`'s federation (see the module's docstring);
    returns the federation config written and what it continues. `hosts` and `panel` default to
    `old`'s; the other arguments are `init_federation`'s. Refused, before anything is written,
    when `folder` exists, `old` is no complete federation folder, was already carried over, its
    coordinator runs, or its CA cannot sign (expired, key missing or not its key)."""
    folder = Path(folder)
    refuse_existing(folder)
    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with taking_over(old, ca_key=ca_key) as predecessor:
        config = init_federation(
            folder,
            hosts or predecessor.hosts(),
            panel=panel or predecessor.panel,
            settings=settings,
            test_dir=test_dir,
            digest=digest,
            carried=predecessor.carried(uuid.uuid4().hex, at),
        )
    return config, predecessor


@contextlib.contextmanager
def taking_over(old: str | Path, *, ca_key: str | Path | None = None) -> Iterator[Predecessor]:
    """`old`, checked and held for the block: its coordinator lock (a running coordinator is
    refused, and none starts meanwhile) and its enrolment list's lock (no enrolment or revocation
    lands in it meanwhile, to be left behind)."""
    old = Path(old)
    what = f"--same-federation-as {old}"
    if not old.is_dir():
        raise GenofedError(
            f"{what}: not a folder; give the federation folder of the earlier study (the DIR its "
            "`genofed coordinator init` made)"
        )
    try:
        require_complete(old)
    except GenofedError as refused:
        raise GenofedError(f"{what}: {refused}") from None
    _refuse_carried_over(old, what)
    try:
        with hold_federation(old), exclusive_lock(old / HOSPITALS_FILE):
            _refuse_carried_over(old, what)  # again under the lock: two inits at once
            federation = read_federation_file(old)
            registry = load_registry(old)
            try:
                ca = load_ca(old, ca_key)
            except PkiError as refused:
                raise GenofedError(f"{what}: {_without_new_federation_advice(str(refused))}") from None
            yield Predecessor(old.resolve(), federation, registry, ca, ca_key_offline=ca_key is not None)
    except CoordinatorRunning as running:
        raise GenofedError(
            f"{what}: {running}. Its coordinator must be stopped while its federation is carried over "
            "(a run of it would go on admitting hospitals the new study may revoke)"
        ) from None


def _refuse_carried_over(old: Path, what: str) -> None:
    """A folder already carried over holds the federation no more: carry from its successor."""
    handover = handed_over_to(old)
    if handover is not None:
        raise GenofedError(
            f"{what}: its federation was already carried over to {handover.successor} on {handover.at}, "
            f"which holds its enrolments and revocations now: give --same-federation-as {handover.successor}"
        )


def _without_new_federation_advice(message: str) -> str:
    """A CA that cannot sign any more is the one case a new CA is needed: say so in init's words."""
    return message.replace(
        "make a new federation (genofed coordinator init) and send its ca.pem to every hospital",
        "a new study cannot continue this federation: make a new one without --same-federation-as "
        "(`genofed coordinator init NEW_DIR ...`, a new CA), send its ca.pem to every hospital and "
        "enrol each again",
    )

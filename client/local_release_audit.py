"""A hospital's local releases, written to its site's audit log.

When a local release's state folder is a hospital site's (SITE/state beside a SITE/hospital.json,
checked or only initialised), each release is also written to the site's audit log (SITE/audit.jsonl,
the one the agent writes every outbound message to, `genofed.client.agent.audit`), with what was
released, the epsilon it spent, the site's epsilon after it and its ledger plan and input digest
(`audit_release`): a DP generator, a DP variant summary, and the exact numbers the hospital
declared public (a rounded variant summary, a synthetic batch's verdict). An audit found them in
the ledger only, so `genofed hospital audit` listed the rounds a site took part in but not what it
had released by hand. The entry is appended under the ledger's lock, right after the charge and
before the release's output is written: a log that cannot be appended to stops the release there
(the charge stands; nothing leaves unaudited, `ReleaseCharged`), and is checked first
(`local_ledger.check_and_bind`), before anything is computed, trained or charged, by opening it for
append (`audit.appendable_problem`: a folder in its place, or a file that will not open, is
refused; `os.access` passed both, for root and for a folder, and an audit saw a release charged,
then stopped at its entry). A log that fails between that check and the entry (a disk filling up)
still stops the release after its charge. When `--new-ledger` or `--data-update` moves the data's
binding away from a site's state folder, the override goes to that site's audit log too
(`ledger_binding.bind_ledger`). A state folder that is no site's has no audit log: nothing is
written to one.

A release made WITHOUT differential privacy (`genofed synth` without `--epsilon`: records that carry
the real patients, kept in the hospital) is charged nothing, but when it is tied to a site (its
`--state-dir` is a site's state folder, or its files are bound to one) it is written to that site's
audit log too (`unprotected_site`, `audit_unprotected_release`): an audit found a full unprotected
copy of 200 patients written with no line in the log a DPO reads. A release whose output could not
be written after its entry says so in the log (`audit_output_lost`).

Why a module of its own: what goes into a site's audit log, and when, is one job; the ledger and
its caps (`genofed.client.local_ledger`) are another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from genofed.client.agent.audit import (
    GENOTYPES_FILE,
    NO_DP_KIND,
    OUTPUT_LOST_KIND,
    LocalRelease,
    append_entry,
    release_entry,
)
from genofed.client.agent.high_water import DEFAULT_DELTA
from genofed.client.local_ledger import LocalLedger, bound_state_dir, local_ledger, require_appendable_log
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, Charge, PrivacyLedger

logger = logging.getLogger(__name__)


class ReleaseCharged(GenofedError):
    """A failure after a release was charged, whose message already says so (and that a rerun is
    charged again): a command that words its own after-charge failures leaves it as it is."""


def audit_release(
    local: LocalLedger,
    ledger: PrivacyLedger,
    charge: Charge,
    *,
    command: str,
    epsilon: float,
    output: str | Path,
    input_digest_of: str = GENOTYPES_FILE,
    genotypes_sha256: str = "",
    validation: dict | None = None,
) -> None:
    """Write the release just charged to the site's audit log (nothing outside a site's folder).

    Call it holding the ledger's lock, right after the charge and before the release's output is
    written: the site's epsilon it records is then the ledger's, and a log that cannot be appended to
    stops the release before anything leaves (the charge stands: the patients were read).

    Args:
        local: where the release was charged (`local.audit_log`: the site's log, or None).
        ledger: the ledger, with the release charged.
        charge: the release's (last) charge: its plan id, kind, note, input digest and delta.
        command: the command that released it, as the operator typed it ("synth").
        epsilon: what the release spent (0 for a declared-public one), at `charge.delta`.
        output: the file or folder the release was written to.
        input_digest_of: what `charge.input_digest` is the SHA-256 of, in words (a generator's is
            of the data it read and its settings, not of a file: `LocalRelease`).
        genotypes_sha256: the genotypes file's SHA-256, when the input digest is not it.
        validation: a synthetic batch's verdict ({"passed", "failed_checks", "records_written"}).
    """
    if local.audit_log is None:
        return
    # the site's delta, at which `hospital ledger` totals: a declared-public entry is made at it (and
    # at a `hospital check`, at the delta it is declaring now); a DP release at its own
    site_delta = charge.delta if charge.kind == DECLARED_PUBLIC else local.delta
    delta = float(site_delta or charge.delta or DEFAULT_DELTA)
    distributed = any(c.coalition_noise_multiplier is not None for c in ledger.charges)
    entry = release_entry(
        LocalRelease(
            command=command,
            what=charge.note,
            kind=charge.kind,
            plan_id=charge.plan_id,
            input_digest=charge.input_digest,
            epsilon_spent=float(epsilon),
            release_delta=float(charge.delta if charge.delta is not None else delta),
            epsilon=ledger.epsilon(delta) if ledger.charges else 0.0,
            delta=delta,
            coalition_epsilon=ledger.coalition_epsilon(delta) if distributed else None,
            output=str(Path(output).resolve()),
            state_dir=str(local.state_dir),
            input_digest_of=input_digest_of,
            genotypes_sha256=genotypes_sha256,
            validation=validation,
        )
    )
    earlier = [c for c in ledger.charges if c.plan_id != charge.plan_id]
    if earlier and not local.audit_log.exists():  # started anew: the earlier entries are not in it
        logger.warning(
            "%s is missing while the ledger in %s holds %d earlier release(s): a new audit log is started "
            "with this release; restore the old log from a backup beside it, since the ledger alone now "
            "records what the site released before",
            local.audit_log,
            local.state_dir,
            len(earlier),
        )
    try:
        append_entry(local.audit_log, entry)
    except OSError as exc:
        raise ReleaseCharged(
            f"{local.audit_log}: cannot append to this site's audit log ({exc.strerror}): the release "
            f"(plan {charge.plan_id}) was charged to the ledger in {local.state_dir} and stands, but "
            "nothing was written: make the log writable by this user (running the command again is a "
            "new release: a DP one is charged again)"
        ) from None


def unprotected_site(
    state_dir: str | Path, genotypes: str | Path, sample_ids: Sequence[str] = ()
) -> LocalLedger | None:
    """The site a release WITHOUT differential privacy is tied to, whose audit log records it: the
    site whose state folder `state_dir` is, else the site the files (their genotypes file or their
    patients) are bound to by the machine-wide index (`bound_state_dir`, the lookup a DP release's
    binding uses); None when neither is a site's state folder. Its audit log is checked before
    anything is computed (`require_appendable_log`): a log that cannot be appended to is refused here.
    """
    candidates = [Path(state_dir)] if state_dir else []
    bound = bound_state_dir(genotypes, sample_ids)
    if bound is not None:
        candidates.append(bound)
    for candidate in candidates:
        local = local_ledger(candidate, None, spends=False)
        if local.audit_log is not None:
            require_appendable_log(local.audit_log, "Nothing was computed or written.")
            return local
    return None


def audit_unprotected_release(
    local: LocalLedger,
    *,
    command: str,
    what: str,
    output: str | Path,
    genotypes_sha256: str,
    validation: dict | None = None,
) -> None:
    """Write a release made WITHOUT differential privacy to the site's audit log (kind `NO_DP_KIND`):
    nothing charged (`epsilon_spent` 0, no plan), the site's epsilon as its ledger stands, at the
    site's delta. Call it before the release's output is written, as `audit_release`: a log that
    cannot be appended to stops the release before anything is written.

    Args:
        local: the site the release is tied to (`unprotected_site`: its `audit_log` is set).
        command: the command that released it ("synth").
        what: what was released, in words.
        output: the folder it is written to.
        genotypes_sha256: the genotypes file's SHA-256 (the entry's input digest).
        validation: a synthetic batch's verdict ({"passed", "failed_checks", "records_written"}).
    """
    if local.audit_log is None:
        return
    delta = float(local.delta or DEFAULT_DELTA)
    path = local.state_dir / LEDGER_FILE
    ledger = PrivacyLedger(path) if path.is_file() else None
    distributed = ledger is not None and any(c.coalition_noise_multiplier is not None for c in ledger.charges)
    entry = release_entry(
        LocalRelease(
            command=command,
            what=what,
            kind=NO_DP_KIND,
            plan_id="",
            input_digest=genotypes_sha256,
            epsilon_spent=0.0,
            release_delta=None,
            epsilon=ledger.epsilon(delta) if ledger is not None and ledger.charges else 0.0,
            delta=delta,
            coalition_epsilon=ledger.coalition_epsilon(delta) if distributed else None,
            output=str(Path(output).resolve()),
            state_dir=str(local.state_dir),
            validation=validation,
        )
    )
    try:
        append_entry(local.audit_log, entry)
    except OSError as exc:
        raise GenofedError(
            f"{local.audit_log}: cannot append to this site's audit log ({exc.strerror}), and every local "
            "release at the site is written to it: nothing was written (nothing was charged: no DP); make "
            "the log writable by this user and run the command again"
        ) from None


def audit_output_lost(local: LocalLedger, *, command: str, output: str | Path, reason: str) -> None:
    """After a release was charged and written to the site's audit log, its output could not be
    written (the disk filled at the final write): say so in the log (kind `OUTPUT_LOST_KIND`, the
    ledger's newest plan, the site's epsilon as it stands), since the release's own entry named
    where the output would go. An audit found a DPO sent to a report that was never written.
    Nothing outside a site; a log that cannot be appended to now is warned of, not raised: the
    command is already failing with the charge said on the terminal.

    Args:
        local: where the release was charged.
        command: the command ("synth").
        output: where the output was to go.
        reason: why it was not written, in words (the error).
    """
    if local.audit_log is None:
        return
    ledger = PrivacyLedger(local.state_dir / LEDGER_FILE)
    delta = float(local.delta or DEFAULT_DELTA)
    entry = release_entry(
        LocalRelease(
            command=command,
            what=reason,
            kind=OUTPUT_LOST_KIND,
            plan_id=ledger.charges[-1].plan_id if ledger.charges else "",
            input_digest="",
            epsilon_spent=0.0,
            release_delta=None,
            epsilon=ledger.epsilon(delta) if ledger.charges else 0.0,
            delta=delta,
            coalition_epsilon=None,
            output=str(Path(output).resolve()),
            state_dir=str(local.state_dir),
        )
    )
    try:
        append_entry(local.audit_log, entry)
    except OSError as exc:
        logger.warning("%s: cannot record that %s was not written (%s)", local.audit_log, output, exc)

"""The hospital agent runs only the approved genofed app, whatever the coordinator sends.

Why: the SuperLink ships an app bundle (FAB) with every run and the SuperNode hands it to
whatever runs its ClientApp; the open-source SuperLink's Control API, which submits runs, has
no authentication (FIELD-NOTES.md). Flower's own FAB verification (`flower-supernode
--trusted-entities`) checks a signature the SuperLink attaches to the bundle (`fab.verifications`),
and the open-source SuperLink signs none: a SuperNode given trusted entities refuses every
bundle, genofed's included. So the agent pins the bundle itself:

- The hospital's ClientApp worker (genofed.client.agent.worker) is the only process that can
  take the SuperNode's tasks (SuperExec secret). For each task it pulls the message, run and
  bundle, then calls `check_fab` before it loads anything the bundle names; no Flower function
  is patched.
- `check_fab` recomputes the bundle's SHA-256 from its bytes (never trusting the label) and
  compares it with the approved hash: the genofed bundle built from this site's own installation
  (genofed.common.deployment.app_bundle), or a hash the site's operator set. Anything else is
  refused: the reply is an error, the refusal is written to the audit log (`audit_refusal`),
  and no code of the bundle runs.
- The bundle holds no code: an approved one runs the site's own installed ClientApp. A hash the
  operator set (`hospital start --approved-app`) is therefore a hash, not a release: when it is
  not this installation's bundle the agent warns at start (`approved_elsewhere_warning`), and when
  the bundle records other code or another Flower, at each run's first task (`other_code_warning`),
  in its output and in the audit log.
"""

from __future__ import annotations

import hashlib
import io
import tomllib
import zipfile
from pathlib import Path

from genofed.common.deployment.app_bundle import PYPROJECT, approved_app_hash, code_digest, flower_version
from genofed.common.errors import GenofedError


class UnapprovedApp(GenofedError):
    """The coordinator sent an app bundle this hospital has not approved."""


#: What a hospital does about a refused bundle: the coordinator's operator decides; the hospital
#: approves a new release only by upgrading with every site (deploy/README.md, "Updates").
TELL_THE_COORDINATOR = (
    "tell the coordinator's operator; approve another release only by upgrading genofed with every site "
    "(deploy/README.md, Updates)"
)


def check_fab(content: bytes, label: str, approved: str) -> None:
    """Refuse a bundle whose bytes are not the approved bundle."""
    actual = hashlib.sha256(content).hexdigest()
    if not approved:
        raise UnapprovedApp("no approved app hash is configured: this hospital runs no app bundle")
    if actual != approved:
        labelled = "" if label == actual else f", labelled {label}"
        raise UnapprovedApp(
            f"refused the app bundle sent through the coordinator's SuperLink (sha256 {actual}{labelled}): "
            f"this hospital runs only the approved genofed app (sha256 {approved}); {_whose_code(content)}"
        )


#: A bundle that is not the one `genofed coordinator start` builds from the same code: another app
#: submitted to the SuperLink's Control API, which has no authentication.
NOT_COORDINATOR_START = (
    "it is not the bundle `genofed coordinator start` builds, which records the code's digest: another app "
    "was submitted to the coordinator's SuperLink (e.g. a `flwr run`, perhaps not by the coordinator's "
    "operator, or modified code)"
)


def _whose_code(content: bytes) -> str:
    """What a refused bundle says of the coordinator's code beside this site's, and what to do: the
    installed code's SHA-256 each bundle records (`code_digest`), since every release is version
    0.1.0 and a version alone tells them apart no more. The same code in another bundle (or no
    digest at all) is not the coordinator's `start` but another app submitted to its SuperLink, so
    the advice is not "run the same release" then (an ML engineer's walkthrough: a `flwr run` of the
    project was refused with that advice). Read as data only; nothing of the bundle runs."""
    ours, recorded = code_digest(), recorded_release(content)
    if recorded is None:
        return f"{NOT_COORDINATOR_START}; {TELL_THE_COORDINATOR}"
    theirs = recorded["code-sha256"]
    flower, our_flower = str(recorded.get("flwr-version", "not recorded")), flower_version()
    if theirs == ours and flower != our_flower:
        return (
            f"its genofed code is this hospital's, but it runs Flower {flower} and this hospital Flower "
            f"{our_flower}: every site and the coordinator must install the same Flower"
        )
    if theirs == ours:
        return (
            f"its genofed code is this hospital's ({ours[:12]}), but {NOT_COORDINATOR_START}; "
            f"{TELL_THE_COORDINATOR}"
        )
    return (
        f"the coordinator runs genofed code {str(theirs)[:12]}, this hospital {ours[:12]}: every site and "
        f"the coordinator must run the same release, byte for byte; {TELL_THE_COORDINATOR}"
    )


def recorded_release(content: bytes) -> dict | None:
    """The `[tool.genofed]` table a bundle's pyproject records (`code-sha256`, `flwr-version`), or
    None when it records no code digest (not a bundle `genofed coordinator start` built). Read as
    data only; nothing of the bundle runs."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as bundle:
            recorded = tomllib.loads(bundle.read(PYPROJECT).decode("utf-8"))["tool"]["genofed"]
        recorded["code-sha256"]
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError, UnicodeDecodeError):
        return None
    return recorded


def other_code_warning(content: bytes) -> str | None:
    """What an operator must hear when this site serves an approved bundle (`--approved-app`) that
    records other code than the site's own, or another Flower; None when it records the site's own.

    Why: the worker checks only the bundle's bytes against the approved hash and then runs the
    ClientApp of the site's own installation (`load_client_app`); the bundle holds no code. A hospital
    on old code that approved the coordinator's upgraded bundle by its hash completed its runs with
    the old ClientApp, and nothing said so (an ML engineer's walkthrough)."""
    recorded = recorded_release(content)
    ours, our_flower = code_digest(), flower_version()
    if recorded is None:
        theirs = "records no genofed code digest (it is not a bundle `genofed coordinator start` builds)"
    elif recorded["code-sha256"] != ours:
        theirs = f"records genofed code {str(recorded['code-sha256'])[:12]}"
    elif str(recorded.get("flwr-version", "not recorded")) != our_flower:
        flower = recorded.get("flwr-version", "(none)")
        theirs = f"records Flower {flower}, this hospital runs Flower {our_flower}"
    else:
        return None
    return (
        f"the approved app bundle (--approved-app) {theirs}, but this hospital runs its own installed "
        f"genofed code {ours[:12]}: --approved-app approves a bundle's hash, never the code behind it, so "
        "this site answers with its own ClientApp, which may train, charge and report differently from "
        "the coordinator's release; install the coordinator's release and restart the agent without "
        "--approved-app (deploy/README.md, Updates)"
    )


def approved_elsewhere_warning(approved: str) -> str | None:
    """What the agent says at its start when `--approved-app` names a bundle other than the one this
    installation builds (None when it names that one): it cannot yet tell what code that bundle
    records (the bundle arrives with the first task: `other_code_warning`), only that it answers
    it with its own code."""
    own = approved_app_hash()
    if approved == own:
        return None
    return (
        f"--approved-app {approved[:12]} is not the app bundle this installation builds ({own[:12]}): "
        f"this site will answer that bundle's tasks with its own installed genofed code "
        f"{code_digest()[:12]}, "
        "whatever code the bundle records (each run's first task says whether it records other code); "
        "to serve the coordinator's release, install it and start the agent without --approved-app "
        "(deploy/README.md, Updates)"
    )


def audit_refusal(audit_log: Path, message, reply) -> None:
    """The refusal reply leaves the site too: it goes in the audit log like any message (its
    ClientApp, whose audit mod records every other reply, never ran)."""
    from genofed.client.agent.audit import append_entry, audit_entry

    append_entry(Path(audit_log), audit_entry(message, reply))

"""A site's validated synthetic cohort in its own local training.

The site first runs `genofed synth` (or `genofed simulate --synthetic-ratio` does it for every
virtual site), which writes a synthetic cohort only if it passed validation, plus
`validation.json`. Training then adds `ratio x (public training size)` of those records to the
site's training rows (resampled when fewer passed, `fit_to_count`): a public number, like the
declared size it comes from, and never the count that passed validation. Nothing synthetic is ever
sent: only the weights trained on the mix.

Why the privacy guarantee stays end to end with respect to the real patients:

- Under DP the generator was trained with DP-SGD and charged to this site's ledger; its records
  are post-processing of that release, so using them costs nothing more.
- The classifier's DP-SGD then runs over real + synthetic rows with Poisson sampling at rate q
  per row: every real patient is still included with probability q and clipped to the same
  norm, so the accountant's figure for the real patients is unchanged; the synthetic rows only
  add data. The plan calibrates this training against the ledger's earlier history, generator
  included, so the site's total epsilon stays within its budget.
- What would break it, and is refused: DP training with a cohort from a NON-private generator
  (those records carry the patients without any bound), or from a DP generator that is not in
  this site's ledger (its cost would be missing from the reported epsilon).

Whether a batch passed validation is not covered by the generator's DP: it leaves a deployed site
only declared public in its ledger (`declare_verdict`, by `genofed hospital check --synthetic`), and
the site uses no batch whose verdict is not declared there (`require_declared`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.local_ledger import local_ledger
from genofed.client.local_release_audit import audit_release
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError, GenofedError
from genofed.common.privacy.ledger import DECLARED_PUBLIC, PrivacyLedger
from genofed.common.util.hashing import file_sha256

logger = logging.getLogger(__name__)

#: What `genofed synth` writes next to the records (client/synth.py); the training path reads it
#: back. Here, with the reader, so that the training path (client/site.py) needs nothing of the
#: generator's module.
SUMMARY_FILE = "validation.json"
#: The fewest accepted records a batch may hold to be trained with (the loader's minimum for a
#: cohort): this module refuses a smaller batch, so a hospital's default batch under DP is never
#: smaller (a declared size may be).
USABLE_RECORDS = 20


class SyntheticCohortError(GenofedError):
    """The synthetic cohort a site was told to train with cannot be used."""


@dataclass(frozen=True)
class SyntheticCohort:
    """Accepted synthetic records, encoded like the site's real patients, and where they came from."""

    folder: Path
    features: np.ndarray  # (n, V) float32, the model's input encoding
    labels: np.ndarray  # (n,) float32 0/1
    epsilon: float | None  # what the generator spent; None: trained without DP
    ledger_plan: str | None  # its charge in the site's ledger (DP only)
    generator: str

    def __len__(self) -> int:
        return len(self.labels)


#: What a deployed site answers, whatever is wrong with its synthetic batch (failed validation, no
#: records): one fixed text, so the coordinator cannot tell a failed batch from an empty one, nor read
#: which checks failed (the verdict is an exact, uncharged function of the patients). The details go
#: to the hospital's own log, and `genofed hospital start` refuses such a folder before it runs.
UNUSABLE_BATCH = (
    "this site's configured synthetic data cannot be used; it takes part again once its operator has "
    "fixed its synthetic configuration (the site's own log says why)"
)


#: The fewest accepted records a batch may hold to be used (the loader's minimum for a cohort;
#: `genofed synth`'s default batch is never smaller).
MIN_RECORDS = USABLE_RECORDS


def batch_problem(folder: Path) -> str | None:
    """Why the `genofed synth` output in `folder` cannot be trained with (one line, for the
    hospital's own screen and log only: it names the failed checks), None when it can. Raises
    SyntheticCohortError when `folder` is not a synth output at all."""
    return _problem(_summary(folder))


def _problem(summary: dict[str, Any]) -> str | None:
    if not summary.get("passed"):
        failed = ", ".join(summary.get("failed_checks", [])) or "unknown checks"
        return f"the synthetic batch failed validation ({failed})"
    records = int(summary.get("records_written", 0) or 0)
    if records < MIN_RECORDS:
        return (
            f"the synthetic batch holds {records} records (at least {MIN_RECORDS} are needed; generate "
            "more with `genofed synth --n N`, or fewer were kept because they sat too close to a patient)"
        )
    return None


def require_usable_batch(folder: Path, *, no_new_batch: str = "", raw: bytes | None = None) -> None:
    """Refuse, before a deployed site starts, a synthetic folder it could not train with: a failed
    or empty batch would make the number of synthetic records it reports depend on its patients.
    `no_new_batch`: why the site cannot pay for another DP batch ("" when it can): the refusal
    then says so instead of "generate one that passes" (a walkthrough's site with 0.0134 of its
    budget left was told to generate one). `raw`: validation.json's bytes as the caller read them."""
    problem = batch_problem(folder) if raw is None else _problem(_parsed(folder, raw))
    if problem is not None and no_new_batch:
        raise SyntheticCohortError(
            f"{folder}: {problem}; no new batch here: {no_new_batch}. Configure this site without synthetic "
            "data; genotype augmentation in its training costs no privacy (node config augment = "
            '"noise=0.01,mutate=0.005"; docs/augmentation.md)'
        )
    if problem is not None:
        raise SyntheticCohortError(
            f"{folder}: {problem}; generate one that passes with genofed synth (its failure message and "
            f"{folder}/report.md say what to change for these checks) and configure its folder, or configure "
            "this site without synthetic data"
        )


def require_trainable_batch(
    folder: Path,
    panel: VariantPanel,
    *,
    private: bool,
    ledger_path: Path,
    no_new_batch: str = "",
    declared: bool = False,
) -> str:
    """Refuse, for `genofed hospital check --synthetic` and `hospital start`, a batch a deployed site
    could not train with, by the same calls its training makes: `require_usable_batch` (failed or
    empty), `load_synthetic` (the records as the site loads them: on the federation's `panel`, e.g.
    another clinic's batch on variants the panel lacks) and `check_end_to_end` (under DP: made
    without DP, or charged to another ledger than `ledger_path`, this site's).

    Why before anything else: `check` then declares the batch's verdict public in this site's
    ledger and audit log and binds the folder; a batch training refuses later would leave a
    declaration about records this site never uses (perhaps another clinic's patients), and a site
    that refuses every training request. `private`: whether the site trains under DP (a finite
    epsilon budget). Raises SyntheticCohortError, one line naming `folder`, what is wrong and what
    to do. `no_new_batch`: `require_usable_batch`'s. `declared`: first require that the batch's
    verdict is declared in `ledger_path` (`require_declared`; `hospital start`).

    Returns the SHA-256 of the validation.json every check read, once (`declare_verdict` declares
    exactly that batch): read again for each check, a batch swapped in between was declared, or
    acted on, unchecked (a reviewer)."""
    raw = _summary_bytes(folder)
    if declared:
        require_declared(folder, ledger_path, raw)
    require_usable_batch(folder, no_new_batch=no_new_batch, raw=raw)
    try:
        cohort = load_synthetic(folder, panel, raw=raw)
    except DataError as exc:
        raise SyntheticCohortError(
            f"{folder}: this site cannot load the batch's records as training data ({exc.file}: "
            f"{exc.problem}); generate the batch from this site's own patients and the federation's panel "
            "(genofed synth --genotypes ... --phenotypes ... on the files checked here), or configure this "
            "site without synthetic data"
        ) from None
    check_end_to_end(cohort, private=private, ledger_path=ledger_path)
    return hashlib.sha256(raw).hexdigest()


#: What a verdict declaration's ledger input digest is the SHA-256 of (its audit entry's
#: `input_digest_of`): the batch's validation.json file, whose `sha256sum` it is.
VERDICT_DIGEST = "the synthetic batch's validation.json"


def verdict_plan(digest: str) -> str:
    """The ledger plan that declares public the verdict of the batch whose validation.json has the
    SHA-256 `digest` (`declare_verdict` writes it, `require_declared` looks for it)."""
    return f"synthetic-verdict-{digest[:16]}"


def declare_verdict(
    folder: Path,
    ledger_path: Path,
    *,
    delta: float,
    by: str,
    command: str = "hospital check --synthetic",
    checked: str | None = None,
) -> bool:
    """List in the site's ledger, as declared public by `by` (the configuration that trains with
    the batch), whether the `genofed synth` batch in `folder` passed validation; returns the verdict.

    The verdict reads the patients outside the generator's DP release (its checks compare the batch
    with training and held-out patients), and it decides whether the site trains with the batch and
    so reports a synthetic count: one exact bit that leaves the site. Like the declared cohort size
    it is not differential privacy; the site's configuration declares it public and the ledger lists
    it (a zero-step entry, epsilon 0), once per batch (its validation.json's digest, which a deployed
    site then requires before it reads a batch's verdict: `require_declared`). When the ledger is a
    site's (SITE/state/...), the declaration is written to the site's audit log too
    (`local_release_audit.audit_release`, naming `command`), each time it is made. `checked`: the
    digest of the validation.json the caller checked (`require_trainable_batch`); a batch changed
    since is refused, not declared."""
    raw = _summary_bytes(folder)
    summary = _parsed(folder, raw)  # the bytes hashed are the bytes whose verdict is declared
    digest = hashlib.sha256(raw).hexdigest()
    if checked is not None and digest != checked:
        raise SyntheticCohortError(
            f"{folder}: its {SUMMARY_FILE} changed while it was being checked; nothing was declared. "
            "Leave the batch's folder as it is and run the check again."
        )
    passed = bool(summary.get("passed"))
    verdict = "passed" if passed else "failed"
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    local = local_ledger(ledger_path.parent, None, spends=False)  # its audit log, if it is a site's
    plan = verdict_plan(digest)
    with PrivacyLedger.locked_at(ledger_path) as ledger:
        ledger.declare_public(
            plan,
            note=(
                f"whether the synthetic batch {folder} passed validation ({verdict}): "
                "one bit read from the patients outside the generator's DP release, which decides whether "
                f"the site trains with the batch; declared public by {by} (not differential privacy, "
                "epsilon 0)"
            ),
            input_digest=digest,
            delta=delta,
        )
        (charge,) = ledger.charges_of(plan, DECLARED_PUBLIC)
        audit_release(
            local, ledger, charge, command=command, epsilon=0.0, output=folder, input_digest_of=VERDICT_DIGEST
        )
    return passed


#: (ledger, validation.json SHA-256) pairs found declared in that ledger by this process: a
#: declaration is never taken back, so a message on an unchanged batch reads the ledger no more.
_DECLARED: set[tuple[Path, str]] = set()


def require_declared(folder: Path, ledger_path: Path, raw: bytes | None = None) -> None:
    """Refuse (SyntheticCohortError, in words that are the same whatever the batch's verdict) the
    batch in `folder` unless its verdict is declared public in the ledger at `ledger_path`
    (`declare_verdict`: `genofed hospital check --synthetic`). `raw`: the validation.json bytes the
    caller read and goes on to use (read here when None).

    Why (a red-team audit): `hospital check --synthetic` records the folder's path, and the verdict
    it declared is that of the batch in it then. A new `genofed synth` batch put at that path (the
    old one moved away, a symlink repointed) was used by the running agent at its next message and
    by `hospital start`: a failed one made every message refused, a passing one trained, so the
    coordinator read each swapped batch's verdict, an exact bit on the patients nobody declared.
    Why the ledger's declaration, not a digest recorded in hospital.json beside the path: the
    declaration is what makes a verdict public, so requiring it is the rule itself; the running
    agent and `start` both read the site's ledger (a node config written by hand names no
    hospital.json); and a batch declared earlier (the old one moved back) may be used again, its
    verdict being public already. The records are bound to validation.json in turn
    (`_written_records`)."""
    raw = _summary_bytes(folder) if raw is None else raw
    digest = hashlib.sha256(raw).hexdigest()
    if (ledger_path, digest) not in _DECLARED:
        declared = ledger_path.is_file() and any(
            c.input_digest == digest
            for c in PrivacyLedger(ledger_path).charges_of(verdict_plan(digest), DECLARED_PUBLIC)
        )
        if not declared:
            raise SyntheticCohortError(
                f"{folder}: this synthetic batch is not the one `genofed hospital check --synthetic` "
                f"declared (no verdict declaration for its {SUMMARY_FILE} in this site's ledger "
                f"{ledger_path}): it is not used, and nothing was trained or sent. With the agent stopped, "
                f"run `genofed hospital check SITE ... --synthetic {folder}` again (it checks this batch and "
                "declares its verdict public), then start the agent again."
            )
        _DECLARED.add((ledger_path, digest))


def load_synthetic(
    folder: Path,
    panel: VariantPanel,
    *,
    simulated: bool = False,
    declared_in: Path | None = None,
    raw: bytes | None = None,
) -> SyntheticCohort:
    """Read a `genofed synth` output folder. A batch that failed validation, or holds fewer than
    MIN_RECORDS records: a deployed site refuses with the fixed `UNUSABLE_BATCH` (its start already
    refuses one); a virtual site of the simulation (`simulated`, whose operator is every hospital)
    trains on its real patients only and gets an empty cohort. `declared_in`: the ledger in which
    the batch's verdict must be declared before it is read (`require_declared`; a deployed site's
    training); None: not required (`hospital check`, which declares it next). `raw`: the bytes of
    validation.json the caller read and checked (read here when None), so that one reading decides."""
    raw = _summary_bytes(folder) if raw is None else raw
    if declared_in is not None:
        require_declared(folder, declared_in, raw)
    summary = _parsed(folder, raw)
    problem = _problem(summary)
    spec = FeatureSpec(alt_freq=panel.alt_freq)  # the encoding of the site's real patients (site.py)
    epsilon = summary.get("epsilon")
    epsilon = None if epsilon is None else float(epsilon)
    kind = str(summary.get("generator", {}).get("kind", "vae"))
    if problem is not None:
        if not simulated:
            logger.error("%s: %s; this site refuses every message until it is fixed", folder, problem)
            raise SyntheticCohortError(UNUSABLE_BATCH)
        logger.warning("%s: %s; training on real patients only", folder, problem)
        empty = np.zeros((0, spec.n_features), dtype=np.float32)
        return SyntheticCohort(
            folder, empty, np.zeros(0, dtype=np.float32), epsilon, summary.get("ledger_plan"), kind
        )
    with _written_records(folder, summary) as records:
        cohort = load_site(
            records / RECORD_FILES[0], records / RECORD_FILES[1], panel=panel, min_samples=MIN_RECORDS
        ).cohort
    features = encode(spec, cohort)
    return SyntheticCohort(
        folder, features, cohort.labels.astype(np.float32), epsilon, summary.get("ledger_plan"), kind
    )


#: A passing batch's record files, as `genofed synth` writes them.
RECORD_FILES = ("genotypes.vcf.gz", "phenotypes.csv")
#: validation.json's key holding the SHA-256 of each record file (`records_digests`).
RECORDS_DIGESTS = "records_sha256"


def records_digests(folder: Path) -> dict[str, str]:
    """The SHA-256 of each of a batch's `RECORD_FILES` in `folder`, which `genofed synth` writes into
    the batch's validation.json: the verdict declared public is then that of these very records."""
    return {name: file_sha256(folder / name) for name in RECORD_FILES}


@contextmanager
def _written_records(folder: Path, summary: dict[str, Any]) -> Iterator[Path]:
    """A private copy of the batch's record files, each read once and only when its SHA-256 is the
    one this batch's validation.json was written with (`records_sha256`); otherwise
    SyntheticCohortError.

    Why: the site uses a batch only when its validation.json's verdict is declared
    (`require_declared`), but the records beside it could be replaced, e.g. by another batch's
    made without DP, whose records carry the patients into a DP training uncounted. Read once and
    loaded from the copy, so a file swapped between the check and the read is not used either. A
    batch without the digests (written before 2026-12-07, or with them removed) is refused: nothing
    then ties its records to its verdict."""
    recorded = summary.get(RECORDS_DIGESTS)
    if not isinstance(recorded, dict):
        raise SyntheticCohortError(
            f"{folder}: its {SUMMARY_FILE} records no digests of its record files ({RECORDS_DIGESTS}; "
            "a batch written before 2026-12-07, or edited since), so nothing ties its records to its "
            "verdict: it is not used, and nothing was trained or sent. Make a new batch with `genofed "
            "synth` and declare it with `genofed hospital check ... --synthetic DIR`."
        )
    with tempfile.TemporaryDirectory(prefix="genofed-synthetic-") as copy:
        for name in RECORD_FILES:
            path = folder / name
            data = path.read_bytes() if path.is_file() else None
            if data is None or hashlib.sha256(data).hexdigest() != recorded.get(name):
                raise SyntheticCohortError(
                    f"{path}: not the file this batch's {SUMMARY_FILE} was written with (its SHA-256 "
                    "differs, or it is missing): the records were replaced, so the batch is not used and "
                    "nothing was trained or sent. Put the batch's own files back, or make a new batch with "
                    "`genofed synth` and declare it with `genofed hospital check ... --synthetic DIR`."
                )
            (Path(copy) / name).write_bytes(data)
        yield Path(copy)


def synthetic_count(ratio: float, public_train: int) -> int:
    """How many synthetic rows a site trains with and reports: ratio x its PUBLIC training size
    (from its declared cohort size), whatever its batch holds. Never the number of records that
    passed validation: that is an exact, uncharged function of the patients (`fit_to_count`)."""
    return int(round(ratio * public_train))


def fit_to_count(cohort: SyntheticCohort, count: int, seed: int) -> SyntheticCohort:
    """`count` rows of `cohort`: its first `count` records when it has that many; otherwise all of
    them once, then the rest drawn again with replacement (seeded by `seed`, from the site's
    secret), so the count never reveals how many records survived the (non-DP) filter. An empty
    cohort gives an empty one (a simulated site's failed batch; a deployed site refuses those)."""
    n = len(cohort)
    if n == 0 or count <= n:
        rows = np.arange(min(count, n))
    else:
        extra = np.random.default_rng([seed, 0x5359_4E54]).integers(0, n, size=count - n)
        rows = np.concatenate([np.arange(n), extra])
    return replace(cohort, features=cohort.features[rows], labels=cohort.labels[rows])


def check_end_to_end(cohort: SyntheticCohort, *, private: bool, ledger_path: Path) -> None:
    """Refuse synthetic records that would make a DP run's epsilon understate the real patients'
    exposure (see the module docstring). Without DP anything validated may be used."""
    if not private or len(cohort) == 0:
        return
    if cohort.epsilon is None:
        raise SyntheticCohortError(
            f"{cohort.folder}: these synthetic records come from a generator trained WITHOUT differential "
            "privacy, so training with them under DP would report an epsilon that does not cover the real "
            f"patients. Generate them with genofed synth --epsilon E --state-dir {ledger_path.parent} (this "
            "site's state dir), or train without synthetic data."
        )
    charged = {c.plan_id for c in PrivacyLedger(ledger_path).charges}
    if cohort.ledger_plan not in charged:
        raise SyntheticCohortError(
            f"{cohort.folder}: the generator's privacy cost (plan {cohort.ledger_plan}) is not in this "
            f"site's ledger {ledger_path}, so the site's epsilon would not include it. Generate the "
            f"synthetic cohort with genofed synth --epsilon E --state-dir {ledger_path.parent} (this site's "
            "state dir), or train without synthetic data."
        )


def _summary(folder: Path) -> dict[str, Any]:
    return _parsed(folder, _summary_bytes(folder))


def _summary_bytes(folder: Path) -> bytes:
    """The bytes of the batch's validation.json, or SyntheticCohortError when there is none."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise SyntheticCohortError(
            f"{folder} is not a genofed synth output (no {SUMMARY_FILE}); create it with genofed synth"
        )
    return path.read_bytes()


def _parsed(folder: Path, raw: bytes) -> dict[str, Any]:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SyntheticCohortError(
            f"{folder / SUMMARY_FILE}: not valid JSON ({exc}); regenerate the synthetic cohort"
        ) from None

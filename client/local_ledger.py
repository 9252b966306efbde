"""The privacy ledger a hospital's local release is charged to: the one its data is bound to.

A local release is a DP computation a hospital runs by hand on its own patients, outside a
federated run: the generator of `genofed synth --epsilon E --state-dir DIR`, and the variant
summary of `genofed hospital variants --state-dir DIR` (read from the genotypes alone, so bound by
that file alone; its declared-public rounded release is recorded there too). It is charged
to the ledger in DIR, the same ledger the hospital agent's federated training charges. Why this
module: without the agent's binding, DIR could be any folder. A new DIR for the same patients
started a fresh ledger with a fresh budget (in an audit, rostov's files, whose ledger in
site_rostov/state had spent epsilon 7.96 of 8, trained a generator at epsilon 2 into a new ledger),
and without `--budget` there was no cap at all. So, before anything is trained or written:

- the ledger in DIR is bound to the files the release reads, by the hospital agent's own rules
  (`genofed.client.agent.ledger_binding`): files that already have a ledger in another folder, or
  a folder whose ledger was spent on other files, are refused with the same advice and the same
  overrides (`--new-ledger REASON`, `--data-update REASON`, written to the audit log);
- when DIR is a hospital site's state folder (SITE/state, next to the SITE/hospital.json that
  `genofed hospital check` wrote), what the hospital declared there holds for the release as well
  (an audit found local releases checked against none of it but the budget: a DP variant summary
  took a site's coalition epsilon from 5.99 to 7.12 over its cap of 6, and `--delta 0.01`
  brought a site to epsilon 11.45 at its own delta 1e-5 against a budget of 8):
  - its budget caps the release: the smaller of it and `--budget`;
  - its delta is the largest the release may use: a larger `--delta` is refused (`LocalLedger.
    check_delta`); outside a site, the smallest delta of the ledger's earlier releases holds the
    same way (`_ledger_delta`: releases at delta 0.3 and 0.5, each checked at its own delta, took
    a ledger capped at 3 to epsilon 10.6 at 1e-5, a privacy review);
  - its coalition cap (`max_coalition_epsilon`, from `hospital check --max-coalition-epsilon`)
    caps the site's epsilon against the coordinator and all other sites colluding
    (`PrivacyLedger.coalition_epsilon`), with the release added to that history: a local release
    is seen whole by them, so its step is its own coalition step (`LocalLedger.check_coalition`);
- a DP release needs a cap: outside a site's state folder `--budget` is required (a ledger without
  a cap let repeated releases spend without limit), refused with `NoCap` before anything is read,
  trained, written or charged;
- the budget and the delta are checked against the ledger as it stands, so a refusal leaves
  nothing behind (no state folder, no binding), and so is the coalition cap: exactly when the
  release's steps are known before the data are read (a variant summary's one Gaussian release),
  else where it is sure to be passed. The release checks all three again under the ledger's lock,
  with the noise it calibrated and the steps it will take, before it computes anything or charges.

`bound_state_dir` finds the ledger a file's patients are bound to (the machine-wide index), for a
release that spends nothing and was given no state folder (a rounded variant summary).
`default_delta` is the `--delta` a release uses when none is given: the site's own.

When DIR is a hospital site's state folder, each release is also written to the site's audit log
(`genofed.client.local_release_audit`); a log that cannot be appended to is refused first, in
`check_and_bind`, before anything is computed, trained or charged (`require_appendable_log`).
Outside a site, the `--budget` a DP release was given is recorded beside the ledger
(`genofed.client.local_budget_record`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from genofed.client.agent.audit import appendable_problem
from genofed.client.agent.high_water import DEFAULT_DELTA
from genofed.client.agent.keys import SITE_FILE
from genofed.client.agent.ledger_binding import (
    DataHashes,
    bind_ledger,
    cohort_sha256,
    site_delta,
)
from genofed.client.agent.ledger_indexes import index_path, read_index, registry_path, with_other_indexes
from genofed.client.agent.ledger_report import recorded_budget
from genofed.client.agent.site_layout import AUDIT_FILE, STATE_DIR
from genofed.client.agent.site_settings_record import require_settings_as_recorded
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.privacy.accountant import BudgetExhausted, Step, epsilon_of
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, PrivacyLedger
from genofed.common.util.hashing import file_sha256

#: The steps a release will add to the ledger, given the ledger as it stands and the site's epsilon
#: against the coordinator once it is spent (what the release calibrates its noise to).
ReleaseSteps = Callable[[PrivacyLedger, float], Sequence[Step]]


@dataclass(frozen=True)
class LocalLedger:
    """Where a local release is charged, and the caps it must stay under.

    `state_dir`: the folder holding the ledger; `budget`: the lifetime epsilon cap (None only for a
    release that spends nothing: `local_ledger` refuses a DP release without one); `site_file`: the
    hospital.json whose budget applies, if any;
    `site`: the name the binding records (the site's, else the state folder's);
    `delta`: the largest delta a release may use: the site's (its hospital.json's), or outside a
    site the smallest its ledger's earlier releases were made at (None for a ledger with none);
    `coalition_cap`: the site's `max_coalition_epsilon` (inf when it declared none: it then takes no
    distributed round, so its coalition epsilon is its epsilon, which `budget` caps);
    `declared_size`: the cohort size the site declared public (None when it declared none);
    `audit_log`: the site's audit log (SITE/audit.jsonl) when `state_dir` is a site's state folder,
    checked or not (None elsewhere: no audit log, nothing is written to one);
    `declared_budget`: the budget the site declared (None outside a site): when `budget` is
    smaller, the cap that binds is `--budget`, and a refusal says so.
    """

    state_dir: Path
    budget: float | None
    site_file: Path | None
    site: str = ""
    delta: float | None = None
    coalition_cap: float = math.inf
    declared_size: int | None = None
    audit_log: Path | None = None
    declared_budget: float | None = None

    def check_delta(self, delta: float) -> None:
        """Refuse a release at a larger delta than the site accepts.

        Refused rather than accounted at the site's delta: the release calibrates its noise and states
        its guarantee (the file's header, validation.json) at its own delta, so accounting it at
        another would make the ledger and the release disagree; and the coordinator's delta is
        refused the same way (`coordinator_request.spend_limit`). A smaller delta is accepted: the
        epsilon at a smaller delta is larger, so the ledger checked at it is checked more strictly
        than at the site's delta.
        """
        if self.delta is not None and delta > self.delta * (1 + 1e-9):
            if self.site_file is None:  # a ledger outside a site (`_ledger_delta`)
                source = (
                    f"the most a ledger outside a site takes, or the least its earlier releases in "
                    f"{self.state_dir} were made at; a site declares its own with `genofed hospital check "
                    "--delta`"
                )
            else:
                source = f"declared in {self.site_file} by `genofed hospital check --delta`"
            whose = "this ledger holds" if self.site_file is None else "this hospital accepts"
            raise ConfigError(
                f"--delta {delta:g} is above the delta {whose} ({self.delta:g}, {source}): its budget "
                f"holds at that delta. Give --delta {self.delta:g} or smaller. Nothing was computed, "
                "written or charged."
            )

    @property
    def whose(self) -> str:
        """Whose spending a refusal names: "this site", or "this ledger" for a bare --state-dir,
        which is no site."""
        return "this site" if self.audit_log is not None else "this ledger"

    def check_spend(
        self,
        ledger: PrivacyLedger,
        epsilon: float,
        delta: float,
        *,
        purpose: str,
        refused: str,
        own: bool = False,
    ) -> float:
        """The site's epsilon against the coordinator once `epsilon` more is spent on `purpose`;
        refused (BudgetExhausted, ending with `refused`) over the budget, and over the coalition cap
        where it is sure to pass it before the noise is known: a local release adds to the coalition
        epsilon at least what it adds against the coordinator (each release's coalition noise is at
        most its noise), so the coalition epsilon after it is at least the larger of the two now.
        A release that spends nothing (`epsilon` 0, a declared-public one) is checked against the
        budget only, at any delta.

        `own`: `epsilon` is the release's OWN guarantee (its noise calibrated for it alone, as
        `genofed synth` does), not the ledger's increase. The ledger's total after it is then
        known only with the noise (`check_total`, RDP composition adds less than `epsilon`); here it
        is refused where it is sure to pass the budget (the total after is at least the larger of
        what the ledger holds and `epsilon`), and that lower bound is returned."""
        if epsilon > 0:
            self.check_delta(delta)
        if own:
            spent = ledger.epsilon(delta) if epsilon > 0 else 0.0
            target = max(spent, epsilon)
            budget = math.inf if self.budget is None else self.budget
            if target > budget * (1 + 1e-9) or (epsilon > 0 and spent >= budget):
                raise BudgetExhausted(self._over_budget(spent, epsilon, purpose, refused))
        else:
            target = ledger.epsilon_after(
                epsilon, delta, budget=self.budget, purpose=purpose, refused=refused, whose=self.whose
            )
        if epsilon > 0 and not math.isinf(self.coalition_cap):
            now = ledger.coalition_epsilon(delta)
            if max(now, target) > self.coalition_cap * (1 + 1e-6):
                raise BudgetExhausted(self._over_cap(now, epsilon, purpose, refused))
        return target

    def check_total(
        self,
        ledger: PrivacyLedger,
        release: Sequence[Step],
        delta: float,
        *,
        epsilon: float,
        purpose: str,
        refused: str,
    ) -> float:
        """The ledger's epsilon once `release` (the steps a release of its own epsilon `epsilon`
        adds, at the noise it calibrated) is composed with its history; refused (BudgetExhausted)
        over the budget. RDP composition adds at most `epsilon`, often less: a release at epsilon 1
        took a ledger holding 1.99 to 2.99 only once its noise was that of an epsilon-2 release,
        which is what `--epsilon 1` had bought before (an outside walkthrough)."""
        after = epsilon_of([*ledger.history(), *release], delta)
        if self.budget is not None and after > self.budget * (1 + 1e-6):
            spent = ledger.epsilon(delta)
            raise BudgetExhausted(self._over_budget(spent, epsilon, purpose, refused, after))
        return after

    def _over_budget(
        self, spent: float, epsilon: float, purpose: str, refused: str, after: float | None = None
    ) -> str:
        """The budget refusal of a release of its own `epsilon` (`check_spend(own=True)`, `check_total`)."""
        bring = f"would bring its total to {after:.3g} and" if after is not None else "would"
        return (
            f"{self.whose} has spent epsilon {spent:.3g}; {purpose} at epsilon {epsilon:g} (the release's "
            f"own) {bring} exceed its budget of {self.budget:g}. {refused}"
        )

    def check_coalition(
        self,
        ledger: PrivacyLedger,
        release: Sequence[Step],
        delta: float,
        *,
        epsilon: float,
        purpose: str,
        refused: str,
    ) -> float:
        """The site's epsilon against the coordinator and all other sites colluding once `release`
        (the steps the release adds, at the noise it calibrated) is spent; refused (BudgetExhausted)
        over the site's coalition cap. A local release is no share of a sum: the coalition sees it
        whole, so its steps are its coalition steps."""
        coalition = epsilon_of([*ledger.coalition_history(), *release], delta)
        if coalition > self.coalition_cap * (1 + 1e-6):
            now = ledger.coalition_epsilon(delta)
            raise BudgetExhausted(self._over_cap(now, epsilon, purpose, refused, coalition))
        return coalition

    def _over_cap(
        self, now: float, epsilon: float, purpose: str, refused: str, after: float | None = None
    ) -> str:
        """The coalition refusal, worded as the budget's (`PrivacyLedger.epsilon_after`)."""
        bring = f"would bring it to {after:.2f}, over" if after is not None else "would take it over"
        return (
            f"this site's epsilon against the coordinator and all other sites colluding is {now:.3g}; "
            f"{epsilon:g} more for {purpose} {bring} its cap of {self.coalition_cap:g} "
            f"(--max-coalition-epsilon of `genofed hospital check`, in {self.site_file}: a local release "
            f"counts in full against it). {refused}"
        )


class NoCap(ConfigError):
    """A DP release with no cap: no `--budget` and no site's declared budget."""


def local_ledger(
    state_dir: str | Path, budget: float | None, *, spends: bool = True, delta: float | None = None
) -> LocalLedger:
    """The ledger in `state_dir` and its caps: `budget`, or the site's declared budget when
    `state_dir` is a site's state folder (the smaller of the two when both are given), and the
    site's delta and coalition cap (`LocalLedger`).

    Args:
        spends: the release is DP and spends epsilon: it needs a cap, so with neither `budget` nor
            a site's declared budget it is refused (`NoCap`). False for a release that spends
            nothing (a rounded variant summary, only listed in the ledger).
        delta: the release's delta, refused here when it is above the site's (`check_delta`), before
            anything is read; None: checked later (`check_spend`).
    """
    if budget is not None and not budget > 0:  # NaN included: `spent > nan` is never true, no cap
        raise ConfigError(f"--budget must be a positive epsilon (the lifetime cap), got {budget:g}")
    state_dir = Path(state_dir).resolve()
    site = _site_record(state_dir.parent / SITE_FILE) if state_dir.name == STATE_DIR else {}
    audit_log = state_dir.parent / AUDIT_FILE if site else None
    declared = _declared_budget(site)
    caps = [cap for cap in (budget, declared) if cap is not None and not math.isinf(cap)]
    if spends and not caps:
        raise NoCap(
            f"a DP release charged to {state_dir} needs a cap, and that folder is no hospital site's "
            "state folder with a declared budget: give --budget EPSILON (the lifetime epsilon cap for "
            "these patients, across every release charged to this ledger), or use the site's state "
            "folder (SITE/state, written by `genofed hospital check`). Nothing was computed, written or "
            "charged."
        )
    if declared is None:  # no site's budget: the folder's own ledger (a site's audit log, if any)
        ledger = LocalLedger(
            state_dir,
            min(caps) if caps else None,
            None,
            state_dir.name,
            delta=_ledger_delta(state_dir),
            audit_log=audit_log,
        )
        if spends and delta is not None:
            ledger.check_delta(delta)
        return ledger
    require_settings_as_recorded(state_dir.parent, site)  # never spend against a budget edited by hand
    name = str(site.get("name") or state_dir.name)
    data = site["data"]
    ledger = LocalLedger(
        state_dir,
        min(caps) if caps else None,
        state_dir.parent / SITE_FILE,
        name,
        delta=_number(data, "delta"),
        coalition_cap=_number(data, "max_coalition_epsilon") or math.inf,
        declared_size=int(size) if (size := _number(data, "declared_size")) else None,
        audit_log=audit_log,
        declared_budget=declared,
    )
    if spends and delta is not None:
        ledger.check_delta(delta)
    return ledger


def _ledger_delta(state_dir: Path) -> float:
    """The largest delta a release charged to a ledger outside a site may use: `DEFAULT_DELTA`, or
    the smallest any of its DP releases (or its recorded `--budget`) was made at (`LocalLedger.
    check_delta`). Why: each release was checked against the budget at its own delta, where any
    history is worth less, so releases at delta 0.3 and 0.5 took a ledger capped at 3 to epsilon
    10.6 at 1e-5, and one at 0.9 wrote a negative epsilon that made the ledger unreadable (a privacy
    review, stop 51); a first release at 0.9 alone would reach epsilon 30 at 1e-5 (a review of the
    fix). A site declares a larger delta of its own with `hospital check --delta`, below 1 / its
    patients; a ledger outside a site has no such declaration, so it keeps the default's."""
    deltas = [DEFAULT_DELTA]
    record = recorded_budget(state_dir)
    if record is not None:
        deltas.append(float(record["delta"]))
    if (state_dir / LEDGER_FILE).is_file():
        try:
            ledger = PrivacyLedger(state_dir / LEDGER_FILE)
        except GenofedError:  # damaged: the release refuses it where it reads it, under its lock
            return min(deltas)
        deltas += [c.delta for c in ledger.charges if c.delta is not None and c.kind != DECLARED_PUBLIC]
    return min(deltas)


def default_delta(state_dir: str | Path) -> float:
    """The delta of a release given no `--delta`: the site's own (declared in its hospital.json by
    `genofed hospital check --delta`) when `state_dir` is a site's state folder, else the ledger's
    (`_ledger_delta`: `DEFAULT_DELTA`, or a smaller one its earlier releases were made at).
    Why: a site that declared a smaller delta was refused the old default of 1e-5
    (`LocalLedger.check_delta`) unless its operator gave its delta again by hand; a ledger outside
    a site whose releases used a smaller one would be refused it the same way."""
    if not state_dir:
        return DEFAULT_DELTA
    resolved = Path(state_dir).resolve()
    declared = site_delta(resolved)
    if declared is not None:
        return declared
    return _ledger_delta(resolved) if resolved.is_dir() else DEFAULT_DELTA


def bound_state_dir(genotypes: str | Path, sample_ids: Sequence[str] = ()) -> Path | None:
    """The state folder whose ledger the machine-wide index binds these genotypes to (their file,
    else their patients), or None: for a release given no state folder. An unreadable index is
    no ledger here; the binding itself refuses it where one is given. Every index of the user's
    registry is read (`with_other_indexes`): a release made with another `GENOFED_HOME` finds the
    site's ledger all the same."""
    try:
        files = with_other_indexes(read_index(index_path()), index_path(), registry_path())["files"]
        for sha in (genotypes_sha256(genotypes), cohort_sha256(sample_ids) if len(sample_ids) else ""):
            if sha and sha in files:
                return Path(files[sha]["state_dir"])
    except (GenofedError, OSError, ValueError, KeyError, TypeError):
        return None
    return None


def check_and_bind(
    ledger: LocalLedger,
    genotypes: str | Path,
    phenotypes: str | Path | None,
    *,
    epsilon: float,
    delta: float,
    purpose: str,
    command: str,
    new_ledger: str = "",
    data_update: str = "",
    sample_ids: Sequence[str] = (),
    release: ReleaseSteps | None = None,
    bind: bool = True,
    own: bool = False,
) -> None:
    """Refuse a release of `epsilon` that would pass the budget or the coalition cap, or use a larger
    delta than the site's (nothing written), then bind the ledger to the files it reads (refusing
    data whose ledger is elsewhere, see the module docstring).

    Args:
        phenotypes: None for a release that reads the genotypes only (a variant summary).
        sample_ids: the patients the files hold: they bind the ledger too (`cohort_sha256`), so a
            re-exported file of the same patients is not a fresh budget.
        purpose: what the epsilon is spent on, for the refusal ("the generator").
        command: the command's name, for the binding's records and messages ("synth").
        release: the steps the release will add, when they are known before the data are read (a
            variant summary's one Gaussian release): the coalition cap is then checked exactly here;
            otherwise only where it is sure to be passed (`LocalLedger.check_spend`), and exactly by
            the release under the ledger's lock.
        bind: False: check the binding but write nothing; the release binds with `bind_files` once
            nothing else can refuse it (a refusal then leaves no binding behind).
        own: `epsilon` is the release's own guarantee, not the ledger's increase
            (`LocalLedger.check_spend`): the budget is checked exactly once the noise is known.
    """
    book = PrivacyLedger(ledger.state_dir / LEDGER_FILE)
    refused = _nothing_done(ledger)
    require_appendable_log(ledger.audit_log, refused)
    target = ledger.check_spend(book, epsilon, delta, purpose=purpose, refused=refused, own=own)
    if release is not None and epsilon > 0 and own:  # the steps are known: the total, exactly
        ledger.check_total(
            book, release(book, target), delta, epsilon=epsilon, purpose=purpose, refused=refused
        )
    if release is not None and epsilon > 0 and not math.isinf(ledger.coalition_cap):
        steps = release(book, target)
        ledger.check_coalition(book, steps, delta, epsilon=epsilon, purpose=purpose, refused=refused)
    bind_files(
        ledger,
        genotypes,
        phenotypes,
        command=command,
        new_ledger=new_ledger,
        data_update=data_update,
        sample_ids=sample_ids,
        record=bind,
    )


def bind_files(
    ledger: LocalLedger,
    genotypes: str | Path,
    phenotypes: str | Path | None,
    *,
    command: str,
    new_ledger: str = "",
    data_update: str = "",
    sample_ids: Sequence[str] = (),
    record: bool = True,
) -> None:
    """Bind `ledger` to the files a local release reads and their patients (`bind_ledger`: refused
    when their ledger is elsewhere); `record` False checks without writing. The arguments are
    `check_and_bind`'s."""
    bind_ledger(
        ledger.state_dir,
        DataHashes(
            genotypes_sha256(genotypes),
            file_sha256(phenotypes) if phenotypes is not None else "",
            cohort_sha256(sample_ids) if len(sample_ids) else "",
        ),
        site=ledger.site or ledger.state_dir.name,
        command=command,
        new_ledger=new_ledger,
        data_update=data_update,
        audit_log=ledger.audit_log,
        record=record,
    )


class EpsilonTooSmall(ConfigError):
    """A release's epsilon below what its steps add at the largest noise the accountant calibrates."""


def epsilon_too_small(
    epsilon: float, floor: float, *, delta: float, what: str, alternative: str = "", own: bool = False
) -> EpsilonTooSmall:
    """The refusal of an `--epsilon` that no noise can reach (`calibrate_noise` found none): the
    budget is not the problem, the request is. An audit read "privacy budget exhausted ... either the
    site raises its privacy budget or it stops contributing" for `--epsilon 1e-9` at a site with
    3.5 of 5 left: the accountant's words for a target it cannot reach, whatever the reason.

    Args:
        epsilon: the `--epsilon` given.
        floor: what the release adds to the ledger's epsilon at the largest noise (`SIGMA_MAX` on
            every step): no smaller `--epsilon` can be calibrated.
        delta: the release's delta, at which `floor` was computed.
        what: the release, in words ("the vae generator's release").
        alternative: another way to lower `floor`, appended to the advice (", or fewer --epochs").
        own: `floor` is the release's epsilon on its own (`--epsilon` is the release's own
            guarantee, as `genofed synth` calibrates it), not what it adds to this ledger.
    """
    from genofed.common.privacy.accountant import SIGMA_MAX

    smallest = _rounded_up(floor * 1.05)  # a margin over the floor: the calibration's own tolerance
    return EpsilonTooSmall(
        f"--epsilon {epsilon:g} is too small to calibrate for this release: even at the largest noise "
        f"genofed calibrates (noise multiplier {SIGMA_MAX:g}), {what} "
        + (
            f"is at epsilon {floor:.3g} at delta {delta:g} on its own"
            if own
            else f"adds epsilon {floor:.3g} at delta {delta:g} to this ledger"
        )
        + f". Give --epsilon {smallest:g} or more{alternative} (the budget is not "
        "what refuses it). Nothing was computed, written or charged."
    )


def _rounded_up(value: float, digits: int = 2) -> float:
    """`value` rounded up to `digits` significant digits (0.1043 -> 0.11)."""
    if not value > 0 or math.isinf(value):
        return value
    scale = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return math.ceil(value / scale) * scale


def ledger_words(state_dir: str | Path) -> str:
    """The ledger in `state_dir`, in words for a message: "the site's privacy ledger in SITE/state",
    or for a folder that is no site's state folder, "the privacy ledger in DIR (outside any site
    folder)" (an audit read "the site's privacy ledger in ledgerV" for such a folder)."""
    folder = Path(state_dir)
    resolved = folder.resolve()
    if resolved.name == STATE_DIR and _site_record(resolved.parent / SITE_FILE):
        return f"the site's privacy ledger in {folder}"
    return f"the privacy ledger in {folder} (outside any site folder)"


def genotypes_sha256(genotypes: str | Path) -> str:
    """The genotypes file's SHA-256; of its .bed when `genotypes` is a PLINK prefix (the file
    `genofed hospital check` hashes when given the .bed)."""
    path = Path(genotypes)
    return file_sha256(path if path.is_file() else path.with_name(path.name + ".bed"))


def require_appendable_log(audit_log: Path | None, refused: str) -> None:
    """Refuse, before anything is computed, trained or charged, a site's audit log this process
    cannot append to (a release would be charged, then stopped: `audit_release`). Proven by opening
    it for append (`appendable_problem`): `os.access` passed for root and for a folder in the log's
    place, and an audit saw a release computed and charged, then stopped there."""
    if audit_log is None:
        return
    problem = appendable_problem(audit_log)
    if problem is not None:
        raise ConfigError(
            f"{audit_log}: this site's audit log cannot be appended to ({problem}), and every local "
            f"release at the site is written to it: run the command as the site's user (the agent's), "
            f"or repair the log (a regular file this user can append to). {refused}"
        )


def _site_record(site_file: Path) -> dict:
    """A site's hospital.json ({} when absent or unreadable: a folder named `state` that is not a
    site's)."""
    try:
        record = json.loads(site_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _declared_budget(site: dict) -> float | None:
    """The epsilon budget a site declared in its hospital.json; None when it holds none."""
    try:
        return float(site["data"]["epsilon_budget"])
    except (KeyError, TypeError, ValueError):
        return None


def _number(data: object, key: str) -> float | None:
    """A number a site's hospital.json records under "data" (None when absent, null or no number)."""
    try:
        return float(data[key])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def _nothing_done(ledger: LocalLedger) -> str:
    """The refusal's last words: nothing happened, and where the caps that bind come from (an
    audit read "the one SITE/hospital.json declares" for a `--budget 1.2` below the site's 4)."""
    if ledger.site_file is None:
        return "Nothing was computed or written."
    declared = ledger.declared_budget
    if ledger.budget is not None and declared is not None and ledger.budget < declared:
        budget = (
            f"The budget that binds is --budget {ledger.budget:g}, below the {declared:g} that "
            f"{ledger.site_file} declares."
        )
    else:
        budget = f"The budget is the {_g(declared)} that {ledger.site_file} declares."
    cap = (
        ""
        if math.isinf(ledger.coalition_cap)
        else f" The coalition cap ({ledger.coalition_cap:g}) is the one {ledger.site_file} declares."
    )
    return f"Nothing was computed or written. {budget}{cap}"


def _g(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"

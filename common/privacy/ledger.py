"""The per-site privacy ledger: the on-disk record of every release a hospital paid for.

`PrivacyLedger` keeps a site's history of DP releases (DP-SGD training, noisy evaluations) on
the hospital's disk, not in the federation's memory: a process restart or a node moving between
Ray workers must never forget spent privacy. What that history costs in epsilon is the
accountant's job (`genofed.common.privacy.accountant`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genofed.common.errors import DataError
from genofed.common.privacy.accountant import BudgetExhausted, Step, epsilon_of
from genofed.common.util.atomic import exclusive_lock, write_text_atomic

LEDGER_VERSION = 1
#: The ledger's file name in a site's state folder: one ledger for everything a site spends
#: (federated training, synthetic-data generators).
LEDGER_FILE = "privacy-ledger.json"
#: The ledger kind of a release the hospital's own configuration declared public: exact, no noise,
#: recorded with zero steps (epsilon 0) so the ledger lists every number the site lets out.
DECLARED_PUBLIC = "declared-public"
#: Where this genofed draws a release's noise from (`Charge.noise_source`): a ChaCha20 keystream
#: keyed by the site's secret (`common/privacy/secret_noise.py`, since stop 46), each release rounded to
#: its noise's grid (`common/privacy/snapping.py`, since stop 64), and each DP-SGD step's noisy
#: gradient sum rounded to its own (since stop 65). Change it when the
#: draws change, so that the audit tells releases of different draws apart
#: (tests/unit/common/privacy/test_noise_source_pinned.py pins the draws, and fails when they move).
NOISE_SOURCE = "chacha20-site-secret, snapped per step"


@dataclass
class Charge:
    """One release paid for by the site: what was run and the epsilon total after it."""

    plan_id: str
    round: int
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    note: str = ""
    #: Digest of what the round was computed from (the site's data, global weights and settings),
    #: for the audit (a rerun is answered from the kept reply: see `PrivacyLedger`).
    input_digest: str = ""
    #: What was released: "train" (a DP-SGD update) or "evaluate" (a noisy score histogram of
    #: the validation patients, `genofed.common.privacy.release`). Both compose in one RDP history.
    kind: str = "train"
    #: Distributed DP (docs/distributed-dp.md): the noise multiplier of the site's own share of
    #: the noise, all that protects its patients against the coordinator and every other site
    #: colluding; `noise_multiplier` is then the one the coordinator faces (the sum of at least m
    #: sites' shares). None (every local-DP release, and ledgers written before distributed DP):
    #: the same as `noise_multiplier`.
    coalition_noise_multiplier: float | None = None
    #: The delta the release was calibrated and reported at (its `epsilon_after` is at this delta):
    #: the coordinator's for a federated round, the command's `--delta` for a local release, the
    #: site's for a declared-public entry. None: a ledger written before charges recorded it.
    delta: float | None = None
    #: Where the release's noise was drawn from (`NOISE_SOURCE` of the genofed that charged it).
    #: None: a charge written before it was recorded, by a genofed whose draws may differ.
    noise_source: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.plan_id, self.kind, self.round)

    @property
    def step(self) -> Step:
        """The release as the coordinator faces it (the accountant's step)."""
        return (self.noise_multiplier, self.sample_rate, self.steps)

    @property
    def coalition_step(self) -> Step:
        """The release as the coordinator and all other sites colluding face it."""
        share = self.coalition_noise_multiplier
        sigma = self.noise_multiplier if share is None else share
        return (float(sigma), self.sample_rate, self.steps)

    def to_dict(self) -> dict[str, Any]:
        """The charge as the ledger file stores it; a local-DP charge without the coalition field,
        so its entries read exactly as before distributed DP existed, and a charge loaded from an
        older ledger without the delta it never recorded (the file is not given one it never had)."""
        # its fields one by one, not `asdict` (a deep copy of each): a site's every charge is written
        # again at each charge (`bench/ledger_growth.py`'s "one more charge")
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for optional in ("coalition_noise_multiplier", "delta", "noise_source"):
            if data[optional] is None:
                del data[optional]
        return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def charge_problem(charge: Charge) -> str:
    """What is wrong with a charge read from a ledger file, in words; "" when nothing is.

    Why: the accountant silently skips a release of zero or fewer steps and reads a huge or negative
    noise multiplier as (almost) no privacy spent, so an edited or damaged charge would lower what
    every reader (the DPO's `hospital ledger`, a release's budget check) says the site has spent.
    A release the hospital declared public is exact: zero steps at noise 0 and sample rate 1."""
    public = charge.kind == DECLARED_PUBLIC
    if not _is_int(charge.round):
        return f"round is {charge.round!r}, not an integer"
    if not _is_int(charge.steps) or charge.steps < 0 or (charge.steps == 0) != public:
        want = "0 (a declared-public entry)" if public else "a positive integer"
        return f"steps is {charge.steps!r}, expected {want}"
    sigma = charge.noise_multiplier
    if not _is_number(sigma) or not math.isfinite(sigma) or sigma < 0 or (sigma == 0 and not public):
        return f"noise_multiplier is {sigma!r}, expected a finite number above 0"
    share = charge.coalition_noise_multiplier
    if share is not None and (not _is_number(share) or not math.isfinite(share) or share <= 0):
        return f"coalition_noise_multiplier is {share!r}, expected a finite number above 0"
    rate = charge.sample_rate
    if not _is_number(rate) or not 0 < rate <= 1:
        return f"sample_rate is {rate!r}, expected a number in (0, 1]"
    if charge.delta is not None and (not _is_number(charge.delta) or not 0 < charge.delta < 1):
        return f"delta is {charge.delta!r}, expected a number in (0, 1)"
    if not _is_number(charge.epsilon_after) or math.isnan(charge.epsilon_after) or charge.epsilon_after < 0:
        return f"epsilon_after is {charge.epsilon_after!r}, expected a number of 0 or more"
    return ""


class PrivacyLedger:
    """The site's on-disk record of privacy spent: {"version": 1, "plans": {...}, "charges": [...]}.

    One release per (plan_id, kind, round): the same request again is answered with the reply
    the site kept (`genofed.client.kept_replies`: the same output again reveals nothing new, so it
    costs nothing) and `check_rerun` refuses any other release under a charged key. Charging the
    same key again replaces the earlier charge only when it is the same release (the same noise,
    rate and steps), instead of adding to it. Each charge records its input digest (what it was
    computed from) and its noise source, for the audit.

    Every change is written atomically, so a crash leaves either the old or the new ledger. A
    ledger that cannot be read is an error, never silently reset: resetting would forget spent
    privacy.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.plans: dict[str, dict[str, Any]] = {}
        self.charges: list[Charge] = []
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != LEDGER_VERSION:
                raise ValueError(f"unsupported ledger version {data.get('version')!r}")
            self.plans = {str(k): dict(v) for k, v in data["plans"].items()}
            if not isinstance(data["charges"], list):
                raise ValueError(f"'charges' is a {type(data['charges']).__name__}, not a list")
            charges = [Charge(**c) for c in data["charges"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(
                self.path,
                f"the privacy ledger is unreadable or corrupt ({exc})",
                hint=(
                    "restore it from a backup; genofed will not start a fresh ledger, because that would "
                    "forget privacy already spent"
                ),
            ) from exc
        for number, charge in enumerate(charges, start=1):
            problem = charge_problem(charge)
            if problem:
                raise DataError(
                    self.path,
                    f"charge {number} (plan {charge.plan_id!r}, {charge.kind} round {charge.round!r}): "
                    f"{problem}; the ledger was edited or damaged, and what it says this site spent "
                    "cannot be trusted",
                    hint=(
                        "restore it from its latest backup; genofed will not read it, because a wrong value "
                        "would understate the privacy already spent"
                    ),
                )
        self.charges = charges

    @classmethod
    @contextlib.contextmanager
    def locked_at(cls, path: str | Path) -> Iterator[PrivacyLedger]:
        """The ledger at `path`, read once under its lock, for a check-train-charge cycle (`locked`).
        Why not `PrivacyLedger(path).locked()`: that parses the file twice, once unlocked (a cost per
        message that grows with the ledger: `bench/ledger_growth.py`) and again under the lock."""
        ledger = cls.__new__(cls)
        ledger.path, ledger.plans, ledger.charges = Path(path), {}, []
        with ledger.locked() as held:
            yield held

    @contextlib.contextmanager
    def locked(self) -> Iterator[PrivacyLedger]:
        """Hold the site's ledger lock, with the ledger re-read, for a whole check-train-charge
        cycle: two runs at one site must not both pass the budget check and then overwrite each
        other's charge (the file is rewritten whole on every change)."""
        with exclusive_lock(self.path):
            self.plans, self.charges = {}, []
            if self.path.exists():
                self._load()
            yield self

    def _save(self) -> None:
        charges = [c.to_dict() for c in self.charges]
        data = {"version": LEDGER_VERSION, "plans": self.plans, "charges": charges}
        write_text_atomic(self.path, json.dumps(data, indent=2) + "\n")

    def history(self) -> list[Step]:
        return [c.step for c in self.charges]

    def epsilon(self, delta: float) -> float:
        """The site's epsilon against the coordinator (under distributed DP: one that sees only sums)."""
        return epsilon_of(self.history(), delta)

    def epsilon_after(
        self,
        more: float,
        delta: float,
        *,
        budget: float | None,
        purpose: str,
        refused: str,
        whose: str = "this site",
    ) -> float:
        """The epsilon this site will have spent once `more` is spent on `purpose`; refused with
        BudgetExhausted (ending with `refused`: what was not done) when that passes `budget`.
        `whose`: whose spending the refusal names ("this ledger" for a ledger outside any site)."""
        spent = self.epsilon(delta)
        target = spent + more
        if budget is not None and target > budget:
            raise BudgetExhausted(
                f"{whose} has spent epsilon {spent:.3g}; {more:g} more for {purpose} would exceed its "
                f"budget of {budget:g}. {refused}"
            )
        return target

    def coalition_history(self) -> list[Step]:
        return [c.coalition_step for c in self.charges]

    def coalition_epsilon(self, delta: float) -> float:
        """The site's epsilon against the coordinator and all other sites colluding: the same
        accountant over each release's own noise share (equal to `epsilon` without distributed DP)."""
        return epsilon_of(self.coalition_history(), delta)

    def charge(self, charge: Charge) -> None:
        """Record a release; replaces an earlier charge with the same (plan_id, kind, round) only
        when it is that release again (the same noise, sample rate and steps: a rerun of the same
        inputs with the same noise draw, `check_rerun`). A release under the same key with other
        noise is a second release, which replacing would leave uncharged: refused."""
        for earlier in self.charges:
            if earlier.key == charge.key and earlier.step != charge.step:
                raise BudgetExhausted(
                    f"round {charge.round} of plan {charge.plan_id} ({charge.kind}) was already released "
                    f"with noise {earlier.step}; a release with {charge.step} under the same round would be "
                    "a second, uncharged release: refused (a new run is a new plan)"
                )
        if charge.steps:  # a declared-public entry (zero steps) drew no noise
            charge.noise_source = NOISE_SOURCE
        self.charges = [c for c in self.charges if c.key != charge.key] + [charge]
        self._save()

    def declare_public(self, plan_id: str, *, note: str, input_digest: str, delta: float) -> None:
        """List a release the hospital's configuration declared public (exact, not differential
        privacy): a zero-step entry, epsilon 0, under `plan_id` (declaring the same again replaces it).

        Args:
            plan_id: names what was declared (e.g. the file's digest), so a repeat is one entry.
            note: what was released, in words the hospital's operator reads in the ledger.
            input_digest: the digest of what the released number was computed from.
            delta: the site's delta, for the `epsilon_after` the entry shows (recorded with it).
        """
        self.charge(
            Charge(
                plan_id=plan_id,
                round=0,
                noise_multiplier=0.0,
                sample_rate=1.0,
                steps=0,
                epsilon_after=self.epsilon(delta),
                note=note,
                input_digest=input_digest,
                kind=DECLARED_PUBLIC,
                delta=float(delta),
            )
        )

    def charges_of(self, plan_id: str, kind: str) -> list[Charge]:
        """This plan's charges of one kind ("train" or "evaluate")."""
        return [c for c in self.charges if c.plan_id == plan_id and c.kind == kind]

    def check_rerun(self, plan_id: str, round: int, kind: str = "train") -> None:
        """Refuse a second release under a charged round's key. The same request again is answered
        before this, with the reply the site sent (`genofed.client.kept_replies`); anything else
        (another global model or other settings, a round whose reply was not kept) would release
        again on one charge. Decided on the key alone, never on the site's data: until stop 54 the
        site trained a repeated request again, identical when its data had not changed and refused
        when it had, which told a coordinator that replayed a round, uncharged, whether any
        patient's record had changed (a red-team audit)."""
        if not any(charge.key == (plan_id, kind, round) for charge in self.charges):
            return
        what = "trained" if kind == "train" else "evaluated"
        raise BudgetExhausted(
            f"round {round} of this run was already {what} here and its reply sent; the very same request "
            "is answered with that reply, and this one is not it (another global model or other settings, "
            "or a reply this site did not keep: it stopped before keeping it, or an earlier genofed sent "
            "it). Releasing the round again would be a second release on one charge. Refused: the "
            f"coordinator must start a new run (a new plan: a plan-id other than {plan_id!r} in its "
            "messages' config) instead."
        )

    def plan(self, plan_id: str) -> dict[str, Any] | None:
        return self.plans.get(plan_id)

    def set_plan(
        self,
        plan_id: str,
        noise_multiplier: float,
        sample_rate: float,
        planned_steps: int,
        target_epsilon: float,
        delta: float,
        *,
        evaluations: int = 0,
        evaluation_noise: float = 0.0,
        model: str = "",
        distributed: dict[str, float] | None = None,
    ) -> None:
        """Remember how a plan was calibrated, so every round of it uses the same noise.

        `evaluations` noisy evaluations at `evaluation_noise` were paid for in the calibration;
        `model` is the digest of the model architecture the plan trains: any other is refused.
        `distributed` (distributed DP only): the noise-share sites m it was calibrated for and
        the site's coalition cap (`max_coalition_epsilon`, absent when none).
        """
        self.plans[plan_id] = {
            "noise_multiplier": float(noise_multiplier),
            "sample_rate": float(sample_rate),
            "planned_steps": int(planned_steps),
            "target_epsilon": float(target_epsilon),
            "delta": float(delta),
            "evaluations": int(evaluations),
            "evaluation_noise": float(evaluation_noise),
            "model": str(model),
            **({"distributed": dict(distributed)} if distributed else {}),
        }
        self._save()

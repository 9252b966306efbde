"""Differential-privacy accounting that a hospital can trust across rounds, restarts and re-runs.

Each site's privacy loss is the composition of every DP-SGD run it ever did on its patients.
The history of those runs is a list of `Step`s, exactly Opacus' RDP accountant history, so it
can be stored, summed across rounds, and re-evaluated for any delta.

`PrivacyLedger` keeps that history on the hospital's disk (not in the federation's memory: a
process restart or a node moving between Ray workers must never forget spent privacy).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.errors import DataError, GenofedError
from genofed.common.util.atomic import exclusive_lock, write_text_atomic

#: (noise_multiplier, sample_rate, steps), as in Opacus' RDPAccountant.history.
Step = tuple[float, float, int]

#: Above this noise multiplier an update is almost pure noise (for a batch of 32 the noise per
#: coordinate of the averaged gradient would be ~0.6 x the clipping norm): a site whose remaining
#: budget only allows that refuses (client/budget.py), and the coordinator caps a reported noise at
#: it when it bounds an update's norm (server/integrity.py).
MAX_USEFUL_NOISE = 20.0

SIGMA_MIN = 0.3
SIGMA_MAX = 200.0
#: Relative tolerance of the noise calibration: sigma is found within 1 %.
SIGMA_RTOL = 0.01

LEDGER_VERSION = 1
#: The ledger's file name in a site's state folder: one ledger for everything a site spends
#: (federated training, synthetic-data generators).
LEDGER_FILE = "privacy-ledger.json"


class BudgetExhausted(GenofedError):
    """The site's privacy budget cannot pay for the planned training."""


def epsilon_of(history: list[Step], delta: float) -> float:
    """Epsilon (RDP accounting, Opacus' orders) of a whole history at `delta`; 0 if empty.

    The same arithmetic as Opacus' `RDPAccountant.get_epsilon`, but each (noise, sample rate)
    pair's per-step RDP curve is computed once and cached: RDP composes linearly in the number
    of steps, and at the high sample rates of small sites (a batch of 32 from 40 patients) one
    curve costs ~0.1 s, which a site would otherwise pay for every past round, in every round.
    """
    steps = [(float(s), float(q), int(n)) for s, q, n in history if int(n) > 0]
    if not steps:
        return 0.0
    from opacus.accountants.analysis import rdp as analysis

    rdp = sum(n * _unit_rdp(sigma, q) for sigma, q, n in steps)
    with warnings.catch_warnings():
        # "Optimal order is the largest/smallest alpha": the bound is then looser than it could
        # be, i.e. conservative; it happens routinely at the extremes of calibration.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps, _ = analysis.get_privacy_spent(orders=_orders(), rdp=rdp, delta=delta)
    return float(eps)


@functools.lru_cache(maxsize=4096)
def _unit_rdp(sigma: float, sample_rate: float) -> np.ndarray:
    """RDP of one subsampled-Gaussian step at every order (read-only: the cache shares it)."""
    from opacus.accountants.analysis import rdp as analysis

    curve = np.asarray(
        analysis.compute_rdp(q=sample_rate, noise_multiplier=sigma, steps=1, orders=_orders()),
        dtype=np.float64,
    )
    curve.setflags(write=False)
    return curve


def _orders() -> list[float]:
    from genofed.common.model.network import RDPAccountant  # opacus, imported without its logging side effect

    return RDPAccountant.DEFAULT_ALPHAS


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps per epoch: ceil(n / batch_size), as a DataLoader without drop_last."""
    if n < 1:
        raise ValueError("cannot train on zero examples")
    return math.ceil(n / max(1, batch_size))


def sample_rate(n: int, batch_size: int) -> float:
    """Poisson sampling rate of a DP run: 1 / steps_per_epoch, exactly what Opacus uses.

    This equals batch_size / n when batch_size divides n, and is slightly below it otherwise
    (a calibration done at batch_size / n is then conservative). Calibrate noise with this value
    so the plan matches the run.
    """
    return 1.0 / steps_per_epoch(n, batch_size)


def calibrate_noise(
    history: list[Step], *, sample_rate: float, steps: int, target_epsilon: float, delta: float
) -> float:
    """Smallest noise multiplier that keeps the total epsilon (history + new run) <= target.

    Bisection in log(sigma) over [SIGMA_MIN, SIGMA_MAX]: epsilon is monotone decreasing in sigma,
    and log-space makes the 1 % tolerance uniform across 0.3 .. 200. The upper end of the bracket
    is returned, so the result is always on the safe side of the target.

    Raises BudgetExhausted when the history alone already reaches the target, or when even
    SIGMA_MAX cannot keep the new run within it.
    """
    spent = epsilon_of(history, delta)
    if spent >= target_epsilon:
        raise BudgetExhausted(
            _exhausted(f"this site has already spent epsilon {spent:.3g}", target_epsilon, delta)
        )

    def total(sigma: float) -> float:
        return epsilon_of([*history, (sigma, sample_rate, steps)], delta)

    if total(SIGMA_MAX) > target_epsilon:
        raise BudgetExhausted(
            _exhausted(
                f"this site has spent epsilon {spent:.3g}, and {steps} more steps at sample rate {sample_rate:.3g} "
                f"would exceed the budget even with noise multiplier {SIGMA_MAX:g}",
                target_epsilon,
                delta,
            )
        )
    if total(SIGMA_MIN) <= target_epsilon:
        return SIGMA_MIN
    lo, hi = math.log(SIGMA_MIN), math.log(SIGMA_MAX)
    while hi - lo > math.log1p(SIGMA_RTOL):
        mid = 0.5 * (lo + hi)
        if total(math.exp(mid)) <= target_epsilon:
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def _exhausted(what: str, budget: float, delta: float) -> str:
    return (
        f"privacy budget exhausted: {what}; the budget is epsilon {budget:g} at delta {delta:g}. "
        "Either the site raises its privacy budget (a governance decision) or it stops contributing to this federation."
    )


@dataclass
class Charge:
    """One DP-SGD run paid for by the site: what was run and the epsilon total after it."""

    plan_id: str
    round: int
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    note: str = ""
    #: Digest of what the round was computed from (global weights and settings). A re-run of the
    #: same (plan_id, kind, round) is free only if this matches: see `PrivacyLedger`.
    input_digest: str = ""
    #: What was released: "train" (a DP-SGD update) or "evaluate" (a noisy score histogram of
    #: the validation patients, `genofed.common.privacy.release`). Both compose in one RDP history.
    kind: str = "train"

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.plan_id, self.kind, self.round)

    @property
    def step(self) -> Step:
        return (self.noise_multiplier, self.sample_rate, self.steps)


class PrivacyLedger:
    """The site's on-disk record of privacy spent: {"version": 1, "plans": {...}, "charges": [...]}.

    Idempotent per (plan_id, round): charging the same key again replaces the earlier charge
    instead of adding to it. Why that is sound: a round's training is deterministic given the
    global weights, the data and the site's secret seed (which fixes batch sampling and noise),
    so re-running the round after a crash releases exactly the same output as before. Releasing
    the same output twice reveals nothing new, so it costs no extra privacy. This holds only for
    identical inputs: the same noise on a different input would let whoever holds both replies
    subtract the noise. So each charge records its input digest, and `check_rerun` refuses a
    re-run of a charged round with different inputs.

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
            self.charges = [Charge(**c) for c in data["charges"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(
                self.path,
                f"the privacy ledger is unreadable or corrupt ({exc})",
                hint="restore it from a backup; genofed will not start a fresh ledger, because that would forget privacy already spent",
            ) from exc

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
        data = {"version": LEDGER_VERSION, "plans": self.plans, "charges": [asdict(c) for c in self.charges]}
        write_text_atomic(self.path, json.dumps(data, indent=2) + "\n")

    def history(self) -> list[Step]:
        return [c.step for c in self.charges]

    def epsilon(self, delta: float) -> float:
        return epsilon_of(self.history(), delta)

    def charge(self, charge: Charge) -> None:
        """Record a release; replaces an earlier charge with the same (plan_id, kind, round)."""
        self.charges = [c for c in self.charges if c.key != charge.key] + [charge]
        self._save()

    def charges_of(self, plan_id: str, kind: str) -> list[Charge]:
        """This plan's charges of one kind ("train" or "evaluate")."""
        return [c for c in self.charges if c.plan_id == plan_id and c.kind == kind]

    def check_rerun(self, plan_id: str, round: int, input_digest: str, kind: str = "train") -> None:
        """Refuse to re-run a charged round on different inputs (it would reuse its noise)."""
        for charge in self.charges:
            if (
                charge.key == (plan_id, kind, round)
                and charge.input_digest
                and charge.input_digest != input_digest
            ):
                what = "trained" if kind == "train" else "evaluated"
                raise BudgetExhausted(
                    f"round {round} of this run was already {what} on a different global model or settings; "
                    "doing it again would reuse its noise on new inputs, which would let the noise be "
                    "subtracted. Refused: the coordinator must start a new run (a new plan) instead."
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
    ) -> None:
        """Remember how a plan was calibrated, so every round of it uses the same noise.

        `evaluations` noisy evaluations at `evaluation_noise` were paid for in the calibration;
        `model` is the digest of the model architecture the plan trains: any other is refused.
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
        }
        self._save()

"""Differential-privacy accounting: what a history of DP-SGD steps costs, and the noise that fits a budget.

A site's privacy loss is the composition of every DP-SGD run it ever did on its patients. The
history of those runs is a list of `Step`s, exactly Opacus' RDP accountant history, so it can be
stored (`genofed.common.privacy.ledger`), summed across rounds, and re-evaluated for any delta.
`calibrate_noise` finds the smallest noise multiplier that keeps history plus a planned run
within the site's budget.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from genofed.common.errors import GenofedError

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
    return _epsilon(sum(n * _unit_rdp(sigma, q) for sigma, q, n in steps), delta)


def epsilons_after_each(history: list[Step], delta: float) -> list[float]:
    """`epsilon_of(history[: i + 1], delta)` for every i, from one running RDP sum (the same
    additions in the same order, so the same values). Why: `genofed hospital ledger` computed
    every prefix afresh, work that grows with the square of the ledger (`bench/ledger_growth.py`)."""
    epsilons, rdp = [], None
    for sigma, q, n in history:
        if int(n) > 0:
            step = int(n) * _unit_rdp(float(sigma), float(q))
            rdp = step if rdp is None else rdp + step
        epsilons.append(0.0 if rdp is None else _epsilon(rdp, delta))
    return epsilons


def _epsilon(rdp: np.ndarray, delta: float) -> float:
    """Epsilon at `delta` of a composed RDP curve (at `_orders()`)."""
    from opacus.accountants.analysis import rdp as analysis

    with warnings.catch_warnings():
        # "Optimal order is the largest/smallest alpha": the bound is then looser than it could
        # be, i.e. conservative; it happens routinely at the extremes of calibration.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps, _ = analysis.get_privacy_spent(orders=_orders(), rdp=rdp, delta=delta)
    # the conversion's log(1/delta) term turns negative for delta near 1: no release has a negative
    # epsilon (a ledger once recorded one and could not be read again)
    return max(float(eps), 0.0)


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
                f"this site has spent epsilon {spent:.3g}, and {steps} more steps at sample rate "
                f"{sample_rate:.3g} would exceed the budget even with noise multiplier {SIGMA_MAX:g}",
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
        f"privacy budget exhausted: {what}; the budget is epsilon {budget:g} at delta {delta:g}. Either the "
        "site raises its privacy budget (a governance decision) or it stops contributing to this federation."
    )

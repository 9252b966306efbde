"""A hospital's FedAvg weight when it reports more DP noise than the run's plan gives a fresh site.

The update-norm screen (`genofed.server.integrity`) bounds each update by what DP-SGD with the
agreed settings can produce, and the noise part of that bound is proportional to the noise
multiplier the reply itself reports. A hospital that claims sigma 20 while it trains with 1.24
(or does not train at all) gets a bound about 16 times the honest one, and within it can send
any direction of that norm. The coordinator cannot refuse a large sigma: an honest hospital with
a tighter budget of its own, or a ledger partly spent elsewhere, legitimately reports more.

What it can do is weigh a noisier update less, as an average of noisy estimates should anyway:
it computes the noise multiplier a fresh hospital would use on this run's plan (no earlier
spending, the run's epsilon, its declared rows, the planned evaluations: the same calibration
the hospital runs, `client/budget.py`, from public facts only), and when a reply reports more
than `NOISE_SLACK` times that, its example count (FedAvg's weight) is multiplied by
(NOISE_SLACK x fresh / reported)^2. Its bound grows linearly in the reported sigma and its weight
falls with its square, so claiming more noise than the slack lowers a hospital's pull on the
average instead of raising it: the most any claim buys is NOISE_SLACK times an honest fresh
hospital's. Honest hospitals within the slack keep their weight exactly, so the aggregate is
unchanged for them: every hospital of a simulation, one whose own budget is two thirds of the
run's epsilon (1.33-1.45x the fresh noise) or that spent two thirds of its budget on a synthetic
generator's release first (1.32-1.47x; `bench/noise_weighting.py`). See docs/robust-aggregation.md.

Under SecAgg+ the coordinator sees no single update and no screen runs; a robust aggregator
(median, trimmed mean, Krum) ignores the weights altogether.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genofed.common.privacy.accountant import BudgetExhausted, calibrate_noise, sample_rate, steps_per_epoch
from genofed.common.privacy.release import evaluation_steps

if TYPE_CHECKING:
    from genofed.server.settings import RunSettings

#: How far above a fresh hospital's planned noise a reported noise multiplier keeps its full
#: weight: honest hospitals with a budget of their own down to two thirds of the run's stay within
#: it, and a false claim buys at most 1.5x an honest hospital's weight times bound.
NOISE_SLACK = 1.5


@dataclass(frozen=True)
class RunNoisePlan:
    """The public facts a fresh hospital's noise follows from: the run's privacy and training.

    epsilon, delta: the run's per-hospital budget (inf: no DP, nothing to weigh).
    rounds: training rounds of the plan; epochs, batch_size: local training per round.
    evaluations: the noisy evaluations each hospital pays for in the same plan.
    """

    epsilon: float
    delta: float
    rounds: int
    epochs: int
    batch_size: int
    evaluations: int

    @classmethod
    def from_settings(cls, settings: RunSettings) -> RunNoisePlan:
        return cls(
            epsilon=settings.epsilon if settings.private else math.inf,
            delta=settings.delta,
            rounds=settings.rounds,
            epochs=settings.local_epochs,
            batch_size=settings.batch_size,
            evaluations=settings.site_evaluations,
        )

    def fresh_noise(self, rows: int) -> float | None:
        """The noise multiplier a hospital with no earlier spending plans for this run on `rows`
        training rows (declared patients plus synthetic records); None without DP or when even
        the largest noise cannot fit the budget (such a hospital refuses to train)."""
        if math.isinf(self.epsilon) or rows < 1 or self.rounds < 1:  # rounds 0: not yet resolved
            return None
        return _fresh_noise(self, rows)

    def weight_factor(self, rows: int, reported: float) -> float:
        """What a reply's example count is multiplied by: 1 within NOISE_SLACK x the fresh noise,
        else (NOISE_SLACK x fresh / reported)^2."""
        fresh = self.fresh_noise(rows)
        if fresh is None or not reported > NOISE_SLACK * fresh:
            return 1.0
        return (NOISE_SLACK * fresh / reported) ** 2


@functools.lru_cache(maxsize=1024)
def _fresh_noise(plan: RunNoisePlan, rows: int) -> float | None:
    """`RunNoisePlan.fresh_noise`, computed once per plan and row count (a bisection over the
    accountant): the calibration of client/budget.py's `_calibrate_plan` on an empty ledger."""
    try:
        return calibrate_noise(
            evaluation_steps(plan.epsilon, plan.evaluations),
            sample_rate=sample_rate(rows, plan.batch_size),
            steps=plan.rounds * plan.epochs * steps_per_epoch(rows, plan.batch_size),
            target_epsilon=plan.epsilon,
            delta=plan.delta,
        )
    except BudgetExhausted:
        return None

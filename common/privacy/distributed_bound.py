"""How far a distributed-DP reply can reach, from public values only.

Under `privacy=distributed` a hospital's reply to a SecAgg+ round carries only its share of the
noise (docs/distributed-dp.md). SecAgg+ clips what leaves its clipping range, so a hospital must
refuse a range its reply could leave, and that refusal is not masked. Refused on the reply's own
values, it was one bit of a reply the coordinator-facing epsilon does not cover: an outside audit
(stop 47) crafted a bias of 5, set the range just below and just above the reply, and read the
one reply's bias to 6e-5 in 17 sessions of a simulated hospital. So the hospital decides on
`reply_bound`, a function of public values, and the coordinator chooses a range that holds it
(`server.secagg.distributed_clipping_range`).

The reply is w_i = w - lr * k * (sum over T batches of (clipped sum + noise)) / (n_i q T)
(`client.distributed_round`), k = 1 for the "mean" step and `momentum_travel(T, beta)` for "sum".
Each patient drawn moves a weight's clipped sum by at most C (a clipped gradient's norm is at
most C); the round draws Binomial(n T, q) patients; each weight's noise over the T batches has
sd sigma_share C sqrt(T). Taking the draws 10 standard deviations plus 40 above their mean
(Chernoff: probability below e^-50) and the noise 10 standard deviations out (below 1.6e-23 per
weight), a reply passes the bound with probability below 1e-15 for models up to a million
weights: within delta.

The draws are counted from a public number of rows: `rows_ceiling` of the declared training size
(twice it plus ten), never the site's exact count. A site holding more training rows than that
refuses every distributed round before it plans, computes or charges anything
(`client.distributed_round.refuse_rows_beyond_ceiling`). Why: counted from the exact rows where
they exceeded the declared size, the bound quoted in a refusal gave the coordinator, which sets
the clipping range, the exact number of training patients (an outside privacy review, stop 51).
"""

from __future__ import annotations

import math

from genofed.common.privacy.accountant import BudgetExhausted, calibrate_noise

#: Standard deviations of the noise and of the patient draws the bound allows (module docstring).
BOUND_SDS = 10.0
#: The most training rows a distributed round draws from: ROWS_CEILING_FACTOR x the declared
#: training size + ROWS_CEILING_SLACK. The slack covers the default declaration (the count rounded
#: to 10: at most 5 patients short); the factor is where `hospital check` warns that a declared
#: size is far from the real count.
ROWS_CEILING_FACTOR = 2
ROWS_CEILING_SLACK = 10


def rows_ceiling(weight_rows: int) -> int:
    """The most training rows a site with `weight_rows` declared training patients may draw from
    in a distributed round (module docstring): a function of its declared size only."""
    return ROWS_CEILING_FACTOR * max(int(weight_rows), 1) + ROWS_CEILING_SLACK


def reply_bound(
    *,
    start: float,
    lr: float,
    clip: float,
    noise_share: float,
    weight_rows: int,
    sample_rate: float,
    steps: int,
    travel: float,
) -> float:
    """The largest |weight| a distributed reply can hold but with probability below 1e-15.

    start: the largest |weight| of the global model the round starts from.
    lr, clip: the round's learning rate and clipping norm C.
    noise_share: sigma_share, the noise multiplier the site adds itself.
    weight_rows: n_i, the declared training size the reply is divided by; its batches draw from
        at most `rows_ceiling(weight_rows)` rows.
    sample_rate, steps: the round's common rate q and its T batches.
    travel: k, how many mean-gradient lengths the step goes (1 for "mean").
    """
    mean = float(rows_ceiling(weight_rows)) * steps * sample_rate
    draws = mean + BOUND_SDS * math.sqrt(mean) + 4 * BOUND_SDS
    noise = BOUND_SDS * noise_share * clip * math.sqrt(steps)
    divisor = float(weight_rows) * sample_rate * (steps / travel)
    return start + abs(lr) * (clip * draws + noise) / divisor


def distributed_floor(run_epsilon: float, sample_rate: float, steps: int, delta: float) -> float:
    """The least noise multiplier any site of a distributed run plans: a fresh site's at the
    epsilon the coordinator asked every site for (`run_epsilon`), with no evaluations reserved,
    over the plan's `steps` batches at the common rate. Every site's plan fits a budget at most
    that epsilon after its own history, its evaluations and its coalition cap, so its noise is at
    least this (`client.budget.distributed_share`). 0 when the run asked for no finite epsilon or
    none can be met: a site then adds its whole noise itself."""
    if math.isinf(run_epsilon):
        return 0.0
    try:
        return calibrate_noise(
            [], sample_rate=sample_rate, steps=steps, target_epsilon=run_epsilon, delta=delta
        )
    except BudgetExhausted:
        return 0.0


def momentum_travel(steps: int, momentum: float) -> float:
    """How many gradient lengths `steps` steps of SGD with heavy-ball `momentum` (PyTorch's: the
    velocity starts at 0, v_t = momentum v_(t-1) + g, w -= lr v_t) move along a constant
    gradient: sum_(t=1..T) (1 - momentum^t) / (1 - momentum); T without momentum. A local round
    starts each optimizer afresh, so this is how far the T local steps of a local-DP round go."""
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if momentum == 0.0:
        return float(steps)
    return (steps - momentum * (1.0 - momentum**steps) / (1.0 - momentum)) / (1.0 - momentum)

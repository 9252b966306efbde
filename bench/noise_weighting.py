"""How far an honest hospital's noise multiplier lies above a fresh hospital's on the same plan,
against the coordinator's slack (server/noise_weighting.py, NOISE_SLACK), and what a false claim
buys (its FedAvg weight times its update-norm bound, relative to an honest fresh hospital's).

    .venv/bin/python bench/noise_weighting.py

The plan is the logistic rule's (10 rounds x 2 local epochs, batch 32, delta 1e-5, one planned
evaluation). "own budget f": a hospital whose own epsilon budget is f x the run's; "spent s": a
hospital that first spent s x its budget on one Gaussian release at sample rate 1 (the reference
generator's, `genofed synth --generator reference`). Pure arithmetic (the accountant's
calibrations), under a minute.
"""

from __future__ import annotations

import argparse

from genofed.common.privacy.accountant import calibrate_noise, sample_rate, steps_per_epoch
from genofed.common.privacy.release import evaluation_steps
from genofed.server.integrity import LocalTraining, norm_bound
from genofed.server.noise_weighting import NOISE_SLACK, RunNoisePlan


def honest_noise(plan: RunNoisePlan, rows: int, *, budget: float, spent: float) -> float:
    """The noise multiplier `client/budget.py` plans for a hospital with its own `budget` that has
    already spent `spent` (as one release at sample rate 1)."""
    history = []
    if spent:
        history.append(
            (calibrate_noise([], sample_rate=1.0, steps=1, target_epsilon=spent, delta=plan.delta), 1.0, 1)
        )
    history += evaluation_steps(budget, plan.evaluations)
    return calibrate_noise(
        history,
        sample_rate=sample_rate(rows, plan.batch_size),
        steps=plan.rounds * plan.epochs * steps_per_epoch(rows, plan.batch_size),
        target_epsilon=budget,
        delta=plan.delta,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 8.0])
    parser.add_argument("--rows", type=int, nargs="+", default=[40, 120, 300])
    args = parser.parse_args()
    shares = (0.75, 2 / 3, 0.5)
    print(f"reported / fresh noise of honest hospitals (full weight up to {NOISE_SLACK:g})")
    print(
        f"{'eps':>4} {'rows':>5} {'fresh':>7}  "
        + "  ".join(f"own budget {f:.2f}" for f in shares)
        + "  "
        + "  ".join(f"spent {s:.2f}" for s in shares)
    )
    for epsilon in args.epsilons:
        plan = RunNoisePlan(epsilon, 1e-5, rounds=10, epochs=2, batch_size=32, evaluations=1)
        for rows in args.rows:
            fresh = plan.fresh_noise(rows)
            own = [honest_noise(plan, rows, budget=f * epsilon, spent=0.0) / fresh for f in shares]
            spent = [honest_noise(plan, rows, budget=epsilon, spent=s * epsilon) / fresh for s in shares]
            print(
                f"{epsilon:>4g} {rows:>5} {fresh:>7.3f}  "
                + "  ".join(f"{r:>15.2f}" for r in own)
                + "  "
                + "  ".join(f"{r:>11.2f}" for r in spent)
            )
    training = LocalTraining(lr=0.05, clip=1.0, epochs=2, batch_size=32, private=True, momentum=0.0)
    plan = RunNoisePlan(3.0, 1e-5, rounds=10, epochs=2, batch_size=32, evaluations=1)
    rows, parameters = 120, 20_829
    fresh = plan.fresh_noise(rows)
    honest = norm_bound(training, rows, parameters, fresh).total
    print(
        f"\nwhat a claimed noise multiplier buys (epsilon 3, {rows} rows, {parameters} parameters, "
        f"fresh {fresh:.2f}):"
    )
    print(f"{'claimed':>8} {'weight':>7} {'bound':>7} {'weight x bound / honest':>24}")
    for claimed in (fresh, NOISE_SLACK * fresh, 2 * fresh, 5 * fresh, 20.0):
        weight = plan.weight_factor(rows, claimed)
        bound = norm_bound(training, rows, parameters, claimed).total
        print(f"{claimed:>8.2f} {weight:>7.3f} {bound:>7.2f} {weight * bound / honest:>24.2f}")


if __name__ == "__main__":
    main()

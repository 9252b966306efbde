"""The float-bits attack on the evaluation release (Mironov 2012), before and after the snapping.

A coordinator's crafted model puts one validation patient alone in the top score bin; the
release is that bin's two noisy counts, (1, 0) for a control and (0, 1) for a case. The attacker
knows sigma (the reply's `val-noise`) and asks, for each label, whether some float64 draw z could
have produced the released value exactly; a label with no such z is excluded with certainty.

- "raw": the release as it was before stop 64, `count + sigma z` in float64 with every bit sent;
  the test is exact (it scans the doubles z next to (y - c) / sigma);
- "snapped": `noisy_histogram` as it is now, rounded to `snapping.grid_for(sigma)`; the attacker
  knows the grid and asks whether any z (|z| <= 8.6, the Box-Muller tail) lands in y's cell.

Per noise level: the share of releases in which the attacker is certain, and how many of those
certain answers were wrong. Seeded (the noise keys come from `--seed`).

    .venv/bin/python bench/float_bits_attack.py [--trials 3000] [--sigmas 2,6.708,12,53.67]
"""

from __future__ import annotations

import argparse

import numpy as np

from genofed.common.privacy.release import noisy_histogram
from genofed.common.privacy.secret_noise import SecretNoise
from genofed.common.privacy.snapping import grid_for, snap

#: Doubles scanned on each side of (y - c) / sigma by the exact test.
SCAN = 400
#: The largest |z| the sampler draws (53-bit uniforms: sqrt(-2 ln 2^-54)).
Z_MAX = 8.6


def raw_feasible(y: float, count: int, sigma: float) -> bool:
    """Whether some double z gives exactly y = count + sigma z (the float computation as released)."""
    centre = (np.float64(y) - count) / np.float64(sigma)
    zs = [centre]
    low = high = centre
    for _ in range(SCAN):
        low, high = np.nextafter(low, -np.inf), np.nextafter(high, np.inf)
        zs += [low, high]
    outputs = np.float64(count) + np.float64(sigma) * np.array(sorted(zs))
    if np.any(outputs == y):
        return True
    return not (outputs.min() < y < outputs.max())  # y skipped between neighbouring outputs


def snapped_feasible(y: float, count: int, sigma: float) -> bool:
    """Whether some z (|z| <= Z_MAX) lands count + sigma z in y's cell of the grid."""
    grid = grid_for(sigma)
    low = max((y - grid / 2 - count) / sigma, -Z_MAX)
    high = min((y + grid / 2 - count) / sigma, Z_MAX)
    if low >= high:
        return False
    zs = np.linspace(low, high, 101)
    return bool(np.any(snap(np.float64(count) + np.float64(sigma) * zs, sigma) == y))


def attack(sigma: float, trials: int, seed: int, *, snapped: bool) -> tuple[int, int]:
    """(certain answers, wrong certain answers) over `trials` releases, half of each label."""
    keys = np.random.default_rng(seed)
    feasible = snapped_feasible if snapped else raw_feasible
    certain = wrong = 0
    for trial in range(trials):
        label = trial % 2
        histogram = np.zeros((2, 10))
        histogram[0, 0], histogram[label, 9] = 30, 1
        key = int(keys.integers(0, 2**63))
        if snapped:
            released = noisy_histogram(histogram, sigma, key)
        else:
            released = histogram + sigma * SecretNoise(key, "evaluation").normal(histogram.shape)
        control, case = float(released[0, 9]), float(released[1, 9])
        can_be_control = feasible(control, 1, sigma) and feasible(case, 0, sigma)
        can_be_case = feasible(control, 0, sigma) and feasible(case, 1, sigma)
        if can_be_control != can_be_case:
            certain += 1
            wrong += (0 if can_be_control else 1) != label
    return certain, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--sigmas", default="2,6.708,12,53.67")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.trials} releases per noise level; certain = one label excluded with certainty")
    print(f"{'sigma':>7} {'grid':>6}   {'raw: certain (wrong)':>22}   {'snapped: certain (wrong)':>26}")
    for sigma in (float(s) for s in args.sigmas.split(",")):
        raw = attack(sigma, args.trials, args.seed, snapped=False)
        snapped = attack(sigma, args.trials, args.seed, snapped=True)
        cells = [f"{c / args.trials:6.1%} ({w})" for c, w in (raw, snapped)]
        print(f"{sigma:>7g} {grid_for(sigma):>6g}   {cells[0]:>22}   {cells[1]:>26}")


if __name__ == "__main__":
    main()

"""Case-enriched sampling of clinic cohorts from the pool.

A rare-disease clinic sees far more cases than the population's 1-2 %: it draws cases from its
catchment (ancestry mix x population prevalence) and controls from the same catchment. Each
pool individual is used at most once across clinics, the test cohort, the sources and the public
reference panel.
"""

from __future__ import annotations

import numpy as np

from genofed.simulations.cohorts.presets import CohortSpec


def draw_cohort(
    spec: CohortSpec,
    populations: np.ndarray,
    labels: np.ndarray,
    available: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pool indices of one cohort (shuffled); marks them unavailable in `available`."""
    names = [name for name, _ in spec.ancestry]
    mix = np.array([weight for _, weight in spec.ancestry])
    prevalence = np.array(
        [labels[populations == name].mean() if (populations == name).any() else 0.0 for name in names]
    )
    case_weights = mix * prevalence
    if case_weights.sum() <= 0:
        raise ValueError(f"cohort {spec.name}: its catchment has no cases in the pool")
    n_cases = round(spec.n * spec.case_fraction)
    chosen = []
    for label, total, weights in ((1, n_cases, case_weights), (0, spec.n - n_cases, mix)):
        counts = rng.multinomial(total, weights / weights.sum())
        for name, count in zip(names, counts, strict=False):
            candidates = np.flatnonzero(available & (populations == name) & (labels == label))
            if len(candidates) < count:
                kind = "cases" if label else "controls"
                raise ValueError(
                    f"cohort {spec.name}: the pool has {len(candidates)} unused {kind} of population {name}, "
                    f"{count} needed; enlarge the pool"
                )
            picked = rng.choice(candidates, count, replace=False)
            available[picked] = False
            chosen.append(picked)
    return rng.permutation(np.concatenate(chosen))


def draw_population_sample(n: int, available: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A population-based (biobank) sample: `n` unused pool individuals at random, sorted."""
    candidates = np.flatnonzero(available)
    if len(candidates) < n:
        raise ValueError(
            f"the pool has {len(candidates)} unused people, {n} needed for a source cohort; enlarge the pool"
        )
    picked = np.sort(rng.choice(candidates, n, replace=False))
    available[picked] = False
    return picked


def draw_proportional_sample(
    n: int, populations: np.ndarray, available: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """`n` unused pool individuals, sorted, with every population of the pool in its pool
    proportion (largest remainders), cases and controls alike; marks them unavailable.

    Why proportional rather than at random among the unused: clinics drew cases heavily, so the
    unused people under-represent the populations with the most cases; a public reference panel
    samples the population, not what the clinics left.
    """
    names, counts = np.unique(populations, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    quota[np.argsort(quota - exact, kind="stable")[: n - quota.sum()]] += 1
    chosen = []
    for name, count in zip(names, quota, strict=True):
        candidates = np.flatnonzero(available & (populations == name))
        if len(candidates) < count:
            raise ValueError(
                f"the pool has {len(candidates)} unused people of population {name}, {count} needed for "
                "the reference panel; enlarge the pool or lower reference_size"
            )
        chosen.append(rng.choice(candidates, count, replace=False))
    picked = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)
    available[picked] = False
    return picked


def sample_ids(prefix: str, n: int) -> list[str]:
    """`ROS0001`-style ids, unique across folders because every cohort has its own prefix."""
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]

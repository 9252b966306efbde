"""Case-enriched sampling of clinic cohorts from the pool.

A rare-disease clinic sees far more cases than the population's 1-2 %: it draws cases from its
catchment (ancestry mix x population prevalence) and controls from the same catchment. Each
pool individual is used at most once across clinics, the test cohort and the sources.
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


def sample_ids(prefix: str, n: int) -> list[str]:
    """`ROS0001`-style ids, unique across folders because every cohort has its own prefix."""
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]

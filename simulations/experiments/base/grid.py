"""The grid every experiment runs over: site sizes x seeds x privacy levels.

An experiment's config holds the grid; these helpers check it the same way everywhere and write
it into the results the same way (an infinite epsilon, "no DP", is stored as the string "inf",
which JSON can hold).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from genofed.common.util.checks import require

#: The smallest site an experiment draws: below it a site's 80 % training split is a handful.
MIN_SITE_SIZE = 20


def check_sizes(sizes: tuple[int, ...]) -> None:
    """Refuse an empty list of site sizes or one below `MIN_SITE_SIZE` patients."""
    require(bool(sizes) and min(sizes) >= MIN_SITE_SIZE, f"site sizes must be >= {MIN_SITE_SIZE} patients")


def check_grid(sizes: tuple[int, ...], seeds: tuple[int, ...], epsilons: tuple[float, ...]) -> None:
    """Refuse a grid without sizes, seeds or privacy levels (`check_sizes` for the sizes), or with
    a privacy level that is not > 0 (inf is "no DP"; 0, negatives and nan are refused)."""
    check_sizes(sizes)
    require(bool(seeds) and bool(epsilons), "give at least one seed and one epsilon")
    check_epsilons(epsilons)


def check_epsilons(epsilons: tuple[float, ...]) -> None:
    """Refuse a privacy level that is not > 0: inf (no DP) passes, 0, negatives and nan do not."""
    bad = [e for e in epsilons if not e > 0]  # nan > 0 is False: refused too
    require(not bad, f"epsilons must be > 0 (inf = no DP); got {', '.join(f'{e:g}' for e in bad)}")


def epsilon_key(epsilon: float) -> float | str:
    """How a privacy level is stored in rows and JSON: "inf" for no DP, else the float."""
    return "inf" if math.isinf(epsilon) else float(epsilon)


def config_dict(config: Any) -> dict[str, Any]:
    """An experiment config (a dataclass with `epsilons` and `run: RunSettings`) as JSON-ready data."""
    data = asdict(config)
    data["epsilons"] = [epsilon_key(e) for e in config.epsilons]
    data["run"] = config.run.to_config()
    return data

"""How a run protected its hospitals, read from results.json: no DP, local DP, or distributed DP.

Under `--privacy distributed` (always with SecAgg+) each hospital adds only its share of the noise,
so it has two epsilons: `sites.NAME.epsilon` against a coordinator that sees only the SecAgg+ sum,
and the larger `sites.NAME.coalition_epsilon` against the coordinator colluding with all other
hospitals (docs/distributed-dp.md). Every section that states a privacy promise must know which
mode it speaks of, or it would promise the small epsilon against everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genofed.server.report.reading import config_value, dp_on, mapping, number

# Config keys that name the coalition cap, in the spellings a CLI or TOML might use.
COALITION_CAP_KEYS = ("max-coalition-epsilon", "max_coalition_epsilon")


def distributed_dp(results: Mapping[str, Any]) -> bool:
    """Whether the run used distributed DP: the config says so, or a hospital recorded a coalition
    epsilon (only distributed runs write one), so an older or partial config still reads right."""
    if not dp_on(results):
        return False
    if config_value(results, ("privacy",)) == "distributed":
        return True
    return any("coalition_epsilon" in mapping(r) for r in mapping(results.get("sites")).values())


def coalition_epsilons(results: Mapping[str, Any]) -> dict[str, float | None]:
    """{hospital: its coalition epsilon, None where it did not report one} for distributed runs."""
    sites = mapping(results.get("sites"))
    return {
        name: number(mapping(record).get("coalition_epsilon"))
        for name, record in sites.items()
        if "coalition_epsilon" in mapping(record)
    }


def worst_coalition_epsilon(results: Mapping[str, Any]) -> float | None:
    """The largest coalition epsilon over hospitals: the promise that holds for every hospital
    against the coordinator plus all others; None when no hospital reported one."""
    measured = [v for v in coalition_epsilons(results).values() if v is not None]
    return max(measured, default=None)


def coalition_cap(results: Mapping[str, Any]) -> float | None:
    """The run's `max-coalition-epsilon`, or None when there was none (unset or infinite)."""
    return number(config_value(results, COALITION_CAP_KEYS))


def privacy_mode_text(results: Mapping[str, Any]) -> str:
    """The privacy mode in words, with who added the noise and what the coordinator could see."""
    secagg = bool(results.get("secagg"))
    if not dp_on(results):
        return "none (no differential privacy)" + ("; secure aggregation (SecAgg+) on" if secagg else "")
    if distributed_dp(results):
        return (
            "distributed DP under secure aggregation (SecAgg+): each hospital added only its share of "
            "the noise, and the coordinator saw only the sum, in which the shares add up to the full noise"
        )
    where = "; secure aggregation (SecAgg+) on" if secagg else ""
    return f"local DP: each hospital added all of its noise itself{where}"

"""The local simulation mode, the reference models it reports, and a deployed federation on loopback.

Modules:

- `simulate`: `simulate(settings)`: a whole federation on one machine, on Flower's simulation
  engine (`genofed simulate`).
- `baselines`: the reference models every simulation reports next to the federated one: pooled
  data, each hospital alone.
- `synthetic_sites`: synthetic cohorts for the virtual hospitals (`--synthetic-ratio`).
- `loopback`: a deployed federation on one machine: the real coordinator and hospital services
  as separate processes on loopback.

Every module imports torch or Flower, so every name loads on first use. `simulate` itself is
not re-exported: its module has the same name, so `genofed.simulations.local.simulate` would
mean the function or the module depending on what was imported before; use
`from genofed.simulations.local.simulate import simulate` (or `genofed.simulations.simulate`).
"""

from __future__ import annotations

from typing import Any

_SIMULATE = {"simulated_sites"}
_BASELINES = {"References", "classifier_step", "fit_alone", "train_references"}
_SYNTHETIC_SITES = {"prepare_synthetic"}
_LOOPBACK = {"Loopback", "make_site", "run_loopback_federation"}


def __getattr__(name: str) -> Any:
    """The names of the torch and Flower modules, imported on first use."""
    if name in _SIMULATE:
        import genofed.simulations.local.simulate as simulate

        return getattr(simulate, name)
    if name in _BASELINES:
        import genofed.simulations.local.baselines as baselines

        return getattr(baselines, name)
    if name in _SYNTHETIC_SITES:
        import genofed.simulations.local.synthetic_sites as synthetic_sites

        return getattr(synthetic_sites, name)
    if name in _LOOPBACK:
        import genofed.simulations.local.loopback as loopback

        return getattr(loopback, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: every name `__getattr__` loads on first use
__all__ = sorted(_SIMULATE | _BASELINES | _SYNTHETIC_SITES | _LOOPBACK)

"""What the paper's experiments share, so that no experiment imports another's modules.

- `grid`: the grid of site sizes x seeds x privacy levels, its checks, and how a config and a
  privacy level are recorded (`epsilon_key`, `config_dict`).
- `sites`: small nested sites drawn from the simulated clinics and written as clinics write
  them (`load_hospitals`, `nested_order`, `write_sites`, `site_folders`, `site_settings`).
- `cache`: finished pieces kept in OUT and reused on a rerun (`cached`), and an experiment's
  federation read back when finished, else run afresh (`federation_results`).
- `stats`: means and spreads over seeds, paired comparisons (`mean`, `sd`, `maximum`, `paired`).
- `report`: the OUT/report.md writer and the shared number formats.

Light modules (numpy, pandas): imported eagerly.
"""

from genofed.simulations.experiments.base.cache import cached, federation_results
from genofed.simulations.experiments.base.grid import (
    MIN_SITE_SIZE,
    check_grid,
    check_sizes,
    config_dict,
    epsilon_key,
)
from genofed.simulations.experiments.base.report import (
    REPORT,
    number,
    plus_minus,
    privacy_label,
    signed,
    write_report,
)
from genofed.simulations.experiments.base.sites import (
    check_sites_fit,
    load_hospitals,
    nested_order,
    site_folders,
    site_settings,
    write_sites,
)
from genofed.simulations.experiments.base.stats import maximum, mean, paired, sd

__all__ = [
    "MIN_SITE_SIZE",
    "REPORT",
    "cached",
    "check_grid",
    "check_sites_fit",
    "check_sizes",
    "config_dict",
    "epsilon_key",
    "federation_results",
    "load_hospitals",
    "maximum",
    "mean",
    "nested_order",
    "number",
    "paired",
    "plus_minus",
    "privacy_label",
    "sd",
    "signed",
    "site_folders",
    "site_settings",
    "write_report",
    "write_sites",
]

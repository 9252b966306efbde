"""What every genofed side shares: data, model, privacy accounting, deployment plumbing.

`genofed.client` (a hospital) and `genofed.server` (the coordinator) both build on this package;
it never imports either of them. Its rooms, lowest first (imports run one way, down this list):

- `errors`: the errors a user can fix (`GenofedError`, `ConfigError`, `DataError`) and data
  warnings.
- `util/`: small helpers: atomic writes, file hashing, settings checks, progress, torch threads.
- `data/`: a site's data: the cohort model, readers and writers, the variant panel, checks,
  loading, features and splits.
- `model/`: the shared disease-risk network (and its Opacus glue) and the metrics it is judged by.
- `privacy/`: the RDP accountant, the per-site privacy ledger and the DP evaluation release.
- `deployment/`: what both sides of a deployed federation share: the app bundle, hospital keys,
  how Flower's processes start.
- `synthetic/`: synthetic-data generators (VAE, GAN) and the checks of their records.
- `augment/`: genotype augmentation for local training.
- `reporting/`: tables, figures and number formatting for the run report and the experiments.
"""

from genofed.common.errors import ConfigError, DataError, DataWarning, GenofedError

__all__ = ["ConfigError", "DataError", "DataWarning", "GenofedError"]

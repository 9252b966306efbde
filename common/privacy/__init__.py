"""Differential privacy at a site: the accountant, the per-site ledger, the evaluation release.

Modules:

- `accountant`: what a history of DP-SGD steps costs in epsilon (Opacus' RDP accountant, cached)
  and the smallest noise that keeps a planned run within a budget (`calibrate_noise`).
- `ledger`: the site's on-disk record of every release it paid for (`PrivacyLedger`), written
  atomically and never silently reset.
- `release`: what a hospital may release about a model's predictions on its own patients: a
  noisy score histogram, one step of the Gaussian mechanism in the same accounting.
- `secret_noise`: every release's random numbers, from a ChaCha20 keystream keyed by the site's
  secret (`opacus_noise` hands it to Opacus' optimizer and Poisson sampler).
- `distributed_bound`: distributed DP's public quantities: the run's noise floor and the bound on
  a reply that SecAgg+'s clipping range must hold.

`accountant`, `ledger` and `release` need only numpy (Opacus is imported inside the accountant
when it computes), so their names are imported here.
"""

from genofed.common.privacy.accountant import (
    MAX_USEFUL_NOISE,
    SIGMA_MAX,
    SIGMA_MIN,
    SIGMA_RTOL,
    BudgetExhausted,
    Step,
    calibrate_noise,
    epsilon_of,
    sample_rate,
    steps_per_epoch,
)
from genofed.common.privacy.ledger import LEDGER_FILE, LEDGER_VERSION, Charge, PrivacyLedger
from genofed.common.privacy.release import (
    SCORE_BINS,
    as_histogram,
    auc_noise_sd,
    histogram_metrics,
    noisy_histogram,
    pooled_histogram,
    release_step,
    score_histogram,
)

__all__ = [
    # accountant
    "MAX_USEFUL_NOISE",
    "SIGMA_MAX",
    "SIGMA_MIN",
    "SIGMA_RTOL",
    "BudgetExhausted",
    "Step",
    "calibrate_noise",
    "epsilon_of",
    "sample_rate",
    "steps_per_epoch",
    # ledger
    "LEDGER_FILE",
    "LEDGER_VERSION",
    "Charge",
    "PrivacyLedger",
    # release
    "SCORE_BINS",
    "as_histogram",
    "auc_noise_sd",
    "histogram_metrics",
    "noisy_histogram",
    "pooled_histogram",
    "release_step",
    "score_histogram",
]

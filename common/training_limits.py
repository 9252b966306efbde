"""What a hospital accepts to train with: the bounds on each training setting a coordinator may
ask for (`TRAINING_LIMITS`).

A site refuses (never clamps) a request outside them (`genofed.client.training_request`), and a
coordinator's settings are checked against the same bounds before a run starts
(`genofed.server.settings`), so that a typo is refused at once instead of by every hospital in
every round. Torch-free: the settings load without it.
"""

from __future__ import annotations

#: setting -> (low, high). A learning rate of 0 (or a proximal pull that undoes every step) would
#: make the "update" the coordinator's own model, turning a training round into a pure query;
#: absurd values only waste the site's budget. The clip's floor keeps every clip factor C / |g_i| a
#: normal float32 (|g_i| is finite below 1.8e19, else its factor is 0): a red-team audit (stop 64)
#: asked for a clip so small, beside a large column scale, that the factors fell below float32's
#: smallest normal number, where rounding to multiples of 2^-149 let each control's "clipped"
#: gradient through at 3.8 C, so the ledger charged about a fifth of the privacy spent.
TRAINING_LIMITS: dict[str, tuple[float, float]] = {
    "lr": (0.0, 10.0),
    "clip": (1e-6, 1e3),
    "local-epochs": (1, 1000),
    "batch-size": (1, 1_000_000),
    "proximal-mu": (0.0, 1e3),
    "momentum": (0.0, 0.999),
}

#: The most rounds a run may have: a site's privacy plan spreads its budget over the run's rounds,
#: so a number far above any run's only makes each round's noise larger (`client.training_request.
#: round_numbers` refuses more; the coordinator's settings check the same bound).
MAX_ROUNDS = 100_000

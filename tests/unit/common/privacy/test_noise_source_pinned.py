"""The draws a release's noise comes from, pinned: a change to them must come with a new
`NOISE_SOURCE` in common/privacy/ledger.py.

Why: a charge says which draws it was made with by its `noise_source`, for the audit. Until the
kept replies (stop 54) a charged round was rerun for free by training it again, and with draws that
changed while `NOISE_SOURCE` stayed, a round resumed after the upgrade would have gone out again with
other noise on one charge (a review of stop 53); a rerun now sends the kept reply, but the ledger
must still name the draws truly. So when this test fails because the draws changed on purpose:
update the numbers AND change `NOISE_SOURCE`."""

from __future__ import annotations

import numpy as np
import torch

from genofed.client.site import derived_key
from genofed.common.privacy.ledger import NOISE_SOURCE
from genofed.common.privacy.release import noisy_histogram
from genofed.common.privacy.secret_noise import SecretNoise
from genofed.common.privacy.snapping import snap_tensor


def test_the_draws_are_the_ones_the_noise_source_names():
    assert NOISE_SOURCE == "chacha20-site-secret, snapped per step"  # change it with the numbers below
    np.testing.assert_allclose(
        SecretNoise(12345, "dp-sgd").uniform(3), [0.347400026845, 0.150499657376, 0.639567660303], atol=1e-12
    )
    np.testing.assert_allclose(
        SecretNoise(12345, "dp-sgd").normal(3),
        [-0.929951301773, -0.927569686521, -1.117920959699],
        atol=1e-12,
    )
    single = SecretNoise(12345, "dp-sgd").normal(3, np.float32)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, [-0.92995113, -0.92756975, -1.11792099], atol=1e-7)
    np.testing.assert_allclose(
        # the draws 0.1809, -2.3555, -1.3108, 2.3974 snapped to 1/8 (common/privacy/snapping.py)
        noisy_histogram(np.zeros((2, 2)), 2.0, 7),
        [[0.125, -2.375], [-1.25, 2.375]],
        atol=0,
    )
    # a DP-SGD step's noisy gradient sum of noise sd 1.0, snapped to 1/16 before the optimizer's step
    assert snap_tensor(torch.tensor([0.3, -0.03125]), 1.0).tolist() == [0.3125, -0.0]
    assert derived_key(b"site-secret", "train", "plan", 3) % 10**12 == 475061697001

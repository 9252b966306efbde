"""The secret randomness of a DP release: Gaussian noise and Poisson sampling drawn from a
ChaCha20 keystream keyed by the site's secret-derived seed, instead of a torch generator.

Why: anyone who knows a release's noise can subtract it. Torch's CPU generator (a Mersenne
Twister) keeps only 32 bits of the seed it is given (`manual_seed(s)` and `manual_seed(s + 2**32)`
draw the same stream), so a coordinator that crafts a model giving some coordinates a zero
gradient reads pure noise there, tries all 2**32 streams against it (about 17 core-hours in plain
Python) and subtracts the rest: an outside audit (2026-12-05) recovered a round's exact clipped
gradient sum that way and read a patient's label from two neighbouring cohorts, while the ledger
charged epsilon 8. Even a full-entropy Mersenne Twister state is recoverable from 624 of its
outputs, which pairs of Box-Muller normals give away. A stream cipher's keystream is not: the
key is derived from the whole seed (the site's 256-bit secret and the round's context,
`client.site.derived_key`), and outputs say nothing about the key or about each other.

The draws stay deterministic in the seed, as the torch ones were: a round re-run with the same
seed must release the same numbers (the ledger charges a replay once), and a simulation is
reproducible. `cryptography` is Flower's own dependency (its TLS and SecAgg+ use it).

Opacus' DP-SGD draws from it through `common.privacy.opacus_noise`; the site's evaluation release
(`common.privacy.release.noisy_histogram`) and its local releases (the DP variant summary, the
reference generator's site release, the VAE's and GAN's case count) through `gaussian`.
"""

from __future__ import annotations

import hashlib
import math
import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

#: Bytes of the seed the key is hashed from: a seed up to 2**256 keeps all its bits.
_SEED_BYTES = 32


class SecretNoise:
    """Uniform and standard normal draws from a ChaCha20 keystream.

    seed: a non-negative int below 2**256, secret (derived from the site's secret: whoever knows
        it knows the noise).
    purpose: separates streams from the same seed (the noise and the sampling of one round must
        not be the same numbers); any short text.
    """

    def __init__(self, seed: int, purpose: str) -> None:
        if not 0 <= int(seed) < 2 ** (8 * _SEED_BYTES):
            raise ValueError(f"a noise seed must be in [0, 2**256), got {seed}")
        key = hashlib.sha256(int(seed).to_bytes(_SEED_BYTES, "big") + b"|" + purpose.encode()).digest()
        self._stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def _words(self, n: int) -> np.ndarray:
        """n uniform uint64 words from the keystream."""
        return np.frombuffer(self._stream.update(bytes(8 * n)), dtype="<u8")

    def uniform(self, n: int) -> np.ndarray:
        """(n,) float64 uniform on (0, 1): 53 bits per draw, never 0 (the logarithm below)."""
        return ((self._words(n) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, shape: tuple[int, ...] | int, dtype: type = np.float64) -> np.ndarray:
        """Standard normal draws of `shape` (Box-Muller, both outputs of each pair used), computed
        in `dtype`: float64, or float32 for noise added to float32 gradients, at about a third of
        the cost (DP-SGD draws at every step, whose cost `bench/dp_step.py` holds within 2x a plain
        step). Both take the same 53-bit uniforms, so the tail reaches as far (8.6 sd: the smallest
        uniform is 2^-54), and float32 draws differ from float64 ones by about a float32 step.
        numpy only: a DPO's `genofed hospital ledger` must not load torch (the evaluation release,
        imported on its way, draws from here)."""
        size = int(np.prod(shape))
        pairs = (size + 1) // 2
        u = self.uniform(2 * pairs).astype(dtype).reshape(2, pairs)
        radius = np.sqrt(dtype(-2.0) * np.log(u[0]))
        angle = dtype(2.0 * math.pi) * u[1]
        out = np.empty(2 * pairs, dtype=dtype)
        np.multiply(radius, np.cos(angle), out=out[:pairs])
        np.multiply(radius, np.sin(angle), out=out[pairs:])
        return out[:size].reshape(shape)


def noise_key_from(rng: np.random.Generator | None) -> int:
    """The 256-bit key of a release's noise: 32 bytes of `rng` when a caller passes one
    (experiments, tests, simulations: reproducible), else 256 bits of the OS's secret randomness.
    Never a public seed: whoever knows the noise can subtract it, and the stated epsilon would
    then protect nothing."""
    if rng is None:
        return secrets.randbits(8 * _SEED_BYTES)
    return int.from_bytes(rng.bytes(_SEED_BYTES), "big")


def gaussian(noise: SecretNoise, sd: float, shape: tuple[int, ...] | int) -> np.ndarray:
    """Gaussian noise of standard deviation `sd` and `shape` (float64) from `noise`: the one line
    a release's mechanism needs, in place of numpy's `rng.normal(0.0, sd, shape)`."""
    return float(sd) * noise.normal(shape)

"""SecAgg+'s masks from a stream cipher keyed by the whole seed, in place of Flower's generator.

Why: Flower's `pseudo_rand_gen` (flwr 1.42, `flwr.common.secure_aggregation.secaggplus_utils`)
folds every seed it is given, a hospital's 32-byte self-mask seed or a pairwise key from its key
agreement, into 32 bits by XOR and draws the mask from NumPy's Mersenne Twister seeded with them
(flwrlabs/flower#7522, open); a pairwise key is base64 text, so its fold takes at most 2**28
values. A coordinator holding a hospital's masked reply and its self-mask seed (which it learns by
design when it unmasks the sum) needs only the pairwise masks, and with two other hospitals (each
is every other's neighbour here: `server.secagg.make_secagg_workflow`, `num_shares=1.0`) a
meet-in-the-middle search over the 2**28 seeds finds both (`bench/secagg_mask_search.py`): it then
reads that hospital's reply alone, not only the sum. Under `--privacy distributed` that reply
carries only the hospital's share of the noise, so the epsilon against the coordinator (the one
the budget bounds) held only against a coordinator that did not search.

`mask_stream` draws the same arrays (shapes, int64, values in [0, num_range)) from a ChaCha20
keystream whose key is SHA-256 of the whole seed, as `secret_noise` draws a release's noise:
nothing of the seed is dropped, and outputs say nothing about the key or about each other. Both
ends must use it, the hospitals' `secaggplus_mod` when they mask and the coordinator's
`SecAggPlusWorkflow` when it removes the masks of survivors and dropouts, so `install` puts it in
place of Flower's function in the three modules that hold it (`client.secagg.secagg_mod` and
`server.secagg.make_secagg_workflow` call it before SecAgg+ runs). Mixed ends cannot meet: both
run the approved genofed bundle, whose hash covers this code (`common/deployment`). A Flower
whose modules no longer hold `pseudo_rand_gen` is refused (`MaskGeneratorMissing`) rather than
left masking with a generator no one checked. Drop this once Flower ships a fix.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Sequence
from types import ModuleType

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from genofed.common.errors import GenofedError

#: Separates the mask streams from every other use of a key (any seed: the stream's purpose).
MASK_PURPOSE = b"genofed secagg+ mask v1|"

#: The modules that hold Flower's `pseudo_rand_gen`: where it is defined, and the two that imported
#: it by name (each keeps its own reference, so each is replaced).
FLOWER_MODULES = (
    "flwr.common.secure_aggregation.secaggplus_utils",
    "flwr.client.mod.secure_aggregation.secaggplus_mod",
    "flwr.server.workflow.secure_aggregation.secaggplus_workflow",
)


class MaskGeneratorMissing(GenofedError):
    """The installed Flower has no `pseudo_rand_gen` where genofed replaces it: SecAgg+ is refused."""


def mask_stream(seed: bytes, num_range: int, dimensions_list: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """One int64 array per shape of `dimensions_list` (a 0-d array for `()`), uniform in
    [0, `num_range`), from the ChaCha20 keystream keyed by SHA-256 of `MASK_PURPOSE` + `seed`.

    The signature of Flower's `pseudo_rand_gen`, so either end calls it unchanged. Each value is
    a 64-bit keystream word reduced modulo `num_range` (exactly uniform for SecAgg+'s power-of-two
    ranges, within 2**-32 otherwise)."""
    if num_range < 1:
        raise ValueError(f"a mask's range must be at least 1, got {num_range}")
    key = hashlib.sha256(MASK_PURPOSE + bytes(seed)).digest()
    stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    masks = []
    for dimension in dimensions_list:
        count = math.prod(dimension)
        words = np.frombuffer(stream.update(bytes(8 * count)), dtype="<u8")
        masks.append((words % np.uint64(num_range)).astype(np.int64).reshape(dimension))
    return masks


def install() -> None:
    """Put `mask_stream` in place of Flower's `pseudo_rand_gen` in `FLOWER_MODULES` (idempotent).

    Raises:
        MaskGeneratorMissing: a module, or its `pseudo_rand_gen`, is not there (another Flower).
    """
    for name, module in _flower_modules().items():
        if module is None:
            raise _missing(f"{name} is not in this Flower")
        if not callable(getattr(module, "pseudo_rand_gen", None)):
            raise _missing(f"{name} has no pseudo_rand_gen")
        module.pseudo_rand_gen = mask_stream  # type: ignore[attr-defined]


def _flower_modules() -> dict[str, ModuleType | None]:
    """The modules of `FLOWER_MODULES` (None for one that cannot be imported). Read from
    sys.modules after importing them: the package `flwr.client.mod.secure_aggregation` exports the
    function `secaggplus_mod` under its module's name, so `from ... import secaggplus_mod` is not
    the module."""
    try:
        import flwr.client.mod.secure_aggregation.secaggplus_mod  # noqa: F401
        import flwr.common.secure_aggregation.secaggplus_utils  # noqa: F401
        import flwr.server.workflow.secure_aggregation.secaggplus_workflow  # noqa: F401
    except ImportError as exc:
        raise _missing(f"Flower's SecAgg+ cannot be imported ({exc})") from None
    return {name: sys.modules.get(name) for name in FLOWER_MODULES}


def _missing(what: str) -> MaskGeneratorMissing:
    return MaskGeneratorMissing(
        f"secure aggregation refused: {what}; genofed replaces Flower's SecAgg+ mask generator, which "
        "keeps 32 bits of each seed (common/privacy/secagg_masks.py), and this Flower is not the one it "
        "was written for: install the Flower version genofed pins (pyproject.toml)"
    )

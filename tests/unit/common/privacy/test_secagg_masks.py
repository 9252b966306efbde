"""SecAgg+'s masks come from a stream cipher keyed by the whole seed, at both ends: Flower's
`pseudo_rand_gen` (flwr 1.42) folds every seed into 32 bits by XOR and seeds a Mersenne Twister
with them, so a hospital's pairwise masks could be searched (flwrlabs/flower#7522)."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
from flwr.supercore.primitives.asymmetric import generate_key_pairs

from genofed.common.privacy import secagg_masks
from genofed.common.privacy.secagg_masks import FLOWER_MODULES, MaskGeneratorMissing, install, mask_stream

DIMS = [(), (3, 4), (1000,)]
MOD = 2**32


def _flower_original():
    """Flower's own `pseudo_rand_gen`, from a fresh copy of the module that defines it (the one in
    sys.modules holds ours once `install` ran, and is left as it is)."""
    spec = importlib.util.find_spec(FLOWER_MODULES[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pseudo_rand_gen


def _same_fold(seed: bytes) -> bytes:
    """Another seed Flower folds to the same 32 bits: the same 4 bytes XORed into two words."""
    flip = bytes([0x5A, 0xC3, 0x0F, 0x99])
    changed = bytearray(seed)
    for offset in (0, 4):
        for i in range(4):
            changed[offset + i] ^= flip[i]
    return bytes(changed)


def test_flowers_generator_keeps_32_bits_of_a_seed_and_ours_keeps_them_all():
    (sk1, _pk1), (_sk2, pk2) = generate_key_pairs(), generate_key_pairs()
    key = generate_shared_key(sk1, pk2)  # a pairwise key, as SecAgg+ derives one
    other = _same_fold(key)
    assert other != key
    flower = _flower_original()
    for a, b in zip(flower(key, MOD, DIMS), flower(other, MOD, DIMS), strict=True):
        assert np.array_equal(a, b)  # two keys, one mask: the weakness
    ours, theirs = mask_stream(key, MOD, DIMS), mask_stream(other, MOD, DIMS)
    assert not np.array_equal(ours[2], theirs[2])


def test_the_masks_have_flowers_shapes_and_type_and_are_uniform_in_the_range():
    seed = bytes(range(32))
    masks = mask_stream(seed, MOD, DIMS)
    assert [m.shape for m in masks] == [(), (3, 4), (1000,)]
    assert all(m.dtype == np.int64 for m in masks)
    assert all(((0 <= m) & (m < MOD)).all() for m in masks)
    again = mask_stream(seed, MOD, DIMS)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again, strict=True))  # both ends agree
    big = mask_stream(seed, 8, [(80_000,)])[0]
    counts = np.bincount(big, minlength=8)
    assert counts.min() > 9_500 and counts.max() < 10_500  # 10,000 expected of each value
    assert not np.array_equal(mask_stream(seed + b"x", MOD, DIMS)[2], masks[2])


def test_install_replaces_the_generator_in_every_module_that_holds_it():
    install()
    for name in FLOWER_MODULES:
        assert importlib.import_module(name).pseudo_rand_gen is mask_stream
    install()  # idempotent
    client_module, server_module = (importlib.import_module(name) for name in FLOWER_MODULES[1:])
    assert client_module.pseudo_rand_gen is server_module.pseudo_rand_gen is mask_stream


def test_both_ends_install_it_before_secagg_runs(monkeypatch):
    from flwr.server.workflow.secure_aggregation import secaggplus_workflow

    from genofed.server.secagg import make_secagg_workflow

    monkeypatch.setattr(secaggplus_workflow, "pseudo_rand_gen", _flower_original())
    make_secagg_workflow(3, 100.0)
    assert secaggplus_workflow.pseudo_rand_gen is mask_stream


def test_a_flower_without_the_generator_refuses_secure_aggregation(monkeypatch):
    # the package's name `secaggplus_mod` is the function: the module is in sys.modules
    monkeypatch.delattr(importlib.import_module(FLOWER_MODULES[1]), "pseudo_rand_gen")
    with pytest.raises(MaskGeneratorMissing, match="secaggplus_mod has no pseudo_rand_gen"):
        install()
    monkeypatch.setattr(secagg_masks, "FLOWER_MODULES", ("flwr.no_such_module",))
    with pytest.raises(MaskGeneratorMissing, match="flwr.no_such_module is not in this Flower"):
        install()

"""Benchmark (an attack): how long a coordinator needs to read one hospital's SecAgg+ reply alone,
with Flower 1.42's mask generator and with genofed's (`common/privacy/secagg_masks.py`).

Three hospitals run Flower's own SecAgg+ client stages (`secaggplus_mod`'s setup, share-keys and
collect-masked-vectors, in this process, on a reply of 481 weights and its weight factor).
The coordinator sees hospital A's masked vector; it learns A's self-mask seed by design when it
unmasks the sum (A survived), and A's number of examples travels in the clear. What still hides A's
reply are its two pairwise masks. With Flower's `pseudo_rand_gen` each is NumPy's Mersenne Twister
seeded with the XOR fold of a 44-byte base64 key: at most 2^28 seeds, since every byte of base64
text is below 0x80. `secagg_mask_search/search.c` tabulates the first two outputs of all 2^28
seeds, sorts them, and finds the pairs of seeds whose masks explain the reply's first word exactly
(the weight factor, public) and leave its second inside the quantization range; the pairs left
are checked on the whole vector here. The same search is then run on a reply masked by genofed's
`mask_stream` (installed as Flower's generator, as genofed's hospitals and coordinator do): no pair
of seeds explains it. Prints the key space, the search's phases (one core), its peak memory, and
for each generator how many pairs fit the whole vector and how far the recovered reply is from
the true one. Needs a C compiler (`cc`) and about 5 GB of memory; about 1.5 minutes.

    .venv/bin/python bench/secagg_mask_search.py [--seed 7]
"""

from __future__ import annotations

import argparse
import importlib
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEARCH_C = Path(__file__).with_name("secagg_mask_search") / "search.c"
HOSPITALS = 3
MAX_WEIGHT = 400.0
TARGET_RANGE = 2**22
MOD_RANGE = 2**32
CLIPPING_RANGE = 8.0
SHAPES = [(10, 40), (40,), (1, 40), (1,)]  # 481 weights
FOLDED_KEYS = 2_000


@dataclass
class View:
    """What the coordinator holds of hospital A, and the truth kept apart to check the attack."""

    unmasked_self: np.ndarray  # A's masked vector minus its self mask (the coordinator learns the seed)
    weight_factor: int  # round(num_examples / max_weight x 2^22): num_examples is sent in the clear
    signs: tuple[int, int]  # + for a neighbour with a smaller node id, - otherwise (Flower's rule)
    true_weights: np.ndarray
    true_folds: set[int]


def fold(seed: bytes) -> int:
    """Flower's 32-bit fold of a seed: the XOR of its little-endian 4-byte words."""
    value = 0
    for i in range(0, len(seed), 4):
        value ^= int.from_bytes(seed[i : i + 4], "little")
    return value


def flower_masks(folded: int, n: int) -> np.ndarray:
    """The first `n` numbers Flower's `pseudo_rand_gen` draws for a seed of this fold."""
    return np.random.RandomState(folded).randint(0, MOD_RANGE - 1, (n,), dtype=np.int64)


def masked_reply(rng: np.random.Generator) -> View:
    """Run the three hospitals' SecAgg+ client stages with whatever generator Flower's module holds
    now, and return the coordinator's view of hospital A's reply."""
    from flwr.app import ConfigRecord
    from flwr.common import bytes_to_ndarray, ndarrays_to_parameters
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.common.secure_aggregation.secaggplus_constants import Key
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

    mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")
    nodes = [int(x) for x in rng.integers(1, 2**62, HOSPITALS)]
    states = {node: mod.SecAggPlusState() for node in nodes}
    config = {
        Key.SAMPLE_NUMBER: HOSPITALS, Key.SHARE_NUMBER: HOSPITALS, Key.THRESHOLD: 2,
        Key.CLIPPING_RANGE: CLIPPING_RANGE, Key.TARGET_RANGE: TARGET_RANGE, Key.MOD_RANGE: MOD_RANGE,
        Key.MAX_WEIGHT: MAX_WEIGHT,
    }  # fmt: skip
    public = {}
    for node, state in states.items():
        state.nid = node
        reply = mod._setup(state, ConfigRecord(dict(config)))
        public[node] = [reply[Key.PUBLIC_KEY_1], reply[Key.PUBLIC_KEY_2]]
    inbox: dict[int, tuple[list, list]] = {node: ([], []) for node in nodes}
    for node, state in states.items():
        reply = mod._share_keys(state, ConfigRecord({str(k): list(v) for k, v in public.items()}))
        for destination, ciphertext in zip(
            reply[Key.DESTINATION_LIST], reply[Key.CIPHERTEXT_LIST], strict=True
        ):
            inbox[destination][0].append(ciphertext)
            inbox[destination][1].append(node)
    examples = {node: int(rng.integers(100, 400)) for node in nodes}
    weights, masked = {}, {}
    for node, state in states.items():
        weights[node] = [rng.normal(0.0, 0.3, shape) for shape in SHAPES]
        records = ConfigRecord({Key.CIPHERTEXT_LIST: inbox[node][0], Key.SOURCE_LIST: inbox[node][1]})
        reply = mod._collect_masked_vectors(
            state, records, examples[node], ndarrays_to_parameters(weights[node])
        )
        masked[node] = [bytes_to_ndarray(b) for b in reply[Key.MASKED_PARAMETERS]]
    a, state = nodes[0], states[nodes[0]]
    self_mask = mod.pseudo_rand_gen(state.rd_seed, MOD_RANGE, [m.shape for m in masked[a]])
    unmasked = np.concatenate(
        [((y - p) % MOD_RANGE).ravel() for y, p in zip(masked[a], self_mask, strict=True)]
    )
    private = bytes_to_private_key(state.sk1)
    return View(
        unmasked_self=unmasked.astype(np.int64),
        weight_factor=round(examples[a] / MAX_WEIGHT * TARGET_RANGE),
        signs=tuple(1 if a > other else -1 for other in nodes[1:]),  # type: ignore[arg-type]
        true_weights=np.concatenate([w.ravel() for w in weights[a]]),
        true_folds={fold(generate_shared_key(private, bytes_to_public_key(public[o][0]))) for o in nodes[1:]},
    )


def key_space() -> tuple[int, int]:
    """(the OR of the folds of `FOLDED_KEYS` fresh pairwise keys, its number of set bits)."""
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.supercore.primitives.asymmetric import generate_key_pairs

    seen = 0
    for _ in range(FOLDED_KEYS):
        (mine, _), (_, theirs) = generate_key_pairs(), generate_key_pairs()
        seen |= fold(generate_shared_key(mine, theirs))
    return seen, bin(seen).count("1")


def search(binary: Path, view: View) -> tuple[list[tuple[int, int]], dict[str, float]]:
    """Run the compiled search on `view`: the candidate pairs of folds and its phases' figures."""
    s1, s2 = view.signs
    first = int((view.unmasked_self[0] - view.weight_factor) % MOD_RANGE)
    args = [str(binary), str(first), str(int(view.unmasked_self[1])), str(s1), str(s2)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    figures = {key: float(value) for key, value in (line.split() for line in done.stderr.splitlines())}
    pairs = [tuple(int(x) for x in line.split()) for line in done.stdout.splitlines()]
    return pairs, figures  # type: ignore[return-value]


def consistent(view: View, pairs: list[tuple[int, int]]) -> list[tuple[tuple[int, int], np.ndarray]]:
    """The candidate pairs whose masks leave every number of the reply in the quantization range,
    each with the reply it leaves."""
    s1, s2 = view.signs
    n = view.unmasked_self.size
    fits = []
    for f1, f2 in pairs:
        reply = (view.unmasked_self - s1 * flower_masks(f1, n) - s2 * flower_masks(f2, n)) % MOD_RANGE
        if (reply[1:] <= TARGET_RANGE).all():
            fits.append(((f1, f2), reply))
    return fits


def error(view: View, reply: np.ndarray) -> float:
    """The largest gap between the recovered reply (dequantized) and A's true weights x its factor."""
    recovered = reply[1:].astype(np.float64) * 2 * CLIPPING_RANGE / TARGET_RANGE - CLIPPING_RANGE
    return float(np.abs(recovered - view.true_weights * view.weight_factor / TARGET_RANGE).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="the hospitals' node ids, sizes and weights")
    args = parser.parse_args()
    from genofed.common.privacy.secagg_masks import install

    seen, bits = key_space()
    print(
        f"a pairwise key's fold: OR of {FOLDED_KEYS:,} fresh keys' folds {seen:#010x}: {bits} bits can be set"
    )
    with tempfile.TemporaryDirectory() as folder:
        binary = Path(folder) / "search"
        subprocess.run(["cc", "-O2", "-o", str(binary), str(SEARCH_C)], check=True)
        for name in ("Flower's pseudo_rand_gen", "genofed's mask_stream"):
            if name.startswith("genofed"):
                install()  # as genofed's hospitals and coordinator do before SecAgg+ runs
            view = masked_reply(np.random.default_rng(args.seed))
            started = time.perf_counter()
            pairs, figures = search(binary, view)
            fits = consistent(view, pairs)
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
            found = {frozenset(pair): reply for pair, reply in fits}  # a pair fits in both orders
            print(
                f"{name}: {wall:.1f} s on one core (table {figures['table']:.1f} s, sort "
                f"{figures['sort']:.1f} s, search {figures['search']:.1f} s), peak {peak:.1f} GB; pairs of "
                f"seeds that fit word 0: {int(figures['match_word0']):,}, word 1: "
                f"{int(figures['match_word1']):,}, all {view.unmasked_self.size}: {len(found)}"
            )
            for pair, reply in found.items():
                whose = "hospital A" if set(pair) == view.true_folds else "NOT hospital A"
                print(
                    f"  {whose}'s pairwise keys; "
                    f"its reply alone recovered to {error(view, reply):.2g} (one quantization step: "
                    f"{2 * CLIPPING_RANGE / TARGET_RANGE:.2g})"
                )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

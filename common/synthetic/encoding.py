"""How a generator sees one person's genotype at one variant: a small categorical "state".

- Unphased input: the alt-allele dosage, 3 states (0, 1, 2).
- Phased input (haplotype-aware generation): the ordered pair of alleles on the two haplotypes,
  4 states: state = a + 2 * b for alleles a (first haplotype) and b (second), each 0 = ref,
  1 = alt. So 0 = 0|0, 1 = 1|0, 2 = 0|1, 3 = 1|1, and the dosage is a + b.

Why one person per example even when phased: under DP-SGD the unit of privacy is the patient.
Feeding the two haplotypes as two examples would let one person move two clipped gradients, so
the accountant's epsilon would be per haplotype, not per patient. With 4 states a person is one
example, and the generator can still learn which alleles travel together on a haplotype (the
decoder's per-block units see the ordered pair at every variant of an LD block).
"""

from __future__ import annotations

import numpy as np

DOSAGE_STATES = 3
PHASED_STATES = 4


def phased_states(haplotypes: np.ndarray) -> np.ndarray:
    """(n, V, 2) alleles in {0, 1} -> (n, V) int8 states in 0..3 (see the module docstring)."""
    h = np.asarray(haplotypes)
    if h.ndim != 3 or h.shape[2] != 2:
        raise ValueError(f"haplotypes must be (n, V, 2), got shape {h.shape}")
    if not np.isin(h, (0, 1)).all():
        raise ValueError("haplotype alleles must be 0 (ref) or 1 (alt); impute missing calls first")
    return (h[:, :, 0] + 2 * h[:, :, 1]).astype(np.int8)


def states_to_haplotypes(states: np.ndarray) -> np.ndarray:
    """(n, V) phased states -> (n, V, 2) int8 alleles."""
    s = np.asarray(states)
    return np.stack([s & 1, s >> 1], axis=2).astype(np.int8)


def states_to_dosages(states: np.ndarray, n_states: int) -> np.ndarray:
    """States -> alt-allele dosages in {0, 1, 2}; unphased states already are dosages."""
    s = np.asarray(states)
    if n_states == DOSAGE_STATES:
        return s.astype(np.int8)
    if n_states == PHASED_STATES:
        return ((s & 1) + (s >> 1)).astype(np.int8)
    raise ValueError(
        f"n_states must be {DOSAGE_STATES} (dosages) or {PHASED_STATES} (phased), got {n_states}"
    )


def check_states(genotypes: np.ndarray, n_states: int) -> None:
    """Raise ValueError unless `genotypes` is (n, V) with every value a valid state."""
    g = np.asarray(genotypes)
    if g.ndim != 2:
        raise ValueError(f"genotypes must be (n, V), got shape {g.shape}")
    if n_states not in (DOSAGE_STATES, PHASED_STATES):
        raise ValueError(
            f"n_states must be {DOSAGE_STATES} (dosages) or {PHASED_STATES} (phased), got {n_states}"
        )
    if g.size and (g.min() < 0 or g.max() >= n_states):
        kind = "dosages in {0, 1, 2} with missing calls imputed" if n_states == 3 else "phased states in 0..3"
        raise ValueError(f"genotypes must be {kind}")

"""What differencing two rounded variant summaries reveals about one patient (docs/panel.md).

    .venv/bin/python bench/rounded_release_differencing.py [GENOTYPES ...]   # default: demo/cohorts/maykop
        [--round-to R] [--patients N]

The default release of `genofed hospital variants` rounds every count to a multiple of R alleles
(10). Two releases of nearly the same cohort, one with a patient and one without (a patient added,
withdrawn or moved between the two), differ wherever the patient's alleles move a count across a
rounding edge. For each of the first N patients (default: all) this removes the patient, rounds the
counts of the others as `rounded_summary` does, and counts the variants whose released alt count
changes. A changed alt count can only come from an alt allele of that patient, so every changed
variant is one the patient carries: the differencing names them with no false hit. Prints, per
cohort, the patients' mean numbers and the share of their carried variants revealed, plus how many
called counts and whether the `samples` line change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from genofed.common.data.cohort import MISSING
from genofed.common.data.readers import read_genotypes
from genofed.common.data.variant_summary import DEFAULT_ROUND_TO, exact_counts, round_counts

DEFAULT = Path("demo/cohorts/maykop/genotypes.vcf.gz")


def differencing(path: Path, round_to: int, patients: int | None) -> None:
    """Print what removing one patient changes in the rounded release of `path`'s cohort."""
    matrix = read_genotypes(path)
    called, alt = exact_counts(matrix)
    released_alt, released_called = round_counts(alt, round_to), round_counts(called, round_to)
    released_samples = round_counts(matrix.n_samples, round_to)
    rows = []
    for i in range(matrix.n_samples if patients is None else min(patients, matrix.n_samples)):
        dosages = matrix.dosages[i]
        typed = dosages != MISSING
        carried = typed & (dosages > 0)
        without_alt = round_counts(alt - np.where(typed, dosages, 0), round_to)
        without_called = round_counts(called - 2 * typed, round_to)
        changed = without_alt != released_alt
        rows.append(
            (
                int(carried.sum()),
                int(changed.sum()),
                int((changed & carried).sum()),
                int((without_called != released_called).sum()),
                bool(round_counts(matrix.n_samples - 1, round_to) != released_samples),
            )
        )
    table = np.array(rows, dtype=np.float64)
    carried, changed, true_hits, called_changed, samples_changed = table.T
    print(f"{path}: {matrix.n_samples} patients, {matrix.n_variants} variants, counts rounded to {round_to}")
    print(f"  patients removed one at a time: {len(rows)}")
    print(f"  alt-carrying variants per patient: mean {carried.mean():.0f}")
    print(
        f"  alt counts that change when the patient is removed: mean {changed.mean():.0f} "
        f"(min {changed.min():.0f}, max {changed.max():.0f}); at variants the patient carries: "
        f"{true_hits.sum() / max(changed.sum(), 1):.1%} of them"
    )
    share = np.mean(changed / np.maximum(carried, 1))
    print(f"  share of the patient's carried variants revealed: mean {share:.1%}")
    print(f"  called counts that change: mean {called_changed.mean():.0f}")
    print(f"  samples line changes: for {int(samples_changed.sum())} of {len(rows)} patients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("genotypes", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--round-to", type=int, default=DEFAULT_ROUND_TO)
    parser.add_argument("--patients", type=int, default=None, help="the first N patients (default: all)")
    args = parser.parse_args()
    for path in args.genotypes:
        differencing(path, args.round_to, args.patients)


if __name__ == "__main__":
    main()

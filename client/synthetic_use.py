"""A site's validated synthetic cohort in its own local training.

The site first runs `genofed synth` (or `genofed simulate --synthetic-ratio` does it for every
virtual site), which writes a synthetic cohort only if it passed validation, plus
`validation.json`. Training then adds `ratio x (real training patients)` of those records to the
site's training rows. Nothing synthetic is ever sent: only the weights trained on the mix.

Why the privacy guarantee stays end to end with respect to the real patients:

- Under DP the generator was trained with DP-SGD and charged to this site's ledger; its records
  are post-processing of that release, so using them costs nothing more.
- The classifier's DP-SGD then runs over real + synthetic rows with Poisson sampling at rate q
  per row: every real patient is still included with probability q and clipped to the same
  norm, so the accountant's figure for the real patients is unchanged; the synthetic rows only
  add data. The plan calibrates this training against the ledger's earlier history, generator
  included, so the site's total epsilon stays within its budget.
- What would break it, and is refused: DP training with a cohort from a NON-private generator
  (those records carry the patients without any bound), or from a DP generator that is not in
  this site's ledger (its cost would be missing from the reported epsilon).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.synth import SUMMARY_FILE
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import GenofedError
from genofed.common.privacy.ledger import PrivacyLedger

logger = logging.getLogger(__name__)


class SyntheticCohortError(GenofedError):
    """The synthetic cohort a site was told to train with cannot be used."""


@dataclass(frozen=True)
class SyntheticCohort:
    """Accepted synthetic records, encoded like the site's real patients, and where they came from."""

    folder: Path
    features: np.ndarray  # (n, V) float32, the model's input encoding
    labels: np.ndarray  # (n,) float32 0/1
    epsilon: float | None  # what the generator spent; None: trained without DP
    ledger_plan: str | None  # its charge in the site's ledger (DP only)
    generator: str

    def __len__(self) -> int:
        return len(self.labels)


def load_synthetic(folder: Path, panel: VariantPanel) -> SyntheticCohort:
    """Read a `genofed synth` output folder. A batch that failed validation holds no records and
    yields an empty cohort: failed batches are not used, and the site trains on its real patients
    (its describe reply then reports 0 synthetic records, so the coordinator's report shows it)."""
    summary = _summary(folder)
    spec = FeatureSpec(alt_freq=panel.alt_freq)  # the encoding of the site's real patients (site.py)
    epsilon = summary.get("epsilon")
    epsilon = None if epsilon is None else float(epsilon)
    kind = str(summary.get("generator", {}).get("kind", "vae"))
    if not summary.get("passed"):
        failed = ", ".join(summary.get("failed_checks", [])) or "unknown checks"
        logger.warning(
            "%s: the synthetic batch failed validation (%s); training on real patients only", folder, failed
        )
        empty = np.zeros((0, spec.n_features), dtype=np.float32)
        return SyntheticCohort(
            folder, empty, np.zeros(0, dtype=np.float32), epsilon, summary.get("ledger_plan"), kind
        )
    cohort = load_site(folder / "genotypes.vcf.gz", folder / "phenotypes.csv", panel=panel).cohort
    features = encode(spec, cohort)
    return SyntheticCohort(
        folder, features, cohort.labels.astype(np.float32), epsilon, summary.get("ledger_plan"), kind
    )


def synthetic_count(ratio: float, n_real: int, available: int) -> int:
    """How many synthetic rows a site trains with: ratio x its real training patients, at most
    what it has (the validation may have dropped some)."""
    return min(int(round(ratio * n_real)), available)


def check_end_to_end(cohort: SyntheticCohort, *, private: bool, ledger_path: Path) -> None:
    """Refuse synthetic records that would make a DP run's epsilon understate the real patients'
    exposure (see the module docstring). Without DP anything validated may be used."""
    if not private or len(cohort) == 0:
        return
    if cohort.epsilon is None:
        raise SyntheticCohortError(
            f"{cohort.folder}: these synthetic records come from a generator trained WITHOUT differential "
            "privacy, so training with them under DP would report an epsilon that does not cover the real "
            "patients. Generate them with genofed synth --epsilon E --state-dir <this site's state dir>, or "
            "train without synthetic data."
        )
    charged = {c.plan_id for c in PrivacyLedger(ledger_path).charges}
    if cohort.ledger_plan not in charged:
        raise SyntheticCohortError(
            f"{cohort.folder}: the generator's privacy cost (plan {cohort.ledger_plan}) is not in this "
            f"site's ledger {ledger_path}, so the site's epsilon would not include it. Generate the "
            "synthetic cohort with --state-dir pointing at this site's state dir."
        )


def _summary(folder: Path) -> dict[str, Any]:
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise SyntheticCohortError(
            f"{folder} is not a genofed synth output (no {SUMMARY_FILE}); create it with genofed synth"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SyntheticCohortError(
            f"{path}: not valid JSON ({exc}); regenerate the synthetic cohort"
        ) from None

"""Validation thresholds for tests that need any synthetic batch to pass, and a `genofed synth`
output written directly (no generator trained) for tests of how a site uses one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from genofed.client.synthetic_use import RECORDS_DIGESTS, SUMMARY_FILE, records_digests
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_vcf
from genofed.common.synthetic.checks import Thresholds

#: Every check reported but none failing: the tests need a batch that passes on 80 patients.
PERMISSIVE = Thresholds(
    af_correlation_min=-1.0,
    ld_correlation_min=-1.0,
    aats_low=0.0,
    aats_high=1.0,
    privacy_loss_max=1.0,
    exact_copies_max=10**6,
    mia_auc_max=1.0,
    spurious_rate_max=float(
        "inf"
    ),  # the check is strict (<): 1.0 failed a batch whose every finding was spurious
    association_recall_min=None,
    pca_mixing_min=None,
    genotype_tvd_mean_max=None,
    effect_correlation_min=None,
    fidelity_limits="fixed",  # no real-sample band either
)


def write_batch(
    folder: Path, panel: VariantPanel, records: int, *, passed: bool = True, seed: int = 0
) -> Path:
    """A `genofed synth` output as the loader reads it: `records` accepted records (none written
    when the batch failed, as `genofed synth` does), generated without DP."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    if passed and records:
        ids = [f"SYN{i + 1:06d}" for i in range(records)]
        write_vcf(
            folder / "genotypes.vcf.gz", rng.integers(0, 3, (records, len(panel))), ids, panel.variant_ids
        )
        labels = rng.integers(0, 2, records)
        pd.DataFrame({"sample_id": ids, "label": labels}).to_csv(folder / "phenotypes.csv", index=False)
    summary = {
        "passed": passed,
        "failed_checks": [] if passed else ["ld_correlation"],
        "records_generated": records + 4,
        "records_dropped_as_too_close": 4,
        "records_written": records if passed else 0,
        "epsilon": None,
        "ledger_plan": None,
        "generator": {"kind": "vae"},
    }
    if passed and records:  # as `genofed synth` binds its records to its validation.json
        summary[RECORDS_DIGESTS] = records_digests(folder)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary))
    return folder

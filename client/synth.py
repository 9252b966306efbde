"""`genofed synth`: a hospital's own synthetic cohort, generated and validated on site.

The generator (a label-conditional VAE, `genofed.common.synthetic.vae`) trains on 80 % of the
site's patients; the other 20 % never touch it and serve the validation's privacy checks
(distance to closest record, adversarial accuracy, membership inference need real records the
generator did not see). Records that sit too close to a training record are dropped, the batch
is validated (`genofed.common.synthetic.validation`), and only a batch that passes is written as
a VCF and a phenotype file; the report is written either way.

Under DP (`--epsilon`) the generator's training is charged to the site's privacy ledger in
`--state-dir`, the same ledger its federated training charges, so the site's epsilon stays end to
end with respect to its real patients.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genofed.common.atomic import atomic_dir, write_text_atomic
from genofed.common.cohort import MISSING
from genofed.common.errors import GenofedError
from genofed.common.loading import load_site
from genofed.common.privacy import LEDGER_FILE, BudgetExhausted, Charge, PrivacyLedger, epsilon_of
from genofed.common.splits import stratified_split
from genofed.common.synthetic.vae import TrainedVAE, VAESettings, dp_noise_for_budget, train_vae
from genofed.common.synthetic.validation import record_failures, validate_synthetic
from genofed.common.writers import write_vcf

HOLDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class SynthOptions:
    n: int | None = None  # records to generate; default: as many as the real cohort
    epsilon: float = math.inf  # spent on the generator; inf = no DP (then no ledger charge)
    delta: float = 1e-5
    budget: float | None = None  # the site's lifetime cap; refused if the ledger would exceed it
    state_dir: str = ""  # where the site's ledger lives (required with a finite epsilon)
    seed: int = 42
    vae: VAESettings = VAESettings()

    def __post_init__(self) -> None:
        if self.n is not None and self.n < 1:
            raise GenofedError(f"--n must be >= 1 synthetic records, got {self.n}")
        if not self.epsilon > 0:
            raise GenofedError(f"--epsilon must be > 0 (inf for no DP), got {self.epsilon:g}")
        if not 0 < self.delta < 1:
            raise GenofedError(f"--delta must be in (0, 1), got {self.delta:g}")


def synthesize(genotypes: str | Path, phenotypes: str | Path, out: str | Path, options: SynthOptions) -> dict[str, Any]:
    """Train, sample, filter, validate and write; returns the summary written to validation.json."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GenofedError(f"{out} exists and is not empty; choose a new folder")
    private = not math.isinf(options.epsilon)
    if private and not options.state_dir:
        raise GenofedError("--epsilon needs --state-dir: the generator's privacy cost is charged to the site's ledger there")
    cohort = load_site(genotypes, phenotypes).cohort
    dosages = impute_mode(cohort.dosages)
    labels = cohort.labels.astype(np.int8)
    covariates = _covariates(cohort.covariates)
    train, holdout = stratified_split(labels, HOLDOUT_FRACTION, options.seed)

    if private:
        vae = _train_charged(dosages[train], labels[train], covariates, train, options, genotypes)
    else:
        vae = train_vae(dosages[train], labels[train], covariates=None if covariates is None else covariates[train],
                        settings=replace(options.vae, seed=options.seed), noise_multiplier=None)
    n = options.n or len(labels)
    records = vae.sample(n, case_fraction=float(labels[train].mean()), seed=options.seed + 1)
    drop = record_failures(real_train=dosages[train], real_holdout=dosages[holdout], synthetic=records.genotypes)
    keep = ~drop
    report = validate_synthetic(dosages[train], dosages[holdout], records.genotypes[keep], labels_real=labels[train],
                                labels_synth=records.labels[keep], labels_holdout=labels[holdout])
    summary = {
        "passed": report.passed,
        "failed_checks": report.failed_checks(),
        "records_generated": int(n),
        "records_dropped_as_too_close": int(drop.sum()),
        "records_written": int(keep.sum()) if report.passed else 0,
        "real_train": int(len(train)),
        "real_holdout": int(len(holdout)),
        "epsilon": options.epsilon if private else None,
        "delta": options.delta if private else None,
        "generator": {"kind": "conditional VAE", "settings": vae.settings.__dict__, "epochs_loss": vae.losses[-1:]},
        "validation": report.to_dict(),
        "seconds": time.perf_counter() - started,
    }
    _write(out, summary, report.to_markdown(), cohort.variant_ids, records, keep, covariates is not None, report.passed)
    return summary


def impute_mode(dosages: np.ndarray) -> np.ndarray:
    """Missing calls -> the variant's most common called genotype at this site (the generator
    models observed genotypes; a 'missing' category would be synthesised as such)."""
    out = dosages.copy()
    missing = out == MISSING
    if missing.any():
        counts = np.stack([(dosages == g).sum(axis=0) for g in (0, 1, 2)])
        mode = counts.argmax(axis=0).astype(out.dtype)
        out[missing] = np.broadcast_to(mode, out.shape)[missing]
    return out


def _covariates(frame: pd.DataFrame) -> np.ndarray | None:
    """(sex, age) when the site has both for every patient; otherwise the generator skips them."""
    lowered = {str(c).lower(): c for c in frame.columns}
    if "sex" not in lowered or "age" not in lowered:
        return None
    values = frame[[lowered["sex"], lowered["age"]]].to_numpy(dtype=np.float64)
    return None if np.isnan(values).any() else values


def _train_charged(x: np.ndarray, y: np.ndarray, covariates: np.ndarray | None, train: np.ndarray, options: SynthOptions,
                   genotypes: str | Path) -> TrainedVAE:
    """Calibrate, train and charge under the ledger lock, refusing before training when the budget would be exceeded."""
    state = Path(options.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    settings = replace(options.vae, seed=options.seed)
    with PrivacyLedger(state / LEDGER_FILE).locked() as ledger:
        spent = ledger.epsilon(options.delta)
        target = spent + options.epsilon
        if options.budget is not None and target > options.budget:
            raise BudgetExhausted(f"this site has spent epsilon {spent:.2f}; {options.epsilon:g} more for the generator would "
                                  f"exceed its budget of {options.budget:g}. Nothing was trained or written.")
        sigma = dp_noise_for_budget(len(y), settings, epsilon=target, delta=options.delta, history=ledger.history())
        vae = train_vae(x, y, covariates=None if covariates is None else covariates[train], settings=settings,
                        noise_multiplier=sigma)
        digest = hashlib.sha256(x.tobytes() + y.tobytes() + json.dumps(settings.__dict__, default=str).encode()).hexdigest()
        plan = f"synth-{digest[:16]}-{options.seed}"
        after = epsilon_of([*ledger.history(), *vae.history], options.delta)
        for i, (noise, rate, steps) in enumerate(vae.history):
            ledger.charge(Charge(plan_id=plan, round=i, noise_multiplier=noise, sample_rate=rate, steps=steps,
                                 epsilon_after=after, time=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                 note=f"synthetic-data generator (VAE) on {Path(genotypes).name}", input_digest=digest))
        spent_after = ledger.epsilon(options.delta)
        if spent_after > target * (1 + 1e-6):
            raise GenofedError(f"internal: generator spent epsilon {spent_after:.3f}, more than planned {target:.3f}")
    return vae


def _write(out: Path, summary: dict, markdown: str, variant_ids: list[str], records, keep: np.ndarray, with_covariates: bool,
           passed: bool) -> None:
    """Everything into a staging folder, renamed into place at the end: no half-written output."""
    with atomic_dir(out) as staging:
        if passed:
            ids = [f"SYN{i + 1:06d}" for i in range(int(keep.sum()))]
            write_vcf(staging / "genotypes.vcf.gz", records.genotypes[keep], ids, variant_ids)
            frame = pd.DataFrame({"sample_id": ids, "label": records.labels[keep].astype(int)})
            if with_covariates and records.sex is not None:
                frame["sex"] = np.where(records.sex[keep] == 0, "M", "F")  # the reader's 0 = male
                frame["age"] = np.round(records.age[keep], 1)
            write_text_atomic(staging / "phenotypes.csv", frame.to_csv(index=False))
        write_text_atomic(staging / "validation.json", json.dumps(summary, indent=2, default=str) + "\n")
        verdict = "written" if passed else "NOT written: the batch failed validation (" + ", ".join(summary["failed_checks"]) + ")"
        write_text_atomic(staging / "report.md", f"# Synthetic cohort\n\nRecords {verdict}.\n\n{markdown}\n")

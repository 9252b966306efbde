"""The verdict on one synthetic batch: `validate_synthetic` runs every metric family, compares
each metric with its limit and returns a `ValidationReport` (every metric, every check, passed
or not). `ValidationReport.to_dict()` is JSON-ready; `to_markdown()` is a short table.

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genofed.common.synthetic.checks.arrays import as_dosages
from genofed.common.synthetic.checks.frequencies import FidelityResult, fidelity
from genofed.common.synthetic.checks.label_associations import AssociationResult, associations
from genofed.common.synthetic.checks.leakage import PrivacyResult, privacy
from genofed.common.synthetic.checks.linkage_disequilibrium import DEFAULT_LD_WINDOW, LDResult, linkage
from genofed.common.synthetic.checks.structure import StructureResult, population_structure
from genofed.common.synthetic.checks.thresholds import DEFAULT_THRESHOLDS, Thresholds


@dataclass(frozen=True)
class CheckResult:
    """One pass/fail line of the verdict."""

    name: str
    value: float | None
    threshold: str
    passed: bool
    applicable: bool = True


@dataclass(frozen=True)
class ValidationReport:
    """Every metric, every check and the overall verdict for one synthetic batch."""

    passed: bool
    checks: list[CheckResult]
    fidelity: FidelityResult
    ld: LDResult
    structure: StructureResult
    associations: AssociationResult
    privacy: PrivacyResult
    n_train: int
    n_holdout: int
    n_synthetic: int
    n_variants: int

    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.applicable and not c.passed]

    def to_dict(self, *, per_variant: bool = False) -> dict[str, Any]:
        """JSON-ready (NaN becomes None). Per-variant effect lists only when asked for."""
        out = asdict(self)
        if not per_variant:
            for key in ("log_or_real", "log_or_synthetic", "p_real", "p_synthetic"):
                out["associations"].pop(key)
        out["failed_checks"] = self.failed_checks()
        return _json_clean(out)

    def to_markdown(self) -> str:
        """Short table a hospital bioinformatician can read: check, value, limit, result."""
        lines = [
            f"Synthetic batch: {'PASSED' if self.passed else 'FAILED'} "
            f"({self.n_synthetic} synthetic vs {self.n_train} training / {self.n_holdout} holdout records, "
            f"{self.n_variants} variants)",
            "",
            "| check | value | limit | result |",
            "| --- | --- | --- | --- |",
        ]
        for c in self.checks:
            value = (
                "n/a"
                if c.value is None or (isinstance(c.value, float) and math.isnan(c.value))
                else f"{c.value:.4g}"
            )
            result = "n/a" if not c.applicable else ("pass" if c.passed else "FAIL")
            lines.append(f"| {c.name} | {value} | {c.threshold} | {result} |")
        return "\n".join(lines) + "\n"


def _json_clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _at_least(name: str, value: float | None, limit: float | None) -> CheckResult:
    if limit is None or value is None:
        return CheckResult(
            name, value, f">= {limit}" if limit is not None else "reported", True, applicable=False
        )
    return CheckResult(name, value, f">= {limit:g}", bool(np.isfinite(value) and value >= limit))


def _at_most(name: str, value: float | None, limit: float | None, *, strict: bool = False) -> CheckResult:
    if limit is None or value is None:
        return CheckResult(name, value, "reported", True, applicable=False)
    ok = value < limit if strict else value <= limit
    return CheckResult(name, value, f"{'<' if strict else '<='} {limit:g}", bool(np.isfinite(value) and ok))


def validate_synthetic(
    real_train: np.ndarray,
    real_holdout: np.ndarray,
    synthetic: np.ndarray,
    *,
    labels_real: np.ndarray,
    labels_synth: np.ndarray,
    labels_holdout: np.ndarray | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    positions: np.ndarray | None = None,
    chromosomes: np.ndarray | None = None,
    ld_window: int = DEFAULT_LD_WINDOW,
    pca_components: int = 10,
    seed: int = 0,
) -> ValidationReport:
    """Every check on one synthetic batch; `passed` only if every applicable check
    passes (a NaN metric fails). Fidelity, LD, structure and associations compare the synthetic
    batch with the real training data (what the generator saw and must reproduce; `labels_real`
    are the training labels); privacy also uses the holdout as the no-leak reference, and with
    `labels_holdout` the spurious-association rate of the holdout itself is reported (the metric's
    noise floor at this sample size; reported, not checked)."""
    train, holdout, synthetic = _dosage_arrays(real_train, real_holdout, synthetic)
    fid = fidelity(real=train, synthetic=synthetic)
    ld = linkage(
        real=train, synthetic=synthetic, window=ld_window, positions=positions, chromosomes=chromosomes
    )
    pop = population_structure(
        real=train, synthetic=synthetic, holdout=holdout, n_components=pca_components, seed=seed
    )
    assoc = _label_associations(
        train, synthetic, holdout, labels_real, labels_synth, labels_holdout, thresholds
    )
    priv = privacy(real_train=train, real_holdout=holdout, synthetic=synthetic, seed=seed)
    checks = _threshold_checks(thresholds, fid, ld, pop, assoc, priv)
    return ValidationReport(
        passed=all(c.passed for c in checks if c.applicable),
        checks=checks,
        fidelity=fid,
        ld=ld,
        structure=pop,
        associations=assoc,
        privacy=priv,
        n_train=len(train),
        n_holdout=len(holdout),
        n_synthetic=len(synthetic),
        n_variants=train.shape[1],
    )


def _dosage_arrays(
    real_train: np.ndarray, real_holdout: np.ndarray, synthetic: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three batches as checked dosage matrices (`as_dosages`), all with the training
    data's number of variants."""
    train = as_dosages(real_train, "real_train")
    m = train.shape[1]
    holdout = as_dosages(real_holdout, "real_holdout", m)
    synthetic = as_dosages(synthetic, "synthetic", m)
    return train, holdout, synthetic


def _label_associations(
    train: np.ndarray,
    synthetic: np.ndarray,
    holdout: np.ndarray,
    labels_real: np.ndarray,
    labels_synth: np.ndarray,
    labels_holdout: np.ndarray | None,
    t: Thresholds,
) -> AssociationResult:
    """`associations` of the synthetic batch against the training data, at the thresholds' alphas."""
    return associations(
        real=train,
        labels_real=labels_real,
        synthetic=synthetic,
        labels_synth=labels_synth,
        synthetic_alpha=t.synthetic_alpha,
        correction=t.correction,
        real_nominal_alpha=t.real_nominal_alpha,
        holdout=holdout,
        labels_holdout=labels_holdout,
    )


def _threshold_checks(
    t: Thresholds,
    fid: FidelityResult,
    ld: LDResult,
    pop: StructureResult,
    assoc: AssociationResult,
    priv: PrivacyResult,
) -> list[CheckResult]:
    """Each metric against its threshold in `t`, in the report's order."""
    return [
        _at_least("allele_frequency_correlation", fid.af_correlation, t.af_correlation_min),
        _at_most("genotype_tvd_mean", fid.genotype_tvd_mean, t.genotype_tvd_mean_max),
        _at_least("ld_correlation", ld.ld_correlation, t.ld_correlation_min),
        _at_least("pca_mixing", pop.mixing_synthetic, t.pca_mixing_min),
        _at_most("spurious_association_rate", assoc.spurious_rate, t.spurious_rate_max, strict=True),
        _at_least("association_recall", assoc.association_recall, t.association_recall_min),
        _at_least("effect_correlation", assoc.effect_correlation, t.effect_correlation_min),
        CheckResult(
            "aats_train",
            priv.aats_train,
            f"in [{t.aats_low:g}, {t.aats_high:g}]",
            bool(t.aats_low <= priv.aats_train <= t.aats_high),
        ),
        _at_most("privacy_loss", priv.privacy_loss, t.privacy_loss_max, strict=True),
        _at_most("exact_copies", float(priv.exact_copies), float(t.exact_copies_max)),
        _at_most("mia_auc", priv.mia_auc, t.mia_auc_max),
    ]

"""The verdict on one synthetic batch: `validate_synthetic` runs every metric family, compares
each metric with its limit and returns a `ValidationReport` (every metric, every check, passed
or not). `ValidationReport.to_dict()` is JSON-ready; `to_markdown()` is a short table.

The fidelity checks (allele frequencies, genotype TVD, LD, PCA mixing) are judged by the
real-sample band by default (`bands`, `Thresholds.fidelity_limits == "band"`): the synthetic
batch against the holdout, next to what equal-size real samples score there. The same metrics
against the training patients stay in the report (`fidelity`, `ld`, `structure`), with the fixed
targets shown beside the band. With "fixed" the checks are the fixed limits against training.

Whether the privacy checks can tell at the batch's size (`precision`) is recorded beside them and
shown under the table with the privacy loss's own terms (holdout minus training, on as many records
of each): the verdict does not change, the advice and the warnings read it.

Inputs follow the data model in the package docstring (`genofed.common.synthetic.checks`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from genofed.common.synthetic.checks.arrays import as_dosages
from genofed.common.synthetic.checks.bands import BANDED_METRICS, RealSampleBands, real_sample_bands
from genofed.common.synthetic.checks.frequencies import FidelityResult, fidelity
from genofed.common.synthetic.checks.label_associations import AssociationResult, associations
from genofed.common.synthetic.checks.leakage import PrivacyResult, privacy
from genofed.common.synthetic.checks.linkage_disequilibrium import DEFAULT_LD_WINDOW, LDResult, linkage
from genofed.common.synthetic.checks.precision import CheckPrecision, check_precision, precision_dicts
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
    # The real-sample band of the fidelity checks (None with fixed fidelity limits), and those
    # checks' fixed targets, shown beside it ("none" where no fixed limit is set).
    bands: RealSampleBands | None = None
    fixed_targets: dict[str, str] = field(default_factory=dict)
    # Whether privacy_loss and mia_auc can tell at this size (`checks.precision`).
    precision: list[CheckPrecision] = field(default_factory=list)

    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.applicable and not c.passed]

    def to_dict(self, *, per_variant: bool = False) -> dict[str, Any]:
        """JSON-ready (NaN becomes None). Per-variant effect lists only when asked for."""
        out = asdict(self)
        if not per_variant:
            for key in ("log_or_real", "log_or_synthetic", "p_real", "p_synthetic"):
                out["associations"].pop(key)
        out["failed_checks"] = self.failed_checks()
        out["precision"] = precision_dicts(self.precision)
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
            value = _shown(c.value)
            result = "n/a" if not c.applicable else ("pass" if c.passed else "FAIL")
            lines.append(f"| {c.name} | {value} | {c.threshold} | {result} |")
        return "\n".join(lines + self._privacy_lines() + self._band_lines()) + "\n"

    def _privacy_lines(self) -> list[str]:
        """The privacy loss from its own terms, each with its records, so that holdout minus training
        gives the loss by hand (an audit subtracted the table's aats_train, on more records, and got
        the opposite verdict), and which privacy checks cannot tell at this size."""
        p = self.privacy
        lines = [
            "",
            f"privacy_loss = AA_ES - AA_TS on {p.n_subsample} records of each set: aats_holdout "
            f"{_shown(p.aats_holdout)} ({p.n_subsample} held-out vs {p.n_subsample} synthetic records) - "
            f"{_shown(p.aats_train_for_loss)} ({p.n_subsample} training vs the same {p.n_subsample} "
            f"synthetic records) = {_shown(p.privacy_loss)}, standard error {_shown(p.privacy_loss_se)}. "
            f"The aats_train check is AA_TS on {p.n_aats_train} training vs {p.n_aats_train} synthetic "
            f"records: {_shown(p.aats_train)}.",
        ]
        loose = [c for c in self.precision if not c.can_tell]
        if loose:
            said = ", ".join(
                f"{c.name} (standard error {c.standard_error:.2g}, margin {c.margin:g})" for c in loose
            )
            lines.append("")
            lines.append(
                f"At this size {said} cannot tell a batch that leaks nothing from one at the limit: the "
                "standard error is at least the margin between the two, so the result may be chance."
            )
        return lines

    def _band_lines(self) -> list[str]:
        """The fidelity metrics side by side: synthetic vs holdout, the real band, synthetic vs
        training and the fixed target (empty with fixed fidelity limits)."""
        if self.bands is None:
            return []
        b = self.bands
        q = f"{100 * b.quantile:g}th and {100 * (1 - b.quantile):g}th percentiles"
        if b.widening != 1.0:
            q = f"median -/+ {b.widening:.3g} x its distance to the {q}"
        lines = [
            "",
            f"Fidelity against real data of the same size: {b.resamples} bootstrap samples of "
            f"{b.sample_size} training patients, each compared with the {b.n_holdout} held-out patients "
            f"(band: {q}); the synthetic batch compared with them at {b.sample_size} records"
            + (f" (mean of {b.synthetic_draws} subsamples)" if b.synthetic_draws > 1 else "")
            + ".",
            "",
            "| metric | synthetic vs holdout | real band (low / median / high) | synthetic vs training "
            "| fixed target | result |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        vs_training = {
            "allele_frequency_correlation": self.fidelity.af_correlation,
            "genotype_tvd_mean": self.fidelity.genotype_tvd_mean,
            "ld_correlation": self.ld.ld_correlation,
            "pca_mixing": self.structure.mixing_synthetic,
        }
        for m in b.metrics:
            band = " / ".join(_shown(v) for v in (m.low, m.median, m.high))
            lines.append(
                f"| {m.name} | {_shown(m.synthetic)} | {band} | {_shown(vs_training.get(m.name))} "
                f"| {self.fixed_targets.get(m.name, 'none')} | {'pass' if m.passed else 'FAIL'} |"
            )
        return lines


def _shown(value: float | None) -> str:
    """A metric in a table: 4 significant digits, "n/a" when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


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
    noise floor at this sample size; reported, not checked).

    With `thresholds.fidelity_limits == "band"` (the default) the fidelity checks are judged
    against the real-sample band instead (`bands.real_sample_bands`, seeded by `seed`, using
    `ld_window`, `chromosomes` and `pca_components` as above); the vs-training values stay in the
    report. Label and privacy checks keep their fixed limits either way."""
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
    bands = None
    if thresholds.fidelity_limits == "band":
        bands = real_sample_bands(
            train,
            holdout,
            synthetic,
            resamples=thresholds.band_resamples,
            quantile=thresholds.band_quantile,
            seed=seed,
            ld_window=ld_window,
            chromosomes=chromosomes,
            pca_components=pca_components,
        )
    checks = _threshold_checks(thresholds, fid, ld, pop, assoc, priv)
    precision = check_precision(priv, thresholds, n_holdout=len(holdout))
    fixed_targets = {}
    if bands is not None:
        fixed_targets = {
            c.name: c.threshold if c.applicable else "none" for c in checks if c.name in BANDED_METRICS
        }
        checks = [_band_check(bands, c.name) if c.name in BANDED_METRICS else c for c in checks]
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
        bands=bands,
        fixed_targets=fixed_targets,
        precision=precision,
    )


def _band_check(bands: RealSampleBands, name: str) -> CheckResult:
    """The check `name` judged by its band: the synthetic value against the holdout."""
    b = bands.band(name)
    return CheckResult(name, b.synthetic, bands.limit_text(name), b.passed)


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

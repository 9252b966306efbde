"""Logistic recalibration: the calibration slope and calibration-in-the-large, with 95 % intervals.

The bins and the Hosmer-Lemeshow test (`genofed.common.reporting.calibration`) say whether the
risks come true; they do not say how to read a miss. Regressing the label on logit(risk) does
(Cox 1958; Van Calster et al. 2016's "weak calibration"):

- the **calibration slope** b of logit P(disease) = a + b logit(risk): 1 when the risks are as
  spread as the outcomes; below 1 the risks are too extreme (high ones too high, low ones too low,
  the usual sign of overfitting); above 1 too modest (a real difference in risk is larger than the
  score shows).
- **calibration-in-the-large**: the intercept a with b fixed at 1 (logit(risk) as an offset): 0
  when the risks are right on average; above 0 they are too low, below 0 too high. It is measured
  at the cohort's own case share, which for a case-enriched test cohort is not the real
  prevalence.

Both are fitted by Newton-Raphson (two parameters, at most; numpy only) with standard errors from
the observed information, the inverse of the Hessian at the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genofed.common.reporting.auc import Z95

#: Risks are clipped this far from 0 and 1 before the logit, so a risk printed as 1.0 stays finite.
RISK_CLIP = 1e-9
#: Newton-Raphson stops when no parameter moves by more than this, or after `MAX_STEPS` steps.
TOLERANCE = 1e-10
MAX_STEPS = 50


@dataclass(frozen=True)
class Estimate:
    """A fitted parameter and its two-sided 95 % Wald interval."""

    value: float
    low: float
    high: float

    def covers(self, target: float) -> bool:
        """Whether the interval holds `target` (1 for the slope, 0 for the intercept: perfect)."""
        return self.low <= target <= self.high


@dataclass(frozen=True)
class Recalibration:
    """The calibration slope and calibration-in-the-large of one cohort's risks, and its case share."""

    slope: Estimate
    intercept: Estimate  # calibration-in-the-large: the intercept with the slope fixed at 1
    people: int
    case_share: float


def recalibration(labels: np.ndarray, risks: np.ndarray) -> Recalibration | None:
    """The slope and calibration-in-the-large of `risks` against `labels` (1 = case).

    None when they cannot be estimated: fewer than 3 people, one class only, risks all equal (no
    spread to regress on) or a fit that does not converge (the labels separate perfectly by risk).
    """
    y = np.asarray(labels, dtype=np.float64)
    x = logit(np.asarray(risks, dtype=np.float64))
    if len(y) < 3 or y.min() == y.max() or np.ptp(x) == 0:
        return None
    slope_fit = _newton(np.column_stack([np.ones_like(x), x]), y, np.zeros_like(x))
    large_fit = _newton(np.ones((len(x), 1)), y, x)
    if slope_fit is None or large_fit is None:
        return None
    return Recalibration(
        slope=_estimate(*slope_fit, index=1),
        intercept=_estimate(*large_fit, index=0),
        people=len(y),
        case_share=float(y.mean()),
    )


def logit(risks: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [RISK_CLIP, 1 - RISK_CLIP]."""
    p = np.clip(risks, RISK_CLIP, 1.0 - RISK_CLIP)
    return np.log(p) - np.log1p(-p)


def _newton(design: np.ndarray, y: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximum-likelihood logistic coefficients of `design` (with a fixed `offset`) and their
    covariance (inverse observed information); None if the fit diverges or the information is
    singular. From zero, Newton-Raphson converges in a few steps on any non-separable data."""
    beta = np.zeros(design.shape[1])
    try:
        for _ in range(MAX_STEPS):
            p, information = _fit_at(design, offset, beta)
            step = np.linalg.solve(information, design.T @ (y - p))
            beta = beta + step
            if not np.all(np.isfinite(beta)):
                return None
            if np.max(np.abs(step)) < TOLERANCE:
                return beta, np.linalg.inv(_fit_at(design, offset, beta)[1])
    except np.linalg.LinAlgError:
        return None
    return None


def _fit_at(design: np.ndarray, offset: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted probabilities at `beta` and the observed information X' diag(p(1-p)) X there
    (for the logistic link it equals the expected information). A log-odds beyond about -709
    overflows exp to inf and p to its limit 0, which is right: the warning NumPy would print on a
    user's terminal (a run's report, `genofed adapt`) says nothing wrong."""
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(-(offset + design @ beta)))
    return p, design.T @ (design * (p * (1.0 - p))[:, None])


def _estimate(beta: np.ndarray, covariance: np.ndarray, index: int) -> Estimate:
    """Coefficient `index` with its Wald 95 % interval."""
    value = float(beta[index])
    half = Z95 * float(np.sqrt(max(covariance[index, index], 0.0)))
    return Estimate(value, value - half, value + half)

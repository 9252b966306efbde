"""The operating threshold and the risk distribution a model file carries, both read from the
hospitals' released validation histograms.

A hospital that evaluates the final model releases one DP histogram: its validation patients
counted by class and by predicted-risk bin (`genofed.common.privacy.release`), each count plus
Gaussian noise, charged to its privacy ledger. Everything here is post-processing of those noisy
counts (summed over hospitals), so choosing a threshold and describing the training population
costs no further privacy. The price is resolution: the bins are the release's (`SCORE_BINS`
equal widths on [0, 1]), so the threshold is a bin edge and percentiles are exact only at edges.

- `operating_point`: the bin edge that maximises Youden's J (sensitivity + specificity - 1) on
  the pooled noisy counts, with the sensitivity and specificity read from them there; none with
  fewer than `MIN_CLASS` cases or controls, the same minimum under which the report calls a
  hospital's validation AUC too few to judge, and none where no edge beats chance (J <= 0: a
  threshold there would flag people no more often among cases than among controls), nor where
  the best J is no more than the DP noise alone gives a model that does not separate the classes
  (`chance_youden`).
- `risk_distribution` and `percentiles`: the CDF of the pooled histogram (both classes), linear
  within a bin.

The noisy counts are used as released, negative ones included, so that every sum of them is
unbiased: setting negative counts to zero would add about 0.4 sigma to each empty cell, counting
patients who do not exist (290 for 242 validation patients in the demo) and spreading the risk
distribution into empty bins. Where noise makes a curve non-monotone, the running maximum keeps it
monotone, and ratios are clipped into [0, 1].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genofed.common.reporting.clinical import ThresholdMetrics
    from genofed.common.reporting.ratios import Prevalence

#: The rule `operating_point` applies, as recorded in results.json and the model file.
YOUDEN_RULE = (
    "youden: the bin edge of the pooled validation histogram (the hospitals' releases: noisy counts under "
    "DP, exact without) maximising sensitivity + specificity - 1, where that is more than the DP noise "
    "alone gives a model that does not separate cases from controls in 95 % of draws"
)

#: The share of noise draws whose best J a threshold's J must exceed (`chance_youden`).
CHANCE_QUANTILE = 0.95

#: Fewer (noisy) validation cases or controls than this: no operating threshold, and a hospital's
#: validation AUC in the report is "too few to judge". One minimum for both, so that a run never
#: sets a threshold from patients its own report calls too few.
MIN_CLASS = 10

#: What a threshold-less model file says instead (no hospital evaluated the model).
NO_THRESHOLD = (
    "no operating threshold: no hospital released a validation histogram of this model (site evaluations "
    "0), and no public fact fixes one; risks and percentiles only"
)


#: The same for a run that planned evaluations but recorded none (stopped before the replies came,
#: or every hospital refused): the hospitals may still have released, and paid for, one.
NO_EVALUATION_RECORDED = (
    "no operating threshold: the run planned {planned} evaluation(s) of the final model by the hospitals but "
    "recorded no validation histogram (stopped before their replies arrived, or every hospital refused); a "
    "hospital that answered has paid for its release, in its own ledger; risks and percentiles only"
)


def _counts(histogram: np.ndarray) -> np.ndarray:
    """Noisy counts as a (2, bins) float array, as released (see the module docstring)."""
    counts = np.asarray(histogram, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != 2 or counts.shape[1] < 2:
        raise ValueError(f"a score histogram is (2, bins) with bins >= 2, got shape {counts.shape}")
    return counts


def operating_point(
    histogram: np.ndarray, *, round_: int, min_class: int = MIN_CLASS, noise_per_count: float = 0.0
) -> dict[str, Any] | None:
    """The threshold at which a risk counts as high, from a pooled noisy (2, bins) histogram.

    Youden's J at every interior bin edge k / bins (risk >= edge is "high": the bins from k on),
    the largest J wins; a tie goes to the lowest edge, the more sensitive one. Sensitivity and
    specificity there are read from the same noisy counts (an estimate on the validation
    patients, not a guarantee). None when a class has fewer than `min_class` (noisy) patients: a
    threshold read from a handful of cases would be a noise draw; None too when no edge has J > 0:
    the validation patients show no cut-off better than chance, and the best of them is a label
    for a coin toss; and None when the best J is no more than `chance_youden`, what the noise
    alone reaches (`no_threshold_note` says which).

    Args:
        histogram: row 0 controls, row 1 cases, columns by predicted-risk bin; noisy counts.
        round_: the round whose evaluation released it (recorded as the threshold's source).
        min_class: the fewest cases, and controls, to choose a threshold from (at least 1).
        noise_per_count: the sd of the DP noise on each count (0: exact counts); when positive the
            record adds the noise sd of the sensitivity and specificity it reads (`_ratio_noise_sd`).
    """
    counts = _counts(histogram)
    controls, cases = counts
    n_controls, n_cases = float(controls.sum()), float(cases.sum())
    if min(n_controls, n_cases) < max(min_class, 1):
        return None
    bins = counts.shape[1]
    cuts = np.arange(1, bins)
    sensitivity, specificity = _rates(counts[None])
    sensitivity, specificity = sensitivity[0], specificity[0]
    youden = sensitivity + specificity - 1.0
    best = int(np.argmax(youden))  # the first maximum: the lowest edge among ties
    chance = chance_youden(counts, noise_per_count)
    if youden[best] <= max(chance, 0.0):
        return None
    cut = int(cuts[best])
    point = {
        "threshold": float(cut / bins),
        "rule": YOUDEN_RULE,
        "round": int(round_),
        "sensitivity": float(sensitivity[best]),
        "specificity": float(specificity[best]),
        "youden_j": float(youden[best]),
        "validation_patients": n_controls + n_cases,
        "validation_cases": n_cases,
        "bins": bins,
    }
    if noise_per_count > 0.0:
        point["chance_youden"] = chance
        point["sensitivity_noise_sd"] = _ratio_noise_sd(cases[cut:], cases[:cut], noise_per_count)
        point["specificity_noise_sd"] = _ratio_noise_sd(controls[:cut], controls[cut:], noise_per_count)
    return point


def _rates(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity at every interior bin edge of each (2, bins) histogram of
    `counts` (draws, 2, bins), as `operating_point` reads them: the counts as released, the
    shares clipped into [0, 1]; each (draws, bins - 1)."""
    controls, cases = counts[:, 0], counts[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = np.flip(np.cumsum(np.flip(cases, 1), 1), 1)[:, 1:] / cases.sum(1, keepdims=True)
        specificity = np.cumsum(controls, 1)[:, :-1] / controls.sum(1, keepdims=True)
    return np.clip(np.nan_to_num(sensitivity), 0.0, 1.0), np.clip(np.nan_to_num(specificity), 0.0, 1.0)


def chance_youden(counts: np.ndarray, noise_per_count: float) -> float:
    """The best Youden's J over the bin edges that the DP noise alone reaches in `CHANCE_QUANTILE`
    of draws for a model whose risks do not separate the classes: both classes spread over the bins
    as the released histogram's two rows together are, at their released totals, each count plus
    Gaussian noise of sd `noise_per_count` (`NOISE_SD_DRAWS` draws from a fixed seed: post-processing
    of public figures, no privacy cost). 0 for exact counts.

    Why: the best of nine noisy edges leans high. A walkthrough's run whose model was a coin toss
    (test AUC 0.508, 46 validation patients) got a threshold at J 1.00, its noisy sensitivity and
    specificity both clipped from above 1 to 1.00, flagging 88 % of the test cohort; here a model
    that cannot separate anyone reaches J 1.00 in 5 % of draws, so that J says nothing."""
    if noise_per_count <= 0.0:
        return 0.0
    spread = np.clip(counts.sum(axis=0), 0.0, None)
    if spread.sum() <= 0:
        return 0.0
    totals = counts.sum(axis=1)
    expected = totals[:, None] * (spread / spread.sum())[None, :]
    rng = np.random.default_rng(0)
    draws = expected[None] + rng.normal(0.0, noise_per_count, (NOISE_SD_DRAWS, *expected.shape))
    sensitivity, specificity = _rates(draws)
    best = (sensitivity + specificity - 1.0).max(axis=1)
    return float(np.quantile(best, CHANCE_QUANTILE))


#: Noise draws `_ratio_noise_sd` and `chance_youden` use, from a fixed seed: the same file gives the
#: same figure.
NOISE_SD_DRAWS = 4_000


def _ratio_noise_sd(part: np.ndarray, rest: np.ndarray, noise_per_count: float) -> float:
    """The sd that independent Gaussian noise of sd `noise_per_count` on every count gives the share
    a / (a + b), a = part.sum() and b = rest.sum(), clipped into [0, 1] as `operating_point` reads
    it: from `NOISE_SD_DRAWS` fresh draws of that noise on the released counts (post-processing of
    public figures: no privacy cost). A draw has a + b near 0 only where the released total is: such
    a rate is uninformative anyway. Not the delta method: at a validation cohort's sizes the ratio is
    far from linear in the noise, and it falls short.

    Why: the threshold's sensitivity and specificity are read from noisy counts and were printed to
    three decimals with nothing to say how far the noise alone moves them (a biostatistician's
    review). This is the noise at the chosen edge only: the edge was picked as the best of the
    noisy ones, so the figures also lean high."""
    rng = np.random.default_rng(0)
    a = float(part.sum()) + rng.normal(0.0, noise_per_count * math.sqrt(len(part)), NOISE_SD_DRAWS)
    b = float(rest.sum()) + rng.normal(0.0, noise_per_count * math.sqrt(len(rest)), NOISE_SD_DRAWS)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.clip(a / (a + b), 0.0, 1.0)
    return float(np.nanstd(shares))


def no_threshold_note(
    histogram: np.ndarray, *, min_class: int = MIN_CLASS, noise_per_count: float = 0.0
) -> str:
    """Why `operating_point` set no threshold from `histogram`: too few (noisy) cases or controls,
    no bin edge better than chance on them, or none better than the noise alone reaches
    (`noise_per_count` as given to `operating_point`)."""
    counts = _counts(histogram)
    controls, cases = np.maximum(counts.sum(axis=1), 0.0)
    if min(controls, cases) < max(min_class, 1):
        return (
            f"no operating threshold: {cases:.0f} cases and {controls:.0f} controls among the validation "
            f"patients (noisy counts), fewer than {min_class} of a class; risks and percentiles only"
        )
    sensitivity, specificity = _rates(counts[None])
    best = float((sensitivity + specificity - 1.0).max())
    chance = chance_youden(counts, noise_per_count)
    if best > 0.0:
        return (
            f"no operating threshold: the best cut-off on the validation patients ({cases:.0f} cases and "
            f"{controls:.0f} controls, noisy counts) reaches sensitivity + specificity - 1 = {best:.2f}, and "
            f"the privacy noise alone reaches {chance:.2f} in {CHANCE_QUANTILE:.0%} of draws for a model "
            "whose risks do not separate cases from controls, so these counts cannot place a cut-off; risks "
            "and percentiles only (the report's figures on the coordinator's test cohort are exact)"
        )
    return (
        f"no operating threshold: at no cut-off did the validation patients ({cases:.0f} cases and "
        f"{controls:.0f} controls, noisy counts) show more of the cases than of the controls above it "
        "(sensitivity + specificity - 1 <= 0 everywhere), so the model's risks did not separate them "
        "there; risks and percentiles only"
    )


def risk_distribution(
    histogram: np.ndarray, *, round_: int, noise_per_count: float = 0.0, private: bool = False
) -> dict[str, Any] | None:
    """The training population's risk distribution: the CDF at the bin edges of the pooled noisy
    histogram, both classes together (the federation's validation patients, a clinic population
    with the clinics' share of cases). None when the noisy total is not positive.

    `noise_per_count`: the sd of the DP noise on each pooled count (0: exact counts). It sets
    `percentile_sd`, the largest sd the noise gives a percentile at a bin edge (in points): each
    edge's cumulative count holds the noise of the cells below it, both classes, and is divided
    by the noisy total. `percentiles_shown` says whether that, with the sampling error of so few
    people (`total_percentile_sd`), stays within `MAX_PERCENTILE_SD`: on a few dozen noisy
    patients an audit found every risk below 0.30 at percentile 1 (26 % of the test cohort) and a
    mean error of 22 points.

    `private`: the run trained with DP. Its counts are never called exact, even where the
    hospitals' replies named no noise (a ClientApp of one's own; `val-noise` absent reads as 0).
    """
    totals = _counts(histogram).sum(axis=0)
    n = float(totals.sum())
    if n <= 0:
        return None
    bins = totals.size
    cdf = np.maximum.accumulate(np.clip(np.concatenate([[0.0], np.cumsum(totals) / n]), 0.0, 1.0))
    cdf[-1] = 1.0  # exact, not 1 - rounding
    spread = percentile_sd(n, bins, noise_per_count)
    if noise_per_count > 0:
        counts = "counts as released (noisy)"
    elif private:
        counts = "counts as released under DP (the hospitals' replies named no noise)"
    else:
        counts = "exact counts (released without DP noise)"
    return {
        "edges": [float(k / bins) for k in range(bins + 1)],
        "cdf": [float(c) for c in cdf],
        "patients": n,
        "round": int(round_),
        "noise_per_count": float(noise_per_count),
        "percentile_sd": spread,
        "source": f"pooled validation histogram of the hospitals (both classes), {counts}, made monotone; "
        "linear within a bin",
    }


#: The largest sd (in percentile points: DP noise and sampling together, `total_percentile_sd`)
#: at which `predict` still shows a percentile: a difference of a few points is no difference
#: (docs/predicting.md), and beyond this the error moves a percentile by more than that in one case
#: of three.
MAX_PERCENTILE_SD = 5.0


def percentiles_shown(distribution: dict[str, Any], *, exact: bool = True) -> bool:
    """Whether `predict` shows percentiles from `distribution`: the total sd of a percentile
    (`total_percentile_sd`: its recorded DP noise, none for exact counts or a file from before it
    was recorded, and the sampling error of the people it was read off) is within
    `MAX_PERCENTILE_SD`. `exact`: `exact_counts` of the whole file; counts that are not exact but
    record a noise of 0 (a DP run whose replies named none) have a noise nobody knows, and are not
    shown (a reviewer: they were judged by their sampling error alone)."""
    if not exact and distribution.get("noise_per_count") == 0:
        return False
    return total_percentile_sd(distribution) <= MAX_PERCENTILE_SD


def sampling_percentile_sd(distribution: dict[str, Any]) -> float | None:
    """The largest sd, in percentile points, that sampling alone gives a percentile read from
    `distribution`'s n people (its `patients`, exact or a DP run's noisy count): the share of n
    people below a risk has sd sqrt(p (1 - p) / n), at most 100 x 0.5 / sqrt(n) points (at the
    median). None for a distribution that records no number of people.

    Why: the DP noise's 5-point rule left exact counts always shown, and an adapted model showed
    percentiles read off its hospital's 23 validation patients (a new-user walkthrough), where one
    moves by up to 10 points: within `MAX_PERCENTILE_SD` takes at least 100 people. A DP run's
    distribution is as few people's, its noise on top (`total_percentile_sd`)."""
    patients = distribution.get("patients")
    if not isinstance(patients, int | float) or isinstance(patients, bool):
        return None
    return 100.0 * 0.5 / math.sqrt(float(patients)) if float(patients) > 0 else math.inf


def total_percentile_sd(distribution: dict[str, Any]) -> float:
    """The largest sd, in percentile points, of a percentile read from `distribution`: its DP
    noise (`percentile_sd`, 0 for exact counts) and its sampling error on the people it was read
    off (`sampling_percentile_sd`), combined in quadrature, as independent errors add.

    Why: the DP noise alone was held to `MAX_PERCENTILE_SD` while exact counts were held to their
    sampling error, so a DP run's percentiles read off 130 noisy people at a noise of 3.1 points were
    shown (4.4 points of sampling on top: 5.4 together), where 130 exact people at 4.4 points alone
    would be shown and 65 exact people would not."""
    noise = float(distribution.get("percentile_sd") or 0.0)
    sampled = sampling_percentile_sd(distribution) or 0.0
    return float(math.hypot(noise, sampled))


def minimum_for_percentiles() -> int:
    """The fewest people whose exact counts `percentiles_shown` accepts: the smallest n with
    100 x 0.5 / sqrt(n) within `MAX_PERCENTILE_SD` (100 at 5 points); a DP run's noise asks for more."""
    return math.ceil((100.0 * 0.5 / MAX_PERCENTILE_SD) ** 2)


def exact_counts(operating: dict[str, Any], provenance: Any) -> bool:
    """Whether a model file's validation figures were read from exact counts: its operating
    threshold and its risk distribution (`operating`, both read from the same counts), given its
    `provenance`. The one rule `predict` and `inspect-model` apply to every figure they call exact
    or noisy, so that no two places can say otherwise of the same file.

    Exact: a `genofed adapt` file's, from the hospital's own validation patients (nothing released;
    its records' `source` says "exact"), or a federated run's without DP (its risk distribution
    records `noise_per_count` 0). Not exact: a DP run's, the hospitals' released, noisy, counts, and
    with them any file whose recorded settings name a finite epsilon (`trained_with_dp`), whatever
    its noise fields say: a reply that named no noise (`val-noise` absent) counts as 0, and such a
    file's distribution says "exact counts" of counts that were noised; nor a threshold that records
    a noise sd. A file from before the noise was recorded has none, and stays as it was read.

    Why the recorded noise: a run without DP recorded its exact counts as "noisy" until 2026-12-07,
    and so escaped the sampling rule of `sampling_percentile_sd` (percentiles read off 65 people
    were shown); its file records `noise_per_count` 0, which says it. Why one function of the whole
    file: the threshold's words checked the settings and the percentiles' did not, so a DP-trained
    file whose replies named no noise had its percentiles called exact counts beside a noisy
    threshold."""
    if trained_with_dp(provenance):
        return False
    point = operating.get("threshold") if isinstance(operating, dict) else None
    point = point if isinstance(point, dict) else {}
    if "sensitivity_noise_sd" in point or "specificity_noise_sd" in point:
        return False
    distribution = operating.get("risk_distribution") if isinstance(operating, dict) else None
    distribution = distribution if isinstance(distribution, dict) else {}
    if any("exact" in str(record.get("source") or "") for record in (point, distribution)):
        return True
    noise = distribution.get("noise_per_count")
    return isinstance(noise, int | float) and not isinstance(noise, bool) and float(noise) == 0.0


def trained_with_dp(provenance: Any) -> bool:
    """Whether a model file's recorded run settings (`provenance.settings.epsilon`) name a finite
    epsilon: a run with DP, whatever noise its records show. A run without DP records "inf"; a
    file without settings (an older or hand-made one) is not said to be one."""
    settings = provenance.get("settings") if isinstance(provenance, dict) else None
    epsilon = settings.get("epsilon") if isinstance(settings, dict) else None
    return isinstance(epsilon, int | float) and not isinstance(epsilon, bool) and math.isfinite(epsilon)


def percentile_sd(patients: float, bins: int, noise_per_count: float) -> float:
    """The largest sd, in percentile points, that noise of `noise_per_count` per cell gives the
    CDF at an inner bin edge of `bins` x 2 classes of cells over `patients` noisy people: at edge k
    the cumulative count sums 2k noisy cells (both classes) and the rest 2(bins - k), and the
    share is their ratio, so its sd is about noise x sqrt(2 k (bins - k) / bins) / patients."""
    if noise_per_count <= 0 or patients <= 0:
        return 0.0
    worst = max(k * (bins - k) for k in range(1, bins))
    return float(100.0 * noise_per_count * np.sqrt(2.0 * worst / bins) / patients)


def percentiles(distribution: dict[str, Any], risks: np.ndarray) -> np.ndarray:
    """Each risk's percentile (0-100) in `distribution` (`risk_distribution`'s dict): the CDF at
    the bin edges, linear in between, so exact only at an edge (see the module docstring)."""
    edges = np.asarray(distribution["edges"], dtype=np.float64)
    cdf = np.asarray(distribution["cdf"], dtype=np.float64)
    return 100.0 * np.interp(np.asarray(risks, dtype=np.float64), edges, cdf)


def held_out_figures_at(labels: np.ndarray, risks: np.ndarray, threshold: float) -> dict[str, Any] | None:
    """The sensitivity and specificity of calling `risks >= threshold` high risk on the
    coordinator's test cohort, exact (the test cohort is the coordinator's own, with no DP), each
    with its Wilson 95 % interval and its denominator; None when a class is empty.

    The operating threshold's own figures come from the hospitals' noisy validation counts and can
    sit far from the truth (an audit read a noisy sensitivity of 1.000 where the test cohort gave
    0.80): a model file records these beside them, so that `genofed predict` and `inspect-model`
    can show a clinician what the threshold does on real people."""
    from genofed.common.reporting.calibration import wilson_interval
    from genofed.common.reporting.clinical import threshold_metrics

    counts = threshold_metrics(labels, risks, threshold)
    cases = counts.true_positives + counts.false_negatives
    controls = counts.true_negatives + counts.false_positives
    if not cases or not controls:
        return None
    return {
        "threshold": float(threshold),
        "sensitivity": counts.true_positives / cases,
        "sensitivity_interval": list(wilson_interval(counts.true_positives, cases)),
        "specificity": counts.true_negatives / controls,
        "specificity_interval": list(wilson_interval(counts.true_negatives, controls)),
        "cases": cases,
        "controls": controls,
    }


def held_out_figures_words(figures: dict[str, Any], prevalence: Prevalence | None = None) -> str:
    """`held_out_figures_at`'s record in words, e.g. 'on the test cohort (40 cases, 160 controls, exact):
    sensitivity 0.800 (0.700-0.873), specificity 0.475 (0.388-0.564), LR+ 1.52 (...): ...', and with
    a `prevalence` what share of the people flagged and not flagged have the disease there
    (`_at_prevalence_words`)."""

    def rate(name: str) -> str:
        low, high = figures[f"{name}_interval"]
        return f"{name} {figures[name]:.3f} ({low:.3f}-{high:.3f})"

    people = f"{figures['cases']} cases, {figures['controls']} controls, exact"
    words = (
        f"on the coordinator's test cohort ({people}): {rate('sensitivity')}, {rate('specificity')}, "
        f"{_positive_likelihood_words(figures)}"
    )
    return words if prevalence is None else f"{words}; {_at_prevalence_words(figures, prevalence)}"


def recorded_prevalence(provenance: Any) -> Prevalence | None:
    """The prevalence a model file's `provenance` records (`prevalence`: its run's --prevalence
    setting or a simulated disease's, the one its report gave PPV at), or None: not recorded, or not
    a share in (0, 1)."""
    from genofed.common.reporting.ratios import Prevalence

    record = provenance.get("prevalence") if isinstance(provenance, dict) else None
    value = record.get("value") if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        return None
    return Prevalence(float(value), f"recorded in the model file: {record.get('source') or 'its run'}")


def _figures_metrics(figures: dict[str, Any]) -> ThresholdMetrics:
    """The confusion counts behind a `held_out_figures_at` record (its exact rates times its counts)."""
    from genofed.common.reporting.clinical import ThresholdMetrics

    cases, controls = int(figures["cases"]), int(figures["controls"])
    found = int(round(float(figures["sensitivity"]) * cases))
    cleared = int(round(float(figures["specificity"]) * controls))
    return ThresholdMetrics(0.0, found, controls - cleared, cleared, cases - found)


def _positive_likelihood_words(figures: dict[str, Any]) -> str:
    """'LR+ 1.80 (1.56-2.08): a flagged person's odds of the disease are 1.80 times those before the
    test', from the record's exact rates and counts. Why: a "high" call came with sensitivity and
    specificity alone, which do not say how much a flag changes a person's odds (a biostatistician's
    review: LR+ 1.80, so 97 % of flags false at a prevalence of 1.5 %)."""
    from genofed.common.reporting.ratios import likelihood_ratios

    positive, _ = likelihood_ratios(_figures_metrics(figures))
    if positive.value is None:
        return f"LR+ {positive.cell()}"
    return (
        f"LR+ {positive.cell()}: a flagged person's odds of the disease are {positive.value:.2f} times "
        "those before the test"
    )


def _at_prevalence_words(figures: dict[str, Any], prevalence: Prevalence) -> str:
    """'where 1.5% of people have the disease (the run's --prevalence setting): 2.7% (2.3-3.2) of the
    people flagged have it, and 0.6% (0.5-0.8) of those not flagged': the test cohort's exact rates
    carried to `prevalence` through the likelihood ratios, with their intervals. Why: a case-control
    test cohort's share of cases is no clinic's, and LR+ alone left a clinician to do Bayes' rule
    (a biostatistician's review)."""
    from genofed.common.reporting.formatting import fmt_percent
    from genofed.common.reporting.ratios import Share, percent_with_interval, predictive_values

    ppv, npv = predictive_values(_figures_metrics(figures), prevalence.value)
    missed = None
    if npv is not None:
        bounded = npv.low is not None and npv.high is not None
        missed = Share(1 - npv.value, 1 - npv.high if bounded else None, 1 - npv.low if bounded else None)
    flagged = (
        "nobody flagged" if ppv is None else f"{percent_with_interval(ppv)} of the people flagged have it"
    )
    cleared = (
        "everyone is flagged" if missed is None else f"{percent_with_interval(missed)} of those not flagged"
    )
    return (
        f"where {fmt_percent(prevalence.value)} of people have the disease ({prevalence.source}): "
        f"{flagged}, and {cleared}"
    )

"""Can the privacy checks tell at this size? Whether privacy_loss, mia_auc and AA_TS (aats_train)
separate a batch that leaks nothing from one at their limit, judged from their standard errors
(`leakage.privacy`; AA_TS's when nothing leaks, `leakage.aats_null_se`).

Why: at a clinic's size these two checks are mostly sampling noise. At 200 patients (40 held out)
privacy_loss's standard error is 0.07-0.10 against its limit of 0.03; an audit saw its verdict and
mia_auc's flip with `--seed` alone, and the failure's advice ("a smaller --epsilon", a new run
charged again) spent privacy budget on a coin toss. A warning keyed to the held-out count (fewer
than 20) missed those sizes and a batch of 15 records.

The rule (`can_tell`): a check can tell when its standard error is below the distance from a batch
that leaks nothing to its limit (`margin`: 0.03 for privacy_loss, whose no-leak value is 0; 0.05
for mia_auc, 0.5 being chance, and for AA_TS, whose band is 0.45-0.55 around 0.5), with at least
`MIN_RECORDS` records in the smallest set. (An audit found AA_TS, judged by no rule, failing a batch
of other real people 38 % of the time at 60 patients and drawing "a smaller --epsilon".) At a
standard error of one margin or more, by the normal approximation, a batch that leaks nothing
fails the check by chance at least 16 % of the time (P(Z >= 1)), and one leaking twice the limit
passes it as often: a pass or a fail says little, and a new run only redraws the noise. The
limits themselves are not touched: a failed check still fails the batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from genofed.common.synthetic.checks.leakage import aats_null_se, auc_null_se
from genofed.common.synthetic.checks.thresholds import Thresholds

#: Fewer records than this in the smallest set and a standard error is itself unreliable (the
#: normal approximation behind it needs more): such a check cannot tell, whatever its estimate.
MIN_RECORDS = 20
#: P(Z >= 1) of a standard normal, in percent: the chance failure rate at a standard error of one margin.
CHANCE_AT_ONE_SE = 16


@dataclass(frozen=True)
class CheckPrecision:
    """How precise one privacy check is at this size.

    Args:
        name: the check ("privacy_loss", "mia_auc" or "aats_train").
        value: its value for this batch.
        standard_error: its standard error (`leakage.privacy`; mia_auc's when nothing leaks).
        no_leak: its value for a batch that leaks nothing (0 for the loss, 0.5 for the AUC).
        limit: its limit (`Thresholds`).
        records: the smallest set behind it (records per set for the loss and AA_TS, held-out
            patients for the AUC).
        can_tell: the module docstring's rule.
    """

    name: str
    value: float
    standard_error: float
    no_leak: float
    limit: float
    records: int
    can_tell: bool

    @property
    def margin(self) -> float:
        """The distance from a batch that leaks nothing to the limit (rounded: 0.55 - 0.5 is 0.05;
        AA_TS's lower limit 0.45 is 0.05 below it)."""
        return _margin(self.limit, self.no_leak)


def check_precision(privacy: Any, thresholds: Thresholds, *, n_holdout: int) -> list[CheckPrecision]:
    """privacy_loss's, mia_auc's and aats_train's precision (a check whose limit is None is not
    judged).

    Args:
        privacy: the batch's `leakage.PrivacyResult`.
        thresholds: the limits the batch was judged by.
        n_holdout: the held-out patients (the AUC's non-members, its smaller set).
    """
    out = []
    if thresholds.privacy_loss_max is not None:
        out.append(
            _judged(
                "privacy_loss",
                privacy.privacy_loss,
                privacy.privacy_loss_se,
                0.0,
                thresholds.privacy_loss_max,
                privacy.n_subsample,
            )
        )
    if thresholds.mia_auc_max is not None:
        out.append(
            _judged("mia_auc", privacy.mia_auc, privacy.mia_auc_se, 0.5, thresholds.mia_auc_max, n_holdout)
        )
    if thresholds.aats_low is not None and thresholds.aats_high is not None:
        # judged against the side of its band it fell towards
        limit = thresholds.aats_low if privacy.aats_train < 0.5 else thresholds.aats_high
        n = privacy.n_aats_train
        out.append(_judged("aats_train", privacy.aats_train, aats_null_se(n), 0.5, limit, n))
    return out


def _margin(limit: float, no_leak: float) -> float:
    return round(abs(limit - no_leak), 12)


def _can_tell(se: float, no_leak: float, limit: float, records: int) -> bool:
    """The module docstring's rule: enough records, and a standard error below the margin."""
    return records >= MIN_RECORDS and math.isfinite(se) and se < _margin(limit, no_leak)


def _judged(name: str, value: float, se: float, no_leak: float, limit: float, records: int) -> CheckPrecision:
    can_tell = _can_tell(se, no_leak, limit, records)
    return CheckPrecision(name, float(value), float(se), no_leak, float(limit), int(records), bool(can_tell))


def precision_dicts(precision: Sequence[CheckPrecision]) -> list[dict[str, Any]]:
    """JSON-ready, as validation.json records them (`validation.precision`), `margin` included."""
    return [{**asdict(p), "margin": p.margin} for p in precision]


def undecided(validation: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The privacy checks that cannot tell at this size, by name, from validation.json's
    `validation` (its `precision` list; {} when it has none, as before this module)."""
    return {p["name"]: p for p in validation.get("precision") or [] if not p.get("can_tell", True)}


def precision_warning(validation: Mapping[str, Any]) -> str:
    """The warning for the terminal, report.md and validation.json's `warnings` when a privacy check
    cannot tell at this size; "" when every one can.

    Args:
        validation: validation.json's `validation` (`ValidationReport.to_dict()`).
    """
    loose = undecided(validation)
    if not loose:
        return ""
    n_train, n_holdout = int(validation.get("n_train") or 0), int(validation.get("n_holdout") or 0)
    n_synthetic = int(validation.get("n_synthetic") or 0)
    parts = [_words(p, n_train, n_holdout, n_synthetic) for p in loose.values()]
    few = any(int(p["records"]) < MIN_RECORDS for p in loose.values())
    large = any(p["standard_error"] >= p["margin"] for p in loose.values())
    text = (
        "too few patients for the privacy checks to tell at this size: "
        + "; ".join(parts)
        + (f" (fewer than {MIN_RECORDS} records make a standard error itself unreliable)" if few else "")
        + "."
    )
    if large:
        text += (
            " With a standard error that large a batch that leaks nothing fails such a check by chance at "
            f"least {CHANCE_AT_ONE_SE} % of the time, and one leaking twice the limit passes as often "
            "(normal approximation)."
        )
    text += " A pass or a fail says little, and a new run (charged again under DP) only redraws the noise."
    more = patients_needed(loose.values(), n_train + n_holdout)
    if more:
        text += (
            f" About {more:,} or more patients would let these checks tell (standard errors shrink as "
            f"1/sqrt(patients); below the margins, with at least {MIN_RECORDS} records per set)."
        )
    if n_synthetic and n_synthetic < n_holdout and "privacy_loss" in loose:
        text += f" The batch has {n_synthetic} records, fewer than the {n_holdout} held-out patients."
    return text


def _words(p: Mapping[str, Any], n_train: int, n_holdout: int, n_synthetic: int) -> str:
    """One check's line of the warning."""
    over = "at least" if p["standard_error"] >= p["margin"] else "below, but on too few records,"
    if p["name"] == "aats_train":
        return (
            f"aats_train {p['value']:.3g} has a standard error of {p['standard_error']:.2g} when nothing "
            f"leaks ({p['records']} training vs {p['records']} synthetic records), {over} the "
            f"{p['margin']:g} between no leak ({p['no_leak']:g}) and its band's edge"
        )
    if p["name"] == "privacy_loss":
        sets = f"{n_train} training, {n_holdout} held-out, {n_synthetic} synthetic" if n_train else ""
        return (
            f"privacy_loss {p['value']:.3g} has a standard error of {p['standard_error']:.2g} on "
            f"{p['records']} records per set" + (f" (the smallest of {sets})" if sets else "") + ", "
            f"{over} its limit's distance of {p['margin']:g} from no leak"
        )
    return (
        f"mia_auc {p['value']:.3g} has a standard error of {p['standard_error']:.2g} when nothing leaks "
        f"({n_train} training vs {p['records']} held-out patients), {over} the {p['margin']:g} "
        f"between chance ({p['no_leak']:g}) and its limit"
    )


def patients_needed(loose: Iterable[Mapping[str, Any]], patients: int) -> int | None:
    """About how many patients would let every check in `loose` tell: its standard error below its
    margin (they shrink as 1/sqrt(patients) at a fixed held-out share) and at least `MIN_RECORDS`
    records in its smallest set (which grows with the patients); None without a cohort size.
    Rounded up to hundreds."""
    if patients <= 0:
        return None
    factors = []
    for p in loose:
        if p["margin"] > 0 and math.isfinite(p["standard_error"]):
            factors.append((p["standard_error"] / p["margin"]) ** 2)
        records = int(p.get("records") or 0)
        if 0 < records < MIN_RECORDS:
            factors.append(MIN_RECORDS / records)
    if not factors:
        return None
    return max(patients + 1, int(math.ceil(patients * max(factors) / 100.0) * 100))


def foreseen_warning(
    n_train: int, n_holdout: int, n_synthetic: int, *, epsilon: float, thresholds: Thresholds | None = None
) -> str:
    """Before a DP run is charged: which privacy checks will not be able to tell at these sizes,
    from the sizes alone (mia_auc's and aats_train's standard errors when nothing leaks do not
    depend on the records, `leakage.auc_null_se` and `aats_null_se`); "" when both can.

    Why: the checks' own warning came only after the generator's epsilon was spent, and at a
    clinic's size the verdict is then mostly chance; an operator can decide before spending.

    Args:
        n_train, n_holdout: the patients the generator trains on and those held out for the checks.
        n_synthetic: the records the batch will hold (`--n`, by default as many as the cohort).
        epsilon: the generator's `--epsilon`, charged whatever the verdict.
        thresholds: the run's limits (default: `Thresholds()`); a check whose limit is None is not
            judged, so not foreseen either.
    """
    limits = thresholds or Thresholds()
    pairs = min(n_train, n_synthetic)  # AA_TS's records per set
    foreseen = []  # (name, standard error when nothing leaks, limit, records)
    if limits.mia_auc_max is not None:
        foreseen.append(("mia_auc", auc_null_se(n_train, n_holdout), limits.mia_auc_max, n_holdout))
    if limits.aats_low is not None and limits.aats_high is not None:
        foreseen.append(("aats_train", aats_null_se(pairs), limits.aats_low, pairs))
    loose = [
        (name, se, _margin(limit, 0.5))
        for name, se, limit, records in foreseen
        if not _can_tell(se, 0.5, limit, records)
    ]
    if not loose:
        return ""
    said = " and ".join(
        f"{name} (standard error {se:.2g}, {margin:g} from no leak to its limit)"
        for name, se, margin in loose
    )
    return (
        f"at this size ({n_train} training and {n_holdout} held-out patients, {n_synthetic} records) "
        f"{said} cannot tell a batch that leaks nothing from one at the limit: the batch's "
        f"verdict will be mostly chance, and epsilon {epsilon:g} is charged whatever it is (the bound on "
        "what the records reveal is that epsilon itself). Ctrl-C before the training ends charges nothing"
    )

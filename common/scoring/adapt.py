"""The shared model adapted to one hospital's own patients, on the hospital's machine, without DP.

Why: under per-site DP the shared model of a federation of 50-300-patient clinics can score below
what a large clinic trains alone without privacy (docs/experiments/privacy-frontier.md: krasnodar,
216 training patients). Nothing obliges a hospital to use the shared model as it is: its own
patients are its own, and a model that never leaves the building needs no DP. Adapting the
shared model locally keeps what the federation learned and adds what the hospital's patients
say, so joining is never worse than staying alone.

The fit (`fit_adaptation`): an L2 logistic regression on the hospital's training patients over
the encoded dosages and covariates (the same model and the same strength, C = 1, as "each
hospital alone" in the references), plus the shared model's logit as one more input whose
coefficient, like the intercept, is not penalised. The penalty pulls the local weights to zero,
that is towards the shared model rescaled; with few patients the result stays near the shared
model, with many it moves towards the hospital's own. No setting is chosen on patients' data.

The fit is solved in the row space of the training patients' features (`_RowSpace`): the
penalised weights' optimum lies there, so writing them as `V u` (V: the right singular vectors)
is an exact change of variables with n instead of ~20,000 unknowns, not another estimator.

Calibration (`out_of_fold_calibration`): with ~20,000 dosages and a few hundred patients the
training patients are (nearly) separable, and the unpenalised coefficient `a` grows to sharpen
them: measured on the demo federation, a = 5-10 turned the shared logit's +-2 into +-20, and
22-54 % of the test cohort got risks below 0.01 or above 0.99, a Brier score worse than the base
rate's. The ranking was fine; the scale was overconfident. So the fitted logit is recalibrated,
`slope * logit + intercept`, by a logistic regression of the training patients' labels on their
OUT-OF-FOLD adapted logits (each patient's logit from the fit without its fold): the scale the fit
has on patients it did not see. It is a monotone map (slope > 0): every AUC, on the validation
patients and anywhere else, is that of the uncalibrated fit; only the risks, and so the threshold
and percentiles read from them, change. Like the L2 strength it is chosen on no validation data.

The result is again a logistic model: `slope * (a * (x . w_shared + b_shared) + x . w_local +
b_local) + intercept` is linear in the encoded input x, so it folds into one `LogisticRiskModel`
over the whole panel (column scale 1) and every tool that reads model files (`genofed predict`)
reads it unchanged. Its operating threshold and risk distribution come from the hospital's own
validation patients (exact counts: nothing is released); the threshold records its own rule
(`ADAPTED_RULE`, not the federated run's) and how many of those patients it flags, which `genofed
adapt` prints with the sensitivity and specificity there. Only the logistic model folds; a network
is refused, and so is a model that is already an adaptation (`require_shared_model`): it is
local to the hospital that fitted it, and adapting it again would fit its patients twice.

The comparison on the validation patients is printed, and when the adapted model's AUC there is
below the shared model's, a warning (`Adaptation.warning`) is printed and recorded in the file:
the shared model may be the better choice. So is a negative weight on the shared model's score: the
fit inverted the shared model (an audit's 1 case and 18 controls gave -3.1, and a test AUC of 0.28).
`genofed adapt` refuses fewer than `MIN_TRAIN_CLASS` training cases or controls
(`require_enough_patients`) before fitting; `adapt` itself does not, so that a simulation's report
can still show a small hospital's figure. The comparison leans towards the shared model when
the hospital trained it: `adapt`'s validation patients are drawn by `--split-seed`, not by the
hospital agent's secret split, so most of them were among the shared model's training patients.

Who it was validated on (`ModelFile.validated_on`, `genofed.common.scoring.validation`): the
hospital's own validation patients, not the coordinator's test cohort. They are the only patients
the adapted model was checked on: its weights and calibration never saw them, its threshold and
percentiles were read from them, and the comparison with the shared model was made on them. So
the file records their age range and sex mix (when `adapt` is given them) and the calibration
verdict on them, by the run report's own check, and says where they came from: the agent's held-out
patients (`agent_split`), or a split by `--split-seed`, when many of them may have trained the
shared model folded into it. Fewer than `MIN_FOR_DISTRIBUTION` of them get no verdict (ten bins
of one or two people test nothing). The shared model's own record (its test cohort) is kept
beside it as `shared_model`, for reference: it describes another model, so `genofed predict`
checks ages against the hospital's patients only. The record stays inside the hospital with the
file (their ages are no more private than the weights fitted on them without DP).

Privacy: the adapted model is fitted WITHOUT differential privacy on the hospital's patients and
can reveal them. It is for use inside the hospital only; its file says so (`provenance`), and a
coordinator must never receive it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.metrics import roc_auc_score

from genofed.common.errors import DataError
from genofed.common.model.network import build_model, predict_proba
from genofed.common.privacy.release import score_histogram
from genofed.common.scoring.model_file import ModelFile, ModelFileError
from genofed.common.scoring.operating import MIN_CLASS, operating_point, risk_distribution
from genofed.common.scoring.validation import validation_record

#: L2 strength of the local weights: sklearn's default, as for "each hospital alone" (not tuned).
ADAPT_C = 1.0
#: Folds of the out-of-fold calibration (fewer when a class has fewer training patients).
CALIBRATION_FOLDS = 5
#: The smallest calibration slope: out-of-fold logits with no signal would give 0 (the same risk for
#: everyone, the ranking lost); the warning says so instead.
MIN_SLOPE = 1e-3
#: The fewest validation patients percentiles are read from: below it a percentile is one patient's.
#: (The fewest cases, and controls, for an operating threshold is `operating.MIN_CLASS`, as in a
#: federated run.)
MIN_FOR_DISTRIBUTION = 20
#: The fewest training cases, and training controls, `genofed adapt` fits on (`require_enough_patients`):
#: the out-of-fold calibration holds out a fifth of each class per fold (`CALIBRATION_FOLDS`), and
#: with fewer than 10 a fold holds one case or none, so its slope is read off a handful of patients;
#: an audit's 1 case and 18 controls gave a weight of -3.1 on the shared score and a test AUC of 0.28.
#: It is `operating.MIN_CLASS`, the minimum under which a run sets no threshold and its report calls
#: an AUC too few to judge.
MIN_TRAIN_CLASS = MIN_CLASS
#: The rule of an adapted model's operating threshold, recorded in its file instead of the federated
#: run's `operating.YOUDEN_RULE`: the same criterion, on other counts (the hospital's own, exact).
ADAPTED_RULE = (
    "youden: the bin edge of the histogram of the hospital's own validation patients (exact counts, "
    "nothing released) maximising sensitivity + specificity - 1"
)
#: The adapted file's `provenance.validation.split` when its validation patients are the agent's own.
AGENT_SPLIT = "the hospital agent's own"
#: Beside the comparison on validation patients split by --split-seed (`comparison_caveat`).
FLATTERED = (
    "if this hospital helped train the shared model, most of these patients may have been among its "
    "training patients, which flatters the shared model's figure: pass the agent's --state-dir to compare "
    "on the patients the agent held out"
)
#: What the adapted file's provenance says about where it may go.
LOCAL_ONLY = (
    "fitted without differential privacy on one hospital's patients: use it inside that hospital only; "
    "never send it to a coordinator or another site"
)


@dataclass(frozen=True)
class Adaptation:
    """An adapted model file and how it compares with the shared one on the hospital's own
    validation patients (local figures: they stay at the hospital).

    weight_on_shared: the fitted coefficient `a` of the shared model's logit (before calibration).
    shared_auc / adapted_auc: on the validation patients; None without both classes there.
    calibration: the out-of-fold slope and intercept applied (None: too few patients of a class).
    warning: why the shared model may be the better choice here, or None.
    """

    model: ModelFile
    weight_on_shared: float
    n_train: int
    n_validation: int
    shared_auc: float | None
    adapted_auc: float | None
    calibration: dict[str, Any] | None = None
    warning: str | None = None


def require_shared_model(model: ModelFile, source: str = "the model") -> None:
    """Refuse a model that is itself a hospital's adaptation (provenance kind "adapted"): it was
    fitted without DP on another hospital's (or this one's) patients and belongs inside that
    hospital; adapting it again would also count those patients twice. Adapt the shared model."""
    if model.provenance.get("kind") == "adapted":
        shared = str(model.provenance.get("shared_model") or "")
        raise ModelFileError(
            f"{source} is already an adapted model ({model.provenance.get('source')}), local to the hospital "
            "that fitted it: adapt the federation's shared model instead"
            + (f" (content hash {shared[:12]}, recorded in this file)" if shared else "")
        )


def require_enough_patients(labels: np.ndarray, *, source: str, hint: str) -> None:
    """Refuse (DataError on `source`) training patients with fewer than `MIN_TRAIN_CLASS` cases or
    controls: a fit on so few follows their noise, can invert the shared model (a negative weight on
    its score) and is then calibrated on folds of one patient, yet would be written as a usable model."""
    y = np.asarray(labels)
    cases, controls = int(np.sum(y == 1)), int(np.sum(y == 0))
    if min(cases, controls) < MIN_TRAIN_CLASS:
        raise DataError(
            source,
            f"the {len(y)} training patients hold {cases} case(s) and {controls} control(s), fewer than "
            f"the {MIN_TRAIN_CLASS} of each that adapting needs (the out-of-fold calibration holds out a "
            "fifth of each class; fewer would fit noise and can invert the shared model)",
            hint=hint,
        )


def shared_encoded_weights(shared: ModelFile) -> tuple[np.ndarray, float]:
    """(w, b) of the shared logistic model per ENCODED input column (the whole panel, then the
    covariates; 0 for a column it does not read): logit = x . w + b."""
    config = shared.model_config
    if config.architecture != "logistic" or config.n_outputs != 1:
        raise ModelFileError(
            f"only a binary logistic model can be adapted (this file holds a {config.architecture} with "
            f"{config.n_outputs} output(s)): train the federation with --model logistic, the default"
        )
    model = shared.build()
    weight = (model.linear.weight[0] * model.scale).detach().double().numpy()
    columns = model.select.columns.numpy()
    full = np.zeros(config.n_variants + config.n_covariates)
    if len(columns):
        full[columns] = weight
    else:
        full[:] = weight
    return full, float(model.linear.bias.detach()[0])


class _RowSpace:
    """The training patients' features in their row space: `x = coords @ basis`, with orthonormal
    `basis` rows. A penalised weight vector `w = basis.T @ u` has `x @ w = coords @ u` and
    `|w| = |u|`; the L2 optimum of any subset of these patients lies in this space.

    With more variants than patients (a hospital's case) the basis comes from the patients' Gram
    matrix `x @ x.T` (n x n): a thin SVD of x needed about 6 GiB for 250 patients x 636,471
    variants (an array-scale walkthrough), the Gram route about two copies of x. Directions whose
    singular value is below `GRAM_RTOL` of the largest are left out: the Gram matrix cannot resolve
    them, and their coordinates (the singular value times the patients' loadings) are that small."""

    #: Relative singular value below which a row-space direction is left out (Gram route only).
    GRAM_RTOL = 1e-6

    def __init__(self, x: np.ndarray) -> None:
        if x.shape[1] <= x.shape[0]:
            u, singular, vt = np.linalg.svd(x, full_matrices=False)
            self.coords, self.basis = u * singular, vt
            return
        squared, vectors = np.linalg.eigh(x @ x.T)
        keep = squared > squared.max() * self.GRAM_RTOL**2
        singular, u = np.sqrt(squared[keep]), vectors[:, keep]
        self.coords = u * singular
        self.basis = (u / singular).T @ x


def _fit_coords(
    coords: np.ndarray, shared_logit: np.ndarray, y: np.ndarray, c: float
) -> tuple[np.ndarray, float, float]:
    """(u, a, b) minimising sum of log-losses + |u|^2 / (2 c), logit `a * shared + coords @ u + b`."""
    n_columns = coords.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        u, a, b = theta[:n_columns], theta[n_columns], theta[n_columns + 1]
        logit = a * shared_logit + coords @ u + b
        value = -np.sum(y * log_expit(logit) + (1 - y) * log_expit(-logit)) + u @ u / (2 * c)
        residual = expit(logit) - y
        gradient = np.concatenate([coords.T @ residual + u / c, [residual @ shared_logit, residual.sum()]])
        return float(value), gradient

    start = np.zeros(n_columns + 2)
    start[n_columns] = 1.0  # the shared model as it is
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return result.x[:n_columns], float(result.x[n_columns]), float(result.x[n_columns + 1])


def _checked(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError("the training patients hold one class only: nothing to adapt to")
    return x, y


def fit_adaptation(
    shared_w: np.ndarray, shared_b: float, features: np.ndarray, labels: np.ndarray, c: float = ADAPT_C
) -> tuple[np.ndarray, float, float]:
    """Minimise sum of log-losses + ||w_local||^2 / (2 c) over (w_local, a, b_local), with logit
    `a * (x . shared_w + shared_b) + x . w_local + b_local` (the module docstring says why), in the
    patients' row space (`_RowSpace`: exact, and fast with far more variants than patients).

    Returns the folded (w, b) per encoded column, and `a`.
    """
    x, y = _checked(features, labels)
    space = _RowSpace(x)
    u, a, b = _fit_coords(space.coords, x @ shared_w + shared_b, y, c)
    return a * shared_w + space.basis.T @ u, a * shared_b + b, a


def out_of_fold_calibration(
    shared_w: np.ndarray,
    shared_b: float,
    features: np.ndarray,
    labels: np.ndarray,
    c: float = ADAPT_C,
    folds: int = CALIBRATION_FOLDS,
) -> dict[str, Any] | None:
    """The slope and intercept that calibrate the adapted logit (module docstring): a logistic
    regression of the training labels on each patient's out-of-fold adapted logit. Folds are
    stratified by class and fixed (no seed to choose); None when a class has fewer than 2 training
    patients (a fold would hold all of it)."""
    x, y = _checked(features, labels)
    smallest = int(min(np.sum(y == 0), np.sum(y == 1)))
    k = min(folds, smallest)
    if k < 2:
        return None
    fold = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        fold[members] = np.arange(len(members)) % k
    space, shared_logit = _RowSpace(x), x @ shared_w + shared_b
    held_out_logit = np.empty(len(y))
    for i in range(k):
        train, test = fold != i, fold == i
        u, a, b = _fit_coords(space.coords[train], shared_logit[train], y[train], c)
        held_out_logit[test] = a * shared_logit[test] + space.coords[test] @ u + b

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = theta[0] * held_out_logit + theta[1]
        residual = expit(logit) - y
        value = -np.sum(y * log_expit(logit) + (1 - y) * log_expit(-logit))
        return float(value), np.array([residual @ held_out_logit, residual.sum()])

    result = minimize(
        loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(MIN_SLOPE, None), (None, None)]
    )
    slope, intercept = float(result.x[0]), float(result.x[1])
    return {
        "slope": slope,
        "intercept": intercept,
        "folds": k,
        "out_of_fold_auc": _auc(y, held_out_logit),
        "method": "logistic regression of the training labels on the out-of-fold adapted logits",
    }


def adapt(
    shared: ModelFile,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    source: str,
    c: float = ADAPT_C,
    calibrate: bool = True,
    agent_split: bool = False,
    validation_people: tuple[np.ndarray, np.ndarray] | None = None,
) -> Adaptation:
    """Adapt `shared` to a hospital: fit on `train` (encoded features, 0/1 labels), calibrate
    out of fold, read the operating threshold and risk distribution off `validation`, and compare
    there.

    Args:
        shared: the federation's model file (binary logistic, not itself an adaptation).
        train / validation: (features, labels) encoded with `shared.feature_spec()`.
        source: where the patients came from, for the provenance (e.g. the genotype file).
        c: the local weights' L2 strength (default: `ADAPT_C`, the references' "alone").
        calibrate: apply `out_of_fold_calibration` (False: the raw fit, whose AUCs are the same;
            for callers that only rank, such as `adapted_test_auc`).
        agent_split: `validation` is the hospital agent's own validation split (`genofed adapt
            --state-dir`), which the shared model never trained on; else the warning says that the
            comparison may flatter the shared model.
        validation_people: the validation patients' (ages, sexes: 0 male, 1 female, NaN unknown), in
            `validation`'s order, for the file's record of who it was validated on (None: the record
            says their ages and sexes are unknown).
    """
    require_shared_model(shared)
    shared_w, shared_b = shared_encoded_weights(shared)
    weight, bias, a = fit_adaptation(shared_w, shared_b, *train, c=c)
    calibration = out_of_fold_calibration(shared_w, shared_b, *train, c=c) if calibrate else None
    if calibration is not None:
        weight, bias = calibration["slope"] * weight, calibration["slope"] * bias + calibration["intercept"]
    config = replace(shared.model_config, selected=())
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32)[None, :])
        model.linear.bias.fill_(bias)
        model.scale.fill_(1.0)
    val_x, val_y = validation
    risks = predict_proba(model, val_x.astype(np.float32))
    shared_risks = predict_proba(shared.build(), val_x.astype(np.float32))
    shared_auc, adapted_auc = _auc(val_y, shared_risks), _auc(val_y, risks)
    histogram = score_histogram(val_y, risks).astype(np.float64)
    cases, controls = int(np.sum(val_y == 1)), int(np.sum(val_y == 0))
    threshold = operating_point(histogram, round_=0)
    distribution = risk_distribution(histogram, round_=0) if len(val_y) >= MIN_FOR_DISTRIBUTION else None
    for described in (threshold, distribution):
        if described:
            described.pop("round", None)
            described["source"] = "the hospital's own validation patients, exact counts (nothing released)"
    if threshold:
        threshold.update(_flagged(histogram, threshold), rule=ADAPTED_RULE)
    operating = {
        **shared.operating,
        "threshold": threshold if threshold and threshold.get("threshold") is not None else None,
        "threshold_note": None if threshold else _no_threshold_note(cases, controls, train[1], agent_split),
        "risk_distribution": distribution,
    }
    warning = _warning(shared_auc, adapted_auc, len(val_y), calibration, agent_split, weight_on_shared=a)
    provenance = {
        "source": f"adapted to {source}",
        "kind": "adapted",
        "privacy": LOCAL_ONLY,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "shared_model": shared.content_hash,
        "shared_provenance": shared.provenance,
        "fit": {
            "l2_c": c,
            "weight_on_shared": a,
            "train": int(len(train[1])),
            "validation": int(len(val_y)),
            "calibration": calibration,
        },
        "validation": {
            "patients": int(len(val_y)),
            "split": AGENT_SPLIT if agent_split else "keyed by --split-seed",
            "shared_auc": shared_auc,
            "adapted_auc": adapted_auc,
        },
        **({"warning": warning} if warning else {}),
    }
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    validated_on = _validated_on(shared, val_y, risks, validation_people, agent_split)
    adapted = ModelFile(state, config, shared.panel, shared.task, provenance, operating, validated_on)
    return Adaptation(
        model=adapted,
        weight_on_shared=a,
        n_train=int(len(train[1])),
        n_validation=int(len(val_y)),
        shared_auc=shared_auc,
        adapted_auc=adapted_auc,
        calibration=calibration,
        warning=warning,
    )


#: The adapted file's `validated_on.cohort`.
VALIDATION_COHORT = "the hospital's own validation patients"


def _validated_on(
    shared: ModelFile,
    labels: np.ndarray,
    risks: np.ndarray,
    people: tuple[np.ndarray, np.ndarray] | None,
    agent_split: bool,
) -> dict[str, Any]:
    """The adapted file's record of who it was validated on (the module docstring says why these
    patients): their ages, sexes and the calibration verdict on them, where they came from, and
    the shared model's own record under `shared_model`."""
    split = (
        "the patients the hospital agent held out in federated training (--state-dir), which neither the "
        "shared model nor the adapted fit saw"
        if agent_split
        else "a split by --split-seed: if this hospital helped train the shared model, many of them were "
        "among its training patients, which flatters the shared model folded into this one"
    )
    ages, sexes = people if people is not None else (None, None)
    record = validation_record(
        cohort=VALIDATION_COHORT,
        source=(
            "held out from the adapted fit and its calibration; the operating threshold and percentiles "
            f"were read from them (exact counts, inside the hospital); {split}"
        ),
        labels=labels,
        risks=risks,
        ages=ages,
        sexes=sexes,
        said_as="the hospital's validation patients",
        possessive="those patients'",
        min_for_calibration=MIN_FOR_DISTRIBUTION,
    )
    record["shared_model"] = shared.validated_on or None
    return json.loads(json.dumps(record))  # plain data: the file is read back with weights_only


def _no_threshold_note(
    cases: int, controls: int, train_labels: np.ndarray | None = None, agent_split: bool = False
) -> str:
    """Why the adapted model has no operating threshold: too few validation patients of a class
    (with how to hold out enough, `_more_held_out`, when `train_labels` are given), or no cut-off at
    which they are better separated than by chance (`operating_point`'s rules)."""
    counted = f"{cases} cases and {controls} controls among the hospital's validation patients"
    if min(cases, controls) < MIN_CLASS:
        advice = (
            "" if train_labels is None else f"; {_more_held_out(cases, controls, train_labels, agent_split)}"
        )
        return f"{counted}: fewer than {MIN_CLASS} of a class, too few to set an operating threshold{advice}"
    return f"{counted}: at no cut-off are more of the cases than of the controls above it, so no threshold"


#: The --validation-fraction values `_more_held_out` suggests from (a 0.05 grid up to adapt's 0.9).
SUGGESTED_FRACTIONS = tuple(round(0.05 * k, 2) for k in range(1, 19))


def _more_held_out(cases: int, controls: int, train_labels: np.ndarray, agent_split: bool) -> str:
    """How to get a threshold when the validation patients hold fewer than `MIN_CLASS` of a class:
    the smallest --validation-fraction on `SUGGESTED_FRACTIONS` whose held-out count of the rarer
    class is expected to reach `MIN_CLASS` even one sd below its mean (each patient's side is drawn
    from its id, so the count varies), while at least `MIN_TRAIN_CLASS` of each class are left to fit
    on; with the trade-off said (fewer patients to fit on). Or that this cohort is too small for both.

    Why: a walkthrough's hospital got "operating threshold: none" at the default 0.2, and 0.3 gave
    one, but nothing said so."""
    y = np.asarray(train_labels)
    all_cases, all_controls = cases + int(np.sum(y == 1)), controls + int(np.sum(y == 0))
    rarer, total = min(all_cases, all_controls), all_cases + all_controls
    for share in SUGGESTED_FRACTIONS:
        held = rarer * share
        if held - np.sqrt(rarer * share * (1 - share)) >= MIN_CLASS and rarer - held >= MIN_TRAIN_CLASS:
            how = (
                "adapt again without --state-dir (its validation patients would then include patients the "
                f"shared model may have trained on), with --validation-fraction {share:g}"
                if agent_split
                else f"adapt again with --validation-fraction {share:g}"
            )
            return (
                f"to get one, {how}: it holds out about {all_cases * share:.0f} of the {all_cases} cases "
                f"and {all_controls * share:.0f} of the {all_controls} controls, and leaves fewer patients "
                f"to fit on (about {total * (1 - share):.0f} of the {total} patients instead of {len(y)})"
            )
    return (
        f"this cohort's {all_cases} cases and {all_controls} controls are too few to hold out {MIN_CLASS} "
        f"of each for a threshold and keep {MIN_TRAIN_CLASS} of each to fit on: call at a cut-off your "
        "hospital validated (`genofed predict --threshold T`), or use the shared model's threshold"
    )


def _flagged(histogram: np.ndarray, threshold: dict[str, Any]) -> dict[str, Any]:
    """How many of the validation patients (exact counts) the threshold flags, and their share:
    what `genofed adapt` prints beside the sensitivity and specificity there."""
    edge = int(round(threshold["threshold"] * threshold["bins"]))
    flagged = float(histogram[:, edge:].sum())
    total = float(histogram.sum())
    return {"flagged": int(round(flagged)), "flagged_share": flagged / total if total else None}


def _warning(
    shared_auc: float | None,
    adapted_auc: float | None,
    n_validation: int,
    calibration: dict[str, Any] | None,
    agent_split: bool = False,
    *,
    weight_on_shared: float | None = None,
) -> str | None:
    """Why the shared model may be the better choice for this hospital, or None: the fit put a
    negative weight on the shared model's score (it inverted the shared model: what the federation
    learned now counts backwards), the adapted model ranks the validation patients worse than the
    shared one, or its out-of-fold scores carry no signal (the calibration slope at its floor).
    `agent_split`: the validation patients are the agent's own held-out ones, so the comparison is
    fair and says so without a caveat."""
    reasons = []
    if weight_on_shared is not None and weight_on_shared < 0:
        reasons.append(
            f"the fitted weight on the shared model's score is negative ({weight_on_shared:.3g}): the "
            "adaptation inverted the shared model, so people it scores high score low here; on a few "
            "patients that is more likely noise (or labels coded the wrong way round) than a real reversal: "
            "check the labels, and use the shared model unless the adapted one is confirmed on other patients"
        )
    if shared_auc is not None and adapted_auc is not None and adapted_auc < shared_auc:
        caveat = "" if agent_split else f" ({FLATTERED})"
        reasons.append(
            f"on the {n_validation} validation patients the adapted model's AUC ({adapted_auc:.4f}) is below "
            f"the shared model's ({shared_auc:.4f}): the shared model may be the better choice for this "
            f"hospital{caveat}"
        )
    if calibration is not None and calibration["slope"] <= MIN_SLOPE * 1.01:
        reasons.append(
            "the adapted scores carry no signal on patients left out of the fit (out-of-fold calibration "
            "slope ~0): its risks are near the same for everyone; use the shared model"
        )
    return "; ".join(reasons) or None


def comparison_caveat(provenance: dict[str, Any]) -> str | None:
    """The caveat beside an adapted file's comparison of the shared and the adapted model
    (`FLATTERED`), whenever its validation patients were split by --split-seed, not the agent's own
    (`provenance.validation.split`); None for the agent's split or a file that records none.

    Why: it was said only inside the warning when the adapted model scored lower, so a member
    hospital read "shared 0.8286, adapted 0.8857" with nothing to say that the shared model's figure
    was flattered: the adapted model's lead may be larger than shown, or a shared win an artefact."""
    validation = provenance.get("validation") if isinstance(provenance, dict) else None
    split = validation.get("split") if isinstance(validation, dict) else None
    return None if split is None or split == AGENT_SPLIT else FLATTERED


def comparison_caveat_beside(provenance: dict[str, Any]) -> str | None:
    """`comparison_caveat` as said beside the comparison (`adapt`'s summary, `inspect-model`): in
    full, or, where the file's warning carries it already (the adapted model scored lower, and
    both print the warning first), a pointer to it; None without a caveat.

    Why: `adapt` printed the ~220-character caveat twice when the adapted model scored lower, in the
    warning and again beside the comparison, and `inspect-model` did the same."""
    caveat = comparison_caveat(provenance)
    warning = provenance.get("warning") if isinstance(provenance, dict) else None
    if caveat is not None and isinstance(warning, str) and caveat in warning:
        return "the warning above says why the shared model's figure may be flattered"
    return caveat


def adapted_test_auc(
    shared: ModelFile,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    source: str,
) -> float | None:
    """The test AUC of `shared` adapted to one hospital (`adapt` on its `train` and `validation`
    patients): what the simulation's report and the privacy-frontier experiment show per hospital.
    None for a test cohort of one class."""
    adapted = adapt(shared, train, validation, source=source, calibrate=False)  # the same AUC, cheaper
    x_test, y_test = test
    return _auc(y_test, predict_proba(adapted.model.build(), x_test))


def _auc(labels: np.ndarray, risks: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, risks)) if len(np.unique(labels)) == 2 else None

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

The result is again a logistic model: `a * (x . w_shared + b_shared) + x . w_local + b_local` is
linear in the encoded input x, so it folds into one `LogisticRiskModel` over the whole panel
(column scale 1) and every tool that reads model files (`genofed predict`) reads it unchanged.
Its operating threshold and risk distribution come from the hospital's own validation patients
(exact counts: nothing is released). Only the logistic model folds; a network is refused.

Privacy: the adapted model is fitted WITHOUT differential privacy on the hospital's patients and
can reveal them. It is for use inside the hospital only; its file says so (`provenance`), and a
coordinator must never receive it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.metrics import roc_auc_score

from genofed.common.model.network import build_model, predict_proba
from genofed.common.privacy.release import score_histogram
from genofed.common.scoring.model_file import ModelFile, ModelFileError
from genofed.common.scoring.operating import operating_point, risk_distribution

#: L2 strength of the local weights: sklearn's default, as for "each hospital alone" (not tuned).
ADAPT_C = 1.0
#: The fewest validation cases (and controls) an operating threshold is read from, and the fewest
#: validation patients percentiles are: below them a bin edge or a percentile is one patient's.
MIN_CLASS_FOR_THRESHOLD = 10
MIN_FOR_DISTRIBUTION = 20
#: What the adapted file's provenance says about where it may go.
LOCAL_ONLY = (
    "fitted without differential privacy on one hospital's patients: use it inside that hospital only; "
    "never send it to a coordinator or another site"
)


@dataclass(frozen=True)
class Adaptation:
    """An adapted model file and how it compares with the shared one on the hospital's own
    validation patients (local figures: they stay at the hospital).

    weight_on_shared: the fitted coefficient `a` of the shared model's logit.
    shared_auc / adapted_auc: on the validation patients; None without both classes there.
    """

    model: ModelFile
    weight_on_shared: float
    n_train: int
    n_validation: int
    shared_auc: float | None
    adapted_auc: float | None


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


def fit_adaptation(
    shared_w: np.ndarray, shared_b: float, features: np.ndarray, labels: np.ndarray, c: float = ADAPT_C
) -> tuple[np.ndarray, float, float]:
    """Minimise sum of log-losses + ||w_local||^2 / (2 c) over (w_local, a, b_local), with logit
    `a * (x . shared_w + shared_b) + x . w_local + b_local` (the module docstring says why).

    Returns the folded (w, b) per encoded column, and `a`.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError("the training patients hold one class only: nothing to adapt to")
    shared_logit = x @ shared_w + shared_b
    n_columns = x.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, a, b = theta[:n_columns], theta[n_columns], theta[n_columns + 1]
        logit = a * shared_logit + x @ w + b
        value = -np.sum(y * log_expit(logit) + (1 - y) * log_expit(-logit)) + w @ w / (2 * c)
        residual = expit(logit) - y
        gradient = np.concatenate([x.T @ residual + w / c, [residual @ shared_logit, residual.sum()]])
        return float(value), gradient

    start = np.zeros(n_columns + 2)
    start[n_columns] = 1.0  # the shared model as it is
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    w, a, b = result.x[:n_columns], float(result.x[n_columns]), float(result.x[n_columns + 1])
    return a * shared_w + w, a * shared_b + b, a


def adapt(
    shared: ModelFile,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    source: str,
    c: float = ADAPT_C,
) -> Adaptation:
    """Adapt `shared` to a hospital: fit on `train` (encoded features, 0/1 labels), read the
    operating threshold and risk distribution off `validation`, and compare there.

    Args:
        shared: the federation's model file (binary logistic).
        train / validation: (features, labels) encoded with `shared.feature_spec()`.
        source: where the patients came from, for the provenance (e.g. the genotype file).
        c: the local weights' L2 strength (default: `ADAPT_C`, the references' "alone").
    """
    shared_w, shared_b = shared_encoded_weights(shared)
    weight, bias, a = fit_adaptation(shared_w, shared_b, *train, c=c)
    config = replace(shared.model_config, selected=())
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32)[None, :])
        model.linear.bias.fill_(bias)
        model.scale.fill_(1.0)
    val_x, val_y = validation
    risks = predict_proba(model, val_x.astype(np.float32))
    shared_risks = predict_proba(shared.build(), val_x.astype(np.float32))
    histogram = score_histogram(val_y, risks).astype(np.float64)
    cases, controls = int(np.sum(val_y == 1)), int(np.sum(val_y == 0))
    enough = min(cases, controls) >= MIN_CLASS_FOR_THRESHOLD
    threshold = operating_point(histogram, round_=0) if enough else None
    distribution = risk_distribution(histogram, round_=0) if len(val_y) >= MIN_FOR_DISTRIBUTION else None
    for described in (threshold, distribution):
        if described:
            described.pop("round", None)
            described["source"] = "the hospital's own validation patients, exact counts (nothing released)"
    operating = {
        **shared.operating,
        "threshold": threshold if threshold and threshold.get("threshold") is not None else None,
        "threshold_note": None
        if threshold
        else (
            f"{cases} cases and {controls} controls among the hospital's validation patients: fewer than "
            f"{MIN_CLASS_FOR_THRESHOLD} of a class, too few to set an operating threshold"
        ),
        "risk_distribution": distribution,
    }
    provenance = {
        "source": f"adapted to {source}",
        "kind": "adapted",
        "privacy": LOCAL_ONLY,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "shared_model": shared.content_hash,
        "shared_provenance": shared.provenance,
        "fit": {"l2_c": c, "weight_on_shared": a, "train": int(len(train[1])), "validation": int(len(val_y))},
    }
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    adapted = ModelFile(state, config, shared.panel, shared.task, provenance, operating)
    return Adaptation(
        model=adapted,
        weight_on_shared=a,
        n_train=int(len(train[1])),
        n_validation=int(len(val_y)),
        shared_auc=_auc(val_y, shared_risks),
        adapted_auc=_auc(val_y, risks),
    )


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
    adapted = adapt(shared, train, validation, source=source)
    x_test, y_test = test
    return _auc(y_test, predict_proba(adapted.model.build(), x_test))


def _auc(labels: np.ndarray, risks: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, risks)) if len(np.unique(labels)) == 2 else None

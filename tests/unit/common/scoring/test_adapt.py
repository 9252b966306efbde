"""Adapting the federation's model to one hospital (`genofed.common.scoring.adapt`): the folded
file scores exactly as shared score x a + local score (calibrated: slope x that + intercept), the
row-space solution is the penalised optimum itself, calibration tames overconfident risks without
changing any AUC, a sub-panel model folds onto the whole panel, local signal the shared model
lacks is learned, a network and an already adapted model are refused, a worse adapted model is
warned about, and the file says it must stay at the hospital."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.model_files import N_VARIANTS, model_file
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.metrics import roc_auc_score

from genofed.common.model.network import ModelConfig, build_model, predict_proba
from genofed.common.scoring.adapt import (
    LOCAL_ONLY,
    adapt,
    fit_adaptation,
    out_of_fold_calibration,
    require_shared_model,
    shared_encoded_weights,
)
from genofed.common.scoring.model_file import (
    ModelFile,
    ModelFileError,
    PretrainedModelError,
    load_model_file,
    load_pretrained,
    save_model_file,
)


def _hospital(n: int, seed: int, effects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoded features (centred dosages, sex, age) and labels from a logistic model `effects`."""
    rng = np.random.default_rng(seed)
    x = np.hstack(
        [rng.binomial(2, 0.3, (n, N_VARIANTS)) - 0.6, rng.integers(0, 2, (n, 1)), rng.normal(size=(n, 1))]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ effects)))).astype(np.int64)
    return x.astype(np.float32), y


def _logit(model: ModelFile, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.build()(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def test_the_folded_model_scores_as_the_fit_says():
    shared = model_file(operating=True)
    x, y = _hospital(200, 1, np.zeros(N_VARIANTS + 2))
    y[:2] = (0, 1)
    shared_w, shared_b = shared_encoded_weights(shared)
    assert np.allclose(x @ shared_w + shared_b, _logit(shared, x), atol=1e-4)
    weight, bias, a = fit_adaptation(shared_w, shared_b, x, y)
    raw = adapt(shared, (x[:150], y[:150]), (x[150:], y[150:]), source="test", calibrate=False)
    folded_w, folded_b, _ = fit_adaptation(shared_w, shared_b, x[:150], y[:150])
    assert np.allclose(_logit(raw.model, x), x @ folded_w + folded_b, atol=1e-3)
    assert raw.model.model_config.selected == () and np.isfinite(a) and weight.shape == shared_w.shape
    adapted = adapt(shared, (x[:150], y[:150]), (x[150:], y[150:]), source="test")
    slope, intercept = adapted.calibration["slope"], adapted.calibration["intercept"]
    assert adapted.model.provenance["fit"]["calibration"] == adapted.calibration
    assert np.allclose(_logit(adapted.model, x), slope * (x @ folded_w + folded_b) + intercept, atol=1e-3)


def test_the_row_space_fit_is_the_penalised_optimum():
    """Solving in the patients' row space is a change of variables: the same weights as the plain
    minimisation over every column (here with more columns than patients, as at a hospital)."""
    shared = model_file()
    x, y = _hospital(24, 8, np.r_[np.ones(N_VARIANTS) * 0.4, 0, 0])
    y[:2] = (0, 1)
    shared_w, shared_b = shared_encoded_weights(shared)
    s = x.astype(np.float64) @ shared_w + shared_b
    n = x.shape[1]

    def loss(theta):
        logit = theta[n] * s + x @ theta[:n] + theta[n + 1]
        value = -np.sum(y * log_expit(logit) + (1 - y) * log_expit(-logit)) + theta[:n] @ theta[:n] / 2
        r = expit(logit) - y
        return value, np.concatenate([x.T @ r + theta[:n], [r @ s, r.sum()]])

    start = np.r_[np.zeros(n), 1.0, 0.0]
    theta = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9}).x
    weight, bias, a = fit_adaptation(shared_w, shared_b, x, y)
    assert a == pytest.approx(theta[n], rel=1e-3)
    assert np.allclose(x @ weight + bias, theta[n] * s + x @ theta[:n] + theta[n + 1], atol=1e-3)


def test_calibration_tames_overconfident_risks_and_keeps_every_auc():
    """Few patients for many variants: the raw fit separates its training patients and its risks
    pile up near 0 and 1 (what `genofed adapt` gave the demo hospitals); the out-of-fold slope
    shrinks them, and as a monotone map it leaves the AUC where it was."""
    effects = np.r_[np.ones(N_VARIANTS) * 0.5, 0, 0]
    train, validation = _hospital(28, 9, effects), _hospital(400, 10, effects)
    shared = model_file(seed=3)
    raw = adapt(shared, train, validation, source="test", calibrate=False)
    calibrated = adapt(shared, train, validation, source="test")
    x, y = validation
    raw_risk = predict_proba(raw.model.build(), x)
    risk = predict_proba(calibrated.model.build(), x)
    assert 0 < calibrated.calibration["slope"] < 1
    assert np.mean((risk < 0.01) | (risk > 0.99)) < np.mean((raw_risk < 0.01) | (raw_risk > 0.99))
    assert np.mean((risk - y) ** 2) < np.mean((raw_risk - y) ** 2)  # Brier score
    assert calibrated.adapted_auc == pytest.approx(raw.adapted_auc, abs=1e-3)
    # too few of a class to hold one out per fold: no calibration, and said so
    tiny_y = np.zeros(28, dtype=np.int64)
    tiny_y[0] = 1
    assert out_of_fold_calibration(*shared_encoded_weights(shared), train[0], tiny_y) is None


def test_an_adapted_model_worse_on_validation_is_warned_about():
    """Validation patients whose labels follow the shared score exactly: the shared model ranks
    them perfectly, the adapted one (fitted on noise) cannot; the warning says so, in the file too."""
    shared = model_file()
    train = _hospital(120, 11, np.zeros(N_VARIANTS + 2))
    x_val, _ = _hospital(60, 12, np.zeros(N_VARIANTS + 2))
    shared_logit = _logit(shared, x_val)
    y_val = (shared_logit > np.median(shared_logit)).astype(np.int64)
    adapted = adapt(shared, train, (x_val, y_val), source="test")
    assert adapted.shared_auc == pytest.approx(1.0) and adapted.adapted_auc < 1.0
    assert "the shared model may be the better choice for this hospital" in adapted.warning
    assert adapted.model.provenance["warning"] == adapted.warning
    assert adapted.model.provenance["validation"]["shared_auc"] == adapted.shared_auc


def test_a_sub_panel_model_folds_onto_the_whole_panel():
    shared = model_file()
    config = replace(shared.model_config, selected=(2, 5, 7))
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight[0] = torch.tensor([0.5, -1.0, 2.0, 0.3, 0.1])
        model.scale.copy_(torch.tensor([0.5, 2.0, 1.0, 1.0, 1.0]))
    sub = replace(shared, state_dict=model.state_dict(), model_config=config)
    x, _ = _hospital(20, 2, np.zeros(N_VARIANTS + 2))
    w, b = shared_encoded_weights(sub)
    assert np.count_nonzero(w) == 5 and np.allclose(x @ w + b, _logit(sub, x), atol=1e-5)


def test_local_signal_the_shared_model_lacks_is_learned():
    """The shared model knows variant 0; this hospital's patients also depend on variant 1."""
    effects = np.zeros(N_VARIANTS + 2)
    effects[0], effects[1] = 1.5, 1.5
    train, validation = _hospital(400, 3, effects), _hospital(300, 4, effects)
    shared = model_file()
    model = build_model(shared.model_config, seed=0)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.weight[0, 0] = 1.5
    shared = replace(shared, state_dict=model.state_dict())
    adapted = adapt(shared, train, validation, source="test")
    assert adapted.adapted_auc > adapted.shared_auc + 0.05
    assert adapted.weight_on_shared > 0.5  # the shared score is kept, not discarded
    x, y = validation
    assert adapted.adapted_auc == pytest.approx(roc_auc_score(y, predict_proba(adapted.model.build(), x)))


def test_the_file_says_it_stays_at_the_hospital_and_round_trips(tmp_path):
    shared = model_file()
    x, y = _hospital(120, 5, np.r_[np.ones(N_VARIANTS) * 0.3, 0, 0])
    adapted = adapt(shared, (x[:90], y[:90]), (x[90:], y[90:]), source="site.vcf").model
    assert adapted.provenance["kind"] == "adapted" and adapted.provenance["privacy"] == LOCAL_ONLY
    assert adapted.provenance["shared_model"] == shared.content_hash
    assert adapted.operating["features"] == shared.operating["features"]
    assert "validation patients" in adapted.operating["risk_distribution"]["source"]
    path = tmp_path / "adapted.pt"
    digest = save_model_file(path, adapted)
    assert load_model_file(path).content_hash == digest
    with pytest.raises(PretrainedModelError, match="a run cannot start from it"):
        load_pretrained(path)  # what --pretrained and --prior read: never from a non-DP local model
    # nor is it adapted again: it is local to the hospital that fitted it
    with pytest.raises(ModelFileError, match="already an adapted model.*adapt the federation's shared model"):
        require_shared_model(adapted, source=str(path))
    with pytest.raises(ModelFileError, match="already an adapted model"):
        adapt(adapted, (x[:90], y[:90]), (x[90:], y[90:]), source="again")


def test_only_a_binary_logistic_model_is_adapted():
    shared = model_file()
    network = replace(shared, model_config=ModelConfig(n_variants=N_VARIANTS), state_dict={})
    with pytest.raises(ModelFileError, match="only a binary logistic model can be adapted"):
        shared_encoded_weights(network)
    x, y = _hospital(50, 6, np.zeros(N_VARIANTS + 2))
    with pytest.raises(ValueError, match="one class only"):
        fit_adaptation(*shared_encoded_weights(shared), x, np.zeros_like(y))


def test_the_adapted_threshold_records_its_own_rule_and_what_it_flags():
    """The adapted file's threshold is read from the hospital's own exact counts: its rule says so
    (not the federated run's pooled-noisy-histogram rule), and the sensitivity, specificity and
    share flagged it records are those of its validation patients at that threshold."""
    from genofed.common.scoring.adapt import ADAPTED_RULE
    from genofed.common.scoring.operating import YOUDEN_RULE

    shared = model_file(operating=True)
    x, y = _hospital(300, 9, np.r_[np.ones(N_VARIANTS) * 0.3, 0, 0])
    adapted = adapt(shared, (x[:200], y[:200]), (x[200:], y[200:]), source="site.vcf")
    point = adapted.model.operating["threshold"]
    assert point["rule"] == ADAPTED_RULE != YOUDEN_RULE and "exact counts" in point["rule"]
    risks, labels = predict_proba(adapted.model.build(), x[200:]), y[200:].astype(bool)
    flagged = risks >= point["threshold"] - 1e-9
    assert point["flagged"] == int(flagged.sum())
    assert point["flagged_share"] == pytest.approx(flagged.mean())
    assert point["sensitivity"] == pytest.approx(flagged[labels].mean())
    assert point["specificity"] == pytest.approx((~flagged[~labels]).mean())


def test_the_adapted_file_records_the_hospitals_validation_patients():
    """An adapted model was checked on the hospital's validation patients only: its file records
    their ages, sexes and the calibration verdict on them (by the report's check, on the adapted
    risks), keeps the shared model's own record beside it, and gives no verdict on fewer than 20."""
    from helpers.validated_on import adults

    from genofed.common.scoring.adapt import VALIDATION_COHORT
    from genofed.common.scoring.validation import calibration_record

    shared = replace(model_file(), validated_on=adults())
    x, y = _hospital(300, 9, np.r_[np.ones(N_VARIANTS) * 0.3, 0, 0])
    ages, sexes = np.linspace(30, 60, 100), np.arange(100) % 2
    adapted = adapt(
        shared, (x[:200], y[:200]), (x[200:], y[200:]), source="site.vcf", validation_people=(ages, sexes)
    ).model
    record = adapted.validated_on
    assert record["cohort"] == VALIDATION_COHORT and record["people"] == 100
    assert (record["age"]["min"], record["age"]["max"]) == (30.0, 60.0)
    assert record["sex"] == {"female": 50, "male": 50, "unknown": 0}
    assert "--split-seed" in record["source"] and "flatters" in record["source"]
    risks = predict_proba(adapted.build(), x[200:])
    expected = calibration_record(
        y[200:], risks, cohort="the hospital's validation patients", possessive="those patients'"
    )
    assert record["calibration"]["p_value"] == pytest.approx(expected["p_value"])
    assert record["calibration"]["statement"] == expected["statement"]
    assert record["shared_model"] == shared.validated_on  # for reference, not for checking ages
    # the agent's own split says so; fewer than 20 validation patients get no verdict
    few = adapt(shared, (x[:200], y[:200]), (x[200:212], y[200:212]), source="s", agent_split=True).model
    record = few.validated_on
    assert record["calibration"] is None and "fewer than the 20" in record["calibration_note"]
    assert "held out in federated training" in record["source"]
    assert record["age"] is None  # no ages given


def test_a_fit_that_inverts_the_shared_model_is_warned_about():
    """Training labels that run against the shared score: the weight on it comes out negative, and
    the warning says the adaptation inverted the shared model (an audit's 1 case + 18 controls gave
    -3.1 and a test AUC of 0.28, written without a word)."""
    shared = model_file()
    x, _ = _hospital(160, 21, np.zeros(N_VARIANTS + 2))
    against = (_logit(shared, x) < np.median(_logit(shared, x))).astype(np.int64)
    adapted = adapt(shared, (x[:120], against[:120]), (x[120:], against[120:]), source="test")
    assert adapted.weight_on_shared < 0
    assert "weight on the shared model's score is negative" in adapted.warning
    assert "inverted the shared model" in adapted.model.provenance["warning"]
    # the usual case, a positive weight, is not warned about for it
    follows = 1 - against
    usual = adapt(shared, (x[:120], follows[:120]), (x[120:], follows[120:]), source="test")
    assert usual.weight_on_shared > 0 and "negative" not in (usual.warning or "")


def test_too_few_training_cases_or_controls_are_refused():
    """Fewer than MIN_TRAIN_CLASS (10) of a class: the out-of-fold calibration would rest on folds of
    one patient; refused naming the file, with the counts."""
    from genofed.common.errors import DataError
    from genofed.common.scoring.adapt import MIN_TRAIN_CLASS, require_enough_patients

    assert MIN_TRAIN_CLASS == 10
    require_enough_patients(np.r_[np.ones(10), np.zeros(10)], source="p.csv", hint="h")
    for labels in (np.r_[np.ones(1), np.zeros(18)], np.r_[np.ones(30), np.zeros(9)], np.r_[1, 0]):
        with pytest.raises(DataError, match="fewer than the 10 of each") as refused:
            require_enough_patients(labels, source="p.csv", hint="h")
        assert refused.value.file == "p.csv"

"""The reference models every simulation reports next to the federated one, trained on the
same train splits and evaluated on the same test cohort: each hospital alone (with the same
privacy budget, and without privacy), all hospitals pooled in one place without privacy, and, in a
private run, a plain DP logistic regression federation at the same per-site budget
(`plain_dp_logistic`: the measuring stick a DP design must beat to be worth joining).

Without privacy, a logistic run's references are the classical model: scikit-learn's L2 logistic
regression at its default strength (`logistic_auc`, C = 1, chosen on no data), on the same
features, as the privacy-frontier experiment has always measured pooled training. Until stop 54
they were the run's own DP-tuned training loop without its noise (the rule's small step and few
epochs), undertrained: an outside walkthrough on real genotypes saw the report call the federated
model above pooled training that a plain regression beat (docs/simulation.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import Tensor

from genofed.client.site import SiteTensors, derived_seed
from genofed.client.trainer import Augment, TrainSettings, sample_rate, steps_per_epoch, train_model
from genofed.common.data.panel import VariantPanel
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model, set_trainable
from genofed.common.privacy.accountant import Step, calibrate_noise
from genofed.common.util.progress import bar
from genofed.server.evaluation import TestCohort
from genofed.server.settings import RunSettings
from genofed.simulations.local.plain_dp_logistic import federate, linear_logits, settings_rule

#: scikit-learn's default L2 strength, fixed (not chosen on any data).
POOLED_C = 1.0
#: What `logistic_auc` fits, in the words results.json and the report use (`reference_model`).
CLASSICAL_REFERENCE = f"logistic regression (scikit-learn, L2, C = {POOLED_C:g})"


@dataclass(frozen=True)
class References:
    local_only_auc: dict[str, float | None]  # same DP budget as the federation
    local_only_nonprivate_auc: dict[str, float | None]
    pooled_auc: float | None
    #: the plain DP logistic regression federation at the run's per-site (epsilon, delta)
    #: (`plain_dp_logistic`); None in a run without DP, or without a panel to set its rule from
    plain_dp_logistic_auc: float | None = None
    #: how it trained (rounds, steps, noise multiplier, the epsilon Opacus' accountant counted), for
    #: results.json; empty when it did not
    plain_dp_logistic: dict[str, float] = field(default_factory=dict)
    #: each reference model's risk for every test person, in the test cohort's row order, by its
    #: RUN/reference_predictions.csv column (`reference_column`): the report's paired intervals of
    #: federated minus each reference need the people's risks, not only the AUCs
    test_risks: dict[str, np.ndarray] = field(default_factory=dict)


def train_references(
    sites: dict[str, SiteTensors],
    test: TestCohort,
    settings: RunSettings,
    model_config: ModelConfig,
    start: dict[str, Tensor] | None = None,
    *,
    augments: dict[str, Augment] | None = None,
    panel: VariantPanel | None = None,
) -> References:
    """Epochs match the federation's (rounds x local epochs), so only the data differs.

    Each hospital alone starts where the federation started (`start`: the pretrained weights,
    fine-tuned in the run's mode), so federated and local-only differ only in the sharing. The
    pooled model is the classical reference: all patients in one place, no privacy, trained from
    scratch.

    `augments`: each hospital's augmentation as it trained in the federation (name -> the trainer's
    callable; a hospital not named trained without). It applies to "alone, same privacy"
    (`local_only_auc`), which must share everything with the federation but the sharing; "alone,
    no privacy" and the pooled model stay the plain classical references.

    `panel`: the run's panel, whose public allele frequencies set the plain DP logistic
    regression's learning rate (`plain_dp_logistic.settings_rule`); with it, a private run also
    trains that federation at the run's per-site epsilon and delta, on the same hospitals' training
    patients and the whole panel (a prior's sub-panel is the federation's own choice, not the plain
    reference's), without the run's augmentation or synthetic records.
    """
    from genofed.server.report.run_files import (
        ALONE_KINDS,
        PLAIN_DP_COLUMN,
        POOLED_COLUMN,
        reference_column,
    )

    private, nonprivate, risks = {}, {}, {}
    augments = augments or {}
    classical = model_config.architecture == "logistic"
    plain_dp = panel is not None and settings.private
    # one step per hospital, one for the pooled model, one for the plain DP federation; drawn only
    # on the CLI's terminal
    shown = bar(
        len(sites) + 1 + plain_dp,
        "reference models (each hospital alone, then pooled"
        + (", then a plain DP logistic regression federation)" if plain_dp else ")"),
    )
    with shown:
        for name, data in sites.items():
            if classical:
                plain = logistic_risks(data.train_x, data.train_y, test.features)
            else:
                alone = fit_alone(
                    data.train_x, data.train_y, settings, model_config, name, start, private=False
                )
                plain = test.predict(model_config, alone)
            nonprivate[name] = _scored(test, plain, risks, reference_column("local_only_nonprivate", name))
            same = _alone_as_in_federation(
                data, test, settings, model_config, name, start, augments.get(name), plain
            )
            private[name] = _scored(test, same, risks, reference_column("local_only", name))
            shown.step()
        pooled_x = np.concatenate([d.train_x for d in sites.values()])
        pooled_y = np.concatenate([d.train_y for d in sites.values()])
        if classical:
            pooled_risks = logistic_risks(pooled_x, pooled_y, test.features)
        else:
            full = replace(settings, finetune="full")
            weights = fit_alone(pooled_x, pooled_y, full, model_config, "pooled", private=False)
            pooled_risks = test.predict(model_config, weights)
        pooled = _scored(test, pooled_risks, risks, POOLED_COLUMN)
        shown.step()
        plain_auc, plain_record = None, {}
        if plain_dp:
            plain_risks, plain_record = plain_dp_logistic_risks(sites, test, settings, panel)  # type: ignore[arg-type]
            plain_auc = _scored(test, plain_risks, risks, PLAIN_DP_COLUMN)
            shown.step()
    # the file's columns in the headline's order: pooled, the plain DP federation, then each
    # hospital alone, then without DP
    order = [POOLED_COLUMN, PLAIN_DP_COLUMN, *(reference_column(k, n) for k in ALONE_KINDS for n in sites)]
    return References(
        private,
        nonprivate,
        pooled,
        plain_auc,
        plain_record,
        {c: risks[c] for c in order if c in risks},
    )


def plain_dp_logistic_risks(
    sites: dict[str, SiteTensors], test: TestCohort, settings: RunSettings, panel: VariantPanel
) -> tuple[np.ndarray, dict[str, float]]:
    """Each test person's risk under the plain DP logistic regression federation
    (`plain_dp_logistic.federate`) at the run's per-site epsilon and delta, seeded by the run's
    seed, and what it trained with (results.json `plain_dp_logistic`)."""
    rule = settings_rule(panel)
    fed = federate(sites, rule, settings.epsilon, settings.seed, settings.delta)
    logits = linear_logits(fed.params, test.features)
    record = {
        "rounds": rule.rounds,
        "local_epochs": rule.local_epochs,
        "sample_rate": rule.sample_rate,
        "clip": rule.clip,
        "lr": rule.lr,
        "steps": rule.steps,
        "noise_multiplier": fed.noise_multiplier,
        "epsilon": settings.epsilon,
        "delta": settings.delta,
        "epsilon_spent": fed.spent,
    }
    return expit(logits), record


def _scored(
    test: TestCohort, risks: np.ndarray | None, kept: dict[str, np.ndarray], column: str
) -> float | None:
    """The test AUC of one reference's risks (None: no model, or no AUC), its risks kept under
    `column` for RUN/reference_predictions.csv when it has an AUC: one number and the people's
    risks it came from, so that the report's paired intervals and the AUCs cannot disagree."""
    if risks is None:
        return None
    auc = binary_metrics(test.labels, risks)["auc"]
    if auc is None or math.isnan(auc):
        return None
    kept[column] = np.asarray(risks, dtype=np.float64)
    return float(auc)


def logistic_risks(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray | None:
    """Each test person's risk from a non-private scikit-learn logistic regression (C =
    `POOLED_C`) fit on (x, y), as `logistic_auc` fits it; None when the training patients hold one
    class only. The probability ranks the people as the decision function does."""
    if len(np.unique(y)) < 2:
        return None
    model = LogisticRegression(C=POOLED_C, max_iter=2000).fit(x, y)
    return model.predict_proba(x_test)[:, 1].astype(np.float64)


def logistic_auc(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float | None:
    """Test AUC of a non-private scikit-learn logistic regression (C = `POOLED_C`) fit on (x, y);
    None when the training patients hold one class only (nothing to fit)."""
    if len(np.unique(y)) < 2:
        return None
    model = LogisticRegression(C=POOLED_C, max_iter=2000).fit(x, y)
    return float(roc_auc_score(y_test, model.decision_function(x_test)))


def _alone_as_in_federation(
    data: SiteTensors,
    test: TestCohort,
    settings: RunSettings,
    model_config: ModelConfig,
    name: str,
    start: dict[str, Tensor] | None,
    augment: Augment | None,
    nonprivate_risks: np.ndarray | None,
) -> np.ndarray | None:
    """Test risks of one hospital alone under the federation's privacy and augmentation. Without
    either, they are the no-privacy model's already computed (`nonprivate_risks`), not trained twice."""
    if not settings.private and augment is None:
        return nonprivate_risks
    weights = fit_alone(
        data.train_x, data.train_y, settings, model_config, name, start, private=True, augment=augment
    )
    return test.predict(model_config, weights)


def fit_alone(
    x: np.ndarray,
    y: np.ndarray,
    settings: RunSettings,
    config: ModelConfig,
    name: str,
    start: dict[str, Tensor] | None = None,
    *,
    private: bool = True,
    history: list[Step] | tuple = (),
    augment: Augment | None = None,
) -> dict[str, Tensor]:
    """A model trained on one data set alone, as a hospital without a federation would.

    Same optimiser settings and as many epochs as the federation (rounds x local epochs); with
    `private` and a finite epsilon, DP-SGD calibrated to spend the run's whole budget. `start`
    (pretrained weights) is fine-tuned in `settings.finetune` mode; None trains from scratch.
    `history`: DP steps the site already spent on the same patients (e.g. a synthetic-data
    generator); the classifier's noise is then calibrated so history + training stay within
    `settings.epsilon` (empty: the whole budget is the classifier's, as before).
    `augment`: the trainer's on-the-fly genotype augmentation callable (see `train_model`); one
    augmented example per drawn record, so the DP accounting is unchanged. None: no augmentation.
    """
    _require_resolved(settings)
    epochs = settings.rounds * settings.local_epochs
    sigma = None
    if private and settings.private:
        sigma = classifier_step(len(y), settings, history)[0]
    model = build_model(config, seed=settings.seed)
    if start is not None:
        model.load_state_dict(start)
        set_trainable(model, settings.finetune)
    train = TrainSettings(
        epochs=epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        max_grad_norm=settings.clip,
        momentum=settings.momentum,
    )
    seed = derived_seed(name.encode(), "reference", settings.seed, sigma is None)
    extra = (
        {} if augment is None else {"augment": augment}
    )  # the call without augmentation stays exactly as before
    return train_model(model, x, y, train, noise_multiplier=sigma, seed=seed, **extra).state_dict


def classifier_step(n: int, settings: RunSettings, history: list[Step] | tuple = ()) -> Step:
    """The DP-SGD run `fit_alone` does on `n` rows under `settings` after `history`, as a Step
    (noise multiplier, sample rate, steps): what a caller adds to `history` to audit the total."""
    _require_resolved(settings)
    epochs = settings.rounds * settings.local_epochs
    rate, steps = sample_rate(n, settings.batch_size), epochs * steps_per_epoch(n, settings.batch_size)
    sigma = calibrate_noise(
        list(history), sample_rate=rate, steps=steps, target_epsilon=settings.epsilon, delta=settings.delta
    )
    return (sigma, rate, steps)


def _require_resolved(settings: RunSettings) -> None:
    """A reference model trains with concrete settings: the model's rule must have been applied
    (`genofed.server.training_rule.resolve_settings`), or a learning rate of 0 trains nothing."""
    if settings.by_rule:
        raise ValueError(
            f"settings {', '.join(settings.by_rule)} are still left to the model's rule: resolve them first "
            "(genofed.server.training_rule.resolve_settings)"
        )

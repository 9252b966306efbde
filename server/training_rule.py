"""Training settings from public facts: the rule each model follows when the user leaves them at 0.

Why a rule and not a tuning run: choosing the learning rate or clipping norm by trying values
on the hospitals' patients is itself a release about those patients, which would have to be
charged to every ledger. The rule uses only what is public in a federation: the model, the
panel (its size and its allele frequencies, which the coordinator already holds) and the
variants the model reads. How each rule was chosen, on simulated federations only, and how it
compares with the old defaults: docs/models.md.

- network (`GenotypeRiskNet`): the defaults measured for it before the rule existed, unchanged.
- logistic (`LogisticRiskModel`): every variant column scaled by v_j^(a/2), v_j = 2 p_j (1 - p_j)
  its Hardy-Weinberg variance (`column_scale`), and lr = LR_SCALE / (C x X_a) with
  X_a = sqrt(sum_j v_j^(1+a)), the expected norm of a scaled, mean-centred genotype row, over the
  variants the model reads, from the panel's public allele frequencies. Nearly every per-patient
  gradient is clipped to C (|y - p| x X_a >> C), so one averaged step moves a typical patient's
  logit by about LR_SCALE whatever the panel size. The exponent a (`variant_exponent`) is 0, plain
  dosages, for a model trained from scratch under DP on the whole panel, and 2 elsewhere (a
  sub-panel, no DP, a start from a model's weights), where the scale moves the clipping budget
  towards common variants: a = 2 was chosen on the plain reference's loop, where it also gave the
  covariates a larger share; with that share held fixed, a = 0 was level at epsilon 1 and ahead at
  3 and 8 from scratch on the whole panel, the only case studied (docs/models.md, the studies).
  The covariates (sex, age) are 2 of ~20,000 clipped columns and so get almost none of each
  patient's clipping budget; on the whole panel their scale is `covariate_scale` =
  sqrt(1 + (COVARIATE_EPSILON / eps)^2) times X_a / X_2, the share of the row norm it was tuned
  at (with a = 2): it grows with the noise the run's epsilon implies (sigma ~ 1 / eps), moving
  budget to them as the variant weights' signal sinks under the noise; it is 1 without DP and on
  a sub-panel.
  A run that starts from a model's weights (a source prior, a pretrained model) under local DP
  steps lr x `step_share(eps)` = eps^2 / (eps^2 + STEP_SHARE_EPSILON^2): each round's
  update is the data's signal plus noise whose variance grows as 1 / eps^2, and where the noise
  dominates, the full step carries the start away from what it knew (from scratch there is no
  such start to lose, and under distributed DP the coordinator's sum carries far less noise).

Under distributed DP a round is one server step on the noisy clipped gradient sum of T batches
(genofed.client.distributed_round); `distributed_step` says how far: along their mean for the
logistic model from scratch, where only the direction of the nearly fully clipped sum matters,
and along their sum, as far as the T local steps of a local-DP round (momentum included,
genofed.client.distributed_round.momentum_travel), when the run starts from a model's weights,
whose start the data must be able to move, and for the network, whose lr was set for many
sequential steps with momentum. The network's step that long is also the noisiest, so under
distributed DP its lr takes `step_share(eps)` too (docs/distributed-dp.md "How far a round steps").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.server.settings import DEFAULT_MODEL, RunSettings


@dataclass(frozen=True)
class TrainingRule:
    """One model's training settings, as `RunSettings` names them."""

    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    clip: float
    momentum: float


#: The network's measured defaults (docs/models.md "Training settings from public facts").
NETWORK_RULE = TrainingRule(rounds=10, local_epochs=2, batch_size=32, lr=0.05, clip=1.0, momentum=0.9)

#: The logistic model's rule constants (docs/models.md "Training settings from public facts").
LOGISTIC_ROUNDS = 10
LOGISTIC_LOCAL_EPOCHS = 2
LOGISTIC_BATCH_SIZE = 32
LOGISTIC_CLIP = 1.0
LR_SCALE = 1.0
#: The covariates' scale is sqrt(1 + (COVARIATE_EPSILON / epsilon)^2): 3.6 at epsilon 1, 1.5 at
#: 3, 1.1 at 8 (docs/models.md "The covariates' share", bench/covariate_scale.py).
COVARIATE_EPSILON = math.sqrt(12.0)
#: The variants' column exponent a: plain dosages from scratch under DP on the whole panel, v_j
#: elsewhere (docs/models.md "The variants' weighting at a fixed covariate share",
#: bench/column_exponent.py). The covariate scale was tuned at SCALED_EXPONENT.
PLAIN_EXPONENT = 0.0
SCALED_EXPONENT = 2.0
#: A long step under DP takes lr x eps^2 / (eps^2 + STEP_SHARE_EPSILON^2): 0.25 at epsilon 1,
#: 0.75 at 3, 0.96 at 8 (docs/models.md "A start's step", bench/prior_step.py).
STEP_SHARE_EPSILON = math.sqrt(3.0)


def rule_rounds(model: str) -> int:
    """The rounds the rule plans for `model` ("logistic", "network" or "auto"), which need no panel:
    what `genofed coordinator status` shows as planned before a run has resolved its settings.
    "auto" may become either model (a pretrained start picks its architecture); both rules plan
    the same number of rounds, which a test keeps true."""
    return NETWORK_RULE.rounds if model == "network" else LOGISTIC_ROUNDS


def variant_variances(panel: VariantPanel, selected: tuple[int, ...] = ()) -> np.ndarray:
    """2 p_j (1 - p_j) of the variants read (`selected`, empty = all), p clipped as the features are."""
    freq = np.asarray(panel.alt_freq, dtype=np.float64)
    if selected:
        freq = freq[list(selected)]
    freq = np.clip(freq, FREQ_CLIP, 1.0 - FREQ_CLIP)
    return 2.0 * freq * (1.0 - freq)


def expected_row_norm(panel: VariantPanel, selected: tuple[int, ...] = (), *, exponent: float = 0.0) -> float:
    """The expected norm of a mean-centred dosage row under Hardy-Weinberg over the variants read,
    from public allele frequencies, with each column scaled by v_j^(exponent/2):
    X_a = sqrt(sum_j v_j^(1 + a)), v_j = 2 p_j (1 - p_j); exponent 0 = unscaled dosages."""
    variances = variant_variances(panel, selected)
    return math.sqrt(float(np.sum(variances ** (1.0 + exponent))))


def _whole_panel(panel: VariantPanel, selected: tuple[int, ...]) -> bool:
    """Whether the model reads every panel variant (no selection, or a selection of all)."""
    return not selected or len(selected) == len(panel)


def variant_exponent(
    panel: VariantPanel,
    selected: tuple[int, ...] = (),
    epsilon: float = math.inf,
    *,
    from_scratch: bool = True,
) -> float:
    """The rule's column exponent a for a logistic model reading `selected` of `panel` at per-site
    `epsilon` (inf = no DP), trained `from_scratch` (False: from a source prior's or a pretrained
    model's weights): 0 from scratch under DP on the whole panel, else 2 (module docstring). Why
    not 0 everywhere: it was measured better only there; on a gene list it was level, and the
    starts with weights, whose step was chosen at a = 2, were not studied (docs/models.md)."""
    if from_scratch and _under_dp(epsilon) and _whole_panel(panel, selected):
        return PLAIN_EXPONENT
    return SCALED_EXPONENT


def _under_dp(epsilon: float) -> bool:
    """Whether per-site `epsilon` is a DP budget (finite) rather than no DP (inf); epsilon <= 0 is
    a ValueError."""
    if math.isinf(epsilon):
        return False
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon:g}")
    return True


def rule_row_norm(
    panel: VariantPanel,
    selected: tuple[int, ...] = (),
    epsilon: float = math.inf,
    *,
    from_scratch: bool = True,
) -> float:
    """X_a at the rule's exponent (`variant_exponent`, same arguments): the expected norm of a
    scaled row the rule's lr is set from, LR_SCALE / (C X_a)."""
    exponent = variant_exponent(panel, selected, epsilon, from_scratch=from_scratch)
    return expected_row_norm(panel, selected, exponent=exponent)


def rule_covariate_scale(panel: VariantPanel, selected: tuple[int, ...], epsilon: float) -> float:
    """The covariates' c for a logistic model reading `selected` of `panel`: `covariate_scale(epsilon)`
    on the whole panel, 1 on a sub-panel (`column_scale`'s docstring says why)."""
    return covariate_scale(epsilon) if _whole_panel(panel, selected) else 1.0


def covariate_scale(epsilon: float) -> float:
    """The logistic model's scale of each covariate column for a run at per-site `epsilon`
    (inf = no DP): sqrt(1 + (COVARIATE_EPSILON / epsilon)^2) (module docstring)."""
    return math.sqrt(1.0 + (COVARIATE_EPSILON / epsilon) ** 2) if _under_dp(epsilon) else 1.0


def step_share(epsilon: float) -> float:
    """The share of the rule's lr a run whose steps are long against the noise takes at per-site
    `epsilon` (inf = no DP: 1): epsilon^2 / (epsilon^2 + STEP_SHARE_EPSILON^2), the update's share
    of signal when its noise variance grows as 1 / epsilon^2 (module docstring). Which runs:
    `takes_step_share`."""
    return epsilon**2 / (epsilon**2 + STEP_SHARE_EPSILON**2) if _under_dp(epsilon) else 1.0


def column_scale(
    panel: VariantPanel,
    selected: tuple[int, ...] = (),
    n_covariates: int = 2,
    epsilon: float = math.inf,
    *,
    from_scratch: bool = True,
) -> np.ndarray:
    """The logistic model's input scale: v_j^(a/2) for each variant read (a = `variant_exponent`),
    then for each covariate `covariate_scale(epsilon)` x X_a / X_2 when the model reads the whole
    panel, else 1 (float32, the model's `scale` buffer). `epsilon`: the run's per-site budget
    (inf = no DP); `from_scratch`: False for a start from a model's weights.

    Why X_a / X_2: the covariate scale was tuned with a = 2, and a covariate's share of a patient's
    clipped gradient is its scale over the row norm; the factor keeps that share at any a. Why only
    on the whole panel: the rule was chosen there, where ~20,000 variant columns leave the
    covariates about 1 % of the clipping budget; a sub-panel (a gene list, a source's top K) of a
    few hundred variants already leaves them a large share, and scaling them up there lost
    (docs/models.md "The covariates' share")."""
    exponent = variant_exponent(panel, selected, epsilon, from_scratch=from_scratch)
    # X_a / X_2: 1 on a sub-panel, whose exponent is always SCALED_EXPONENT
    share = expected_row_norm(panel, selected, exponent=exponent) / expected_row_norm(
        panel, selected, exponent=SCALED_EXPONENT
    )
    covariate = rule_covariate_scale(panel, selected, epsilon) * share
    variants = variant_variances(panel, selected) ** (exponent / 2.0)
    return np.concatenate([variants, np.full(n_covariates, covariate)]).astype(np.float32)


def training_rule(
    model: str,
    panel: VariantPanel | None,
    selected: tuple[int, ...] = (),
    epsilon: float = math.inf,
    *,
    from_scratch: bool = True,
) -> TrainingRule:
    """The rule's settings for `model` ("logistic" or "network") on `panel`, reading `selected`, at
    per-site `epsilon` (inf = no DP), trained `from_scratch` or not: the last two decide the
    logistic model's column exponent and so its lr. The network's rule needs no panel (None)."""
    if model == "network":
        return NETWORK_RULE
    if panel is None:
        raise ValueError("the logistic model's rule reads the panel's allele frequencies: pass the panel")
    clip = LOGISTIC_CLIP
    return TrainingRule(
        rounds=LOGISTIC_ROUNDS,
        local_epochs=LOGISTIC_LOCAL_EPOCHS,
        batch_size=LOGISTIC_BATCH_SIZE,
        lr=LR_SCALE / (clip * rule_row_norm(panel, selected, epsilon, from_scratch=from_scratch)),
        clip=clip,
        momentum=0.0,
    )


def distributed_step(settings: RunSettings, *, from_weights: bool | None = None) -> str:
    """The server step of a distributed-DP round: "sum" when the run starts from a model's weights
    (a source prior or a pretrained model) or trains the network, else "mean" (module docstring).
    Only public facts decide; "" for a run that is not distributed. `from_weights`: as in
    `resolve_settings` (None = `starts_from_weights(settings)`; a source prior that gives the
    model its selection only starts from fresh weights, and steps as a run from scratch).

    Why the network steps along the sum: its rule's lr (0.05) was set for the many sequential
    steps of local training; ten steps of it along the mean left a random network where it
    started, at the same test AUC at every epsilon (docs/distributed-dp.md "How far a round steps")."""
    if settings.privacy != "distributed":
        return ""
    if from_weights is None:
        from_weights = starts_from_weights(settings)
    return "sum" if from_weights or settings.model == "network" else "mean"


def run_model(settings: RunSettings, architecture: str = "") -> str:
    """The model a run trains: `settings.model`, or for `auto` the pretrained model's
    `architecture` ("" = none), else the default."""
    return (architecture or DEFAULT_MODEL) if settings.model == "auto" else settings.model


def resolve_settings(
    settings: RunSettings,
    panel: VariantPanel | None,
    *,
    architecture: str = "",
    selected: tuple[int, ...] = (),
    from_weights: bool | None = None,
) -> RunSettings:
    """`settings` with a concrete model and every training setting left at 0 filled by its rule.

    `architecture`: the pretrained model's, when the run starts from one ("" = none), which
    `model=auto` follows. A model that contradicts it is refused by the caller. `from_weights`:
    whether round 0 holds a model's weights; None = `starts_from_weights(settings)` (a source
    prior that offers no weights to the model is a selection only: the caller, which knows, says
    False). Idempotent.
    """
    model = run_model(settings, architecture)
    if not settings.by_rule:
        return replace(settings, model=model)
    if from_weights is None:
        from_weights = starts_from_weights(settings)
    rule = training_rule(model, panel, selected, settings.epsilon, from_scratch=not from_weights)
    values = {name: getattr(rule, name) for name in settings.by_rule}
    if "lr" in values and takes_step_share(settings, model, from_weights=from_weights):
        values["lr"] *= step_share(settings.epsilon)
    return replace(settings, model=model, **values)


def starts_from_weights(settings: RunSettings) -> bool:
    """Whether the run starts from a model's weights (a source prior or a pretrained model)."""
    return bool(settings.prior or settings.pretrained)


def takes_step_share(settings: RunSettings, model: str, *, from_weights: bool | None = None) -> bool:
    """Whether the rule's lr takes `step_share`, public facts all: a logistic run under local DP
    that starts from a model's weights (docs/models.md "A start's step"), and the network under
    distributed DP, whose server step moves as far as a local round with momentum would
    (docs/distributed-dp.md "How far a round steps"). `from_weights`: as in `resolve_settings`."""
    if model == "network":
        return settings.privacy == "distributed"
    if from_weights is None:
        from_weights = starts_from_weights(settings)
    return model == "logistic" and settings.privacy == "local" and from_weights


def network_settings(**overrides: object) -> RunSettings:
    """Run settings for the network with its rule's values filled (no panel needed): what the
    experiments designed around the network record and train their reference models with."""
    return resolve_settings(RunSettings(model="network", **overrides), None)

"""The coordinator's checks of every training reply before it reaches the aggregation.

A hospital is trusted with its patients, not with the shared model: a bug, a broken machine or a
compromised agent at one site can send NaN weights, an update scaled by 100, or an example count
inflated to outweigh every other hospital. Flower's FedAvg would average any of these into the
model everyone receives. So each train reply is screened here first, and one that fails is turned
into a refusal of that site for that round (logged with its reason, like a site's own refusal),
never aggregated:

1. **Shape**: exactly one ArrayRecord with the arrays the coordinator sent (names and shapes,
   floating-point values) and one MetricRecord. One malformed reply would otherwise make Flower skip the whole
   round for everybody (`InconsistentMessageReplies`) or fail inside numpy.
2. **Finite**: every value of every array is finite. One NaN makes a weighted mean NaN, and
   every later round with it.
3. **Example count**: `num-examples` (FedAvg's weight) must be a positive finite number, and is
   capped at the training-set size the site declared when it introduced itself at the start of
   the run; a larger claim is capped and logged, so a site cannot outweigh the others by lying
   in one round. (A negative weight would even turn the mean into an extrapolation.)
4. **Update norm**: under DP, ||w_site - w_sent||_2 must not exceed `norm_bound`, the most that
   DP-SGD with the agreed settings produces except with probability `FALSE_REFUSAL`. An
   update above it is refused rather than clipped down to it: an honest site essentially never
   gets there, so the update is not what the agreed protocol computes, and a clipped version of
   it would still push the model as far as the bound allows in a direction the site chose, every
   round; a refusal removes it and leaves a record. See docs/robust-aggregation.md.

Without DP (epsilon inf) local training has no gradient clipping (client/trainer.py trains
plainly), so no norm follows from the settings and none is enforced: checks 1-3 still apply,
and a robust aggregator (fedmedian, fedtrimmedavg, krum, multikrum) is the defence against a
large update.

The server never imports `genofed.client`: the noise cap comes from `genofed.common.privacy.accountant`,
and the optimizer's momentum, the one client-side fact the bound relies on, is mirrored below;
tests/unit/server/test_integrity.py checks it still matches the client's optimizer.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from flwr.app import ArrayRecord, Error, Message, MetricRecord

# MAX_USEFUL_NOISE: sites refuse to train above it, so a larger reported noise is capped at it (a
# site cannot widen its own bound by claiming more noise)
from genofed.common.privacy.accountant import MAX_USEFUL_NOISE, steps_per_epoch
from genofed.server.noise_weighting import NOISE_SLACK, RunNoisePlan

if TYPE_CHECKING:
    from genofed.server.settings import RunSettings

#: Error code of a reply the coordinator refused after screening it (a site's own refusals
#: carry 4001 and 4002, client/app.py).
SCREENED_OUT = 4010
#: Momentum of the local SGD optimizer (client/trainer.py `_optimizer`, no weight decay).
TRAINER_MOMENTUM = 0.9
#: Probability that an honest DP site's update exceeds its bound in one round, split equally
#: between the two random quantities the bound covers (Poisson batch sizes and Gaussian noise).
#: With 100 hospitals and 100 rounds the expected number of honest updates refused is 0.01.
FALSE_REFUSAL = 1e-6
#: Relative slack for float32 rounding in the sites' arithmetic (far below the bound's margin).
FLOAT_SLACK = 1e-3


@dataclass(frozen=True)
class LocalTraining:
    """The local training every site is told to run each round (the coordinator's train config)."""

    lr: float
    clip: float
    epochs: int
    batch_size: int
    private: bool
    momentum: float = TRAINER_MOMENTUM

    @classmethod
    def from_settings(cls, settings: RunSettings) -> LocalTraining:
        return cls(
            lr=settings.lr,
            clip=settings.clip,
            epochs=settings.local_epochs,
            batch_size=settings.batch_size,
            private=settings.private,
            momentum=settings.momentum if settings.momentum >= 0 else TRAINER_MOMENTUM,
        )


@dataclass(frozen=True)
class NormBound:
    """The bound on ||update||_2 and its two parts, kept apart so a refusal can say which dominates.

    `signal`: the clipped per-patient gradients at their worst (all aligned, every step), over a
    high-probability bound of the Poisson batch sizes. `noise`: a high-probability bound of the
    norm of the DP noise the optimizer accumulated.
    """

    signal: float
    noise: float
    steps: int
    expected_batch: int

    @property
    def total(self) -> float:
        return (self.signal + self.noise) * (1 + FLOAT_SLACK)


def momentum_weights(steps: int, momentum: float) -> np.ndarray:
    """How much step s's gradient moves the final weights, in units of lr.

    PyTorch's SGD with momentum m (no dampening) keeps v_t = m v_{t-1} + g_t and sets
    w_t = w_{t-1} - lr v_t, so after T steps w_T - w_0 = -lr sum_s a_s g_s with
    a_s = sum_{t=s..T} m^(t-s) = (1 - m^(T-s+1)) / (1 - m): at most 1 / (1 - m) = 10 for 0.9.
    """
    remaining = np.arange(steps, 0, -1, dtype=np.float64)  # T - s + 1 for s = 1..T
    if momentum == 0:
        return np.ones(steps)
    return (1 - momentum**remaining) / (1 - momentum)


def weighted_batch_tail(weights: np.ndarray, n: int, rate: float, log_inv_p: float) -> float:
    """An upper bound on S = sum_s a_s B_s, B_s ~ Binomial(n, rate) independent (Poisson batch
    sizes), that holds except with probability p = exp(-log_inv_p).

    S is a sum of n T independent terms a_s X, X ~ Bernoulli(rate); Bernstein's inequality
    P(S - E S >= t) <= exp(-t^2 / (2 V + 2 b t / 3)) with V = n rate (1 - rate) sum a_s^2 and
    b = (1 - rate) max a_s gives t = b L / 3 + sqrt((b L / 3)^2 + 2 V L), L = log_inv_p. S never
    exceeds n sum a_s (every patient in every batch), so that caps it.
    """
    mean = n * rate * float(weights.sum())
    variance = n * rate * (1 - rate) * float(np.square(weights).sum())
    b = (1 - rate) * float(weights.max(initial=0.0))
    third = b * log_inv_p / 3
    return min(mean + third + math.sqrt(third**2 + 2 * variance * log_inv_p), n * float(weights.sum()))


def gaussian_norm_tail(dimension: int, log_inv_p: float) -> float:
    """An upper bound on ||Z||_2, Z ~ N(0, I_d), that holds except with probability exp(-log_inv_p).

    The norm is 1-Lipschitz, so Gaussian concentration gives P(||Z|| >= E||Z|| + t) <= exp(-t^2/2),
    and E||Z|| <= sqrt(d): sqrt(d) + sqrt(2 log_inv_p). For d in the thousands the tail term is
    a few percent of sqrt(d); the bound is nearly what an honest site's noise norm is.
    """
    return math.sqrt(dimension) + math.sqrt(2 * log_inv_p)


def expected_batch_size(rows: int, batch_size: int) -> int:
    """The divisor of Opacus' DP-SGD step: int(n * sample_rate), sample_rate = 1 / steps per epoch
    (opacus PrivacyEngine.make_private, `expected_batch_size`), at least 1. The smaller of two
    roundings is taken: a divisor one lower only makes the bound larger."""
    per_epoch = steps_per_epoch(rows, batch_size)
    return max(1, min(int(rows * (1.0 / per_epoch)), rows // per_epoch))


def norm_bound(
    training: LocalTraining,
    rows: int,
    parameters: int,
    noise_multiplier: float,
    false_refusal: float = FALSE_REFUSAL,
) -> NormBound | None:
    """The largest ||w_T - w_0||_2 that DP-SGD as client/trainer.py runs it reaches, except with
    probability `false_refusal`; None without DP (no clipping, so no bound).

    One step (Opacus, Poisson sampling with rate q = 1 / k, k = ceil(n / batch_size) steps per
    epoch, T = epochs k steps) sets the gradient to g_s = (sum_{i in B_s} clip_C(grad_i) + z_s) / B
    with B = int(n q), |B_s| ~ Binomial(n, q), each clipped term of norm <= C and
    z_s ~ N(0, sigma^2 C^2 I_d) over the d trained coordinates. With momentum (`momentum_weights`):

        w_T - w_0 = -lr sum_s a_s (c_s + z_s / B),   ||c_s|| <= |B_s| C / B

    The noise part is one Gaussian, N(0, (lr sigma C / B)^2 sum a_s^2 I_d) - the a_s are fixed -
    whatever the data, so

        ||w_T - w_0|| <= lr C / B * [ S + sigma sqrt(sum a_s^2) (sqrt(d) + sqrt(2 ln(2 / p))) ]

    with S = sum a_s |B_s| <= `weighted_batch_tail`(p / 2). Each half fails with probability
    <= p / 2. FedProx's decoupled proximal step, w <- w - lr mu (w - w_0) after each step,
    multiplies the displacement by (1 - lr mu) <= 1, so it only shrinks both parts: the bound
    holds with and without it. Augmentation changes rows, not their number or the clipping.
    """
    if not training.private:
        return None
    sigma = min(max(noise_multiplier, 0.0), MAX_USEFUL_NOISE)
    per_epoch = steps_per_epoch(rows, min(training.batch_size, rows))
    steps = training.epochs * per_epoch
    batch = expected_batch_size(rows, min(training.batch_size, rows))
    weights = momentum_weights(steps, training.momentum)
    log_inv_p = math.log(2 / false_refusal)
    scale = training.lr * training.clip / batch
    signal = scale * weighted_batch_tail(weights, rows, 1.0 / per_epoch, log_inv_p)
    noise = (
        scale * sigma * math.sqrt(float(np.square(weights).sum())) * gaussian_norm_tail(parameters, log_inv_p)
    )
    return NormBound(signal=signal, noise=noise, steps=steps, expected_batch=batch)


@dataclass(frozen=True)
class Verdict:
    """What the screen decided about one reply: refused (with the reason the log keeps), or
    accepted, perhaps with its example count capped (`capped_from` is the claim) or lowered for
    reported noise above the run's plan (`noisier`)."""

    refusal: str | None = None
    capped_from: float | None = None
    norm: float | None = None
    bound: float | None = None
    #: Why the example count was lowered for reported noise above the run's plan (None: it was not).
    noisier: str | None = None


@dataclass
class UpdateScreen:
    """Screens the train replies of one run; see the module docstring for the checks and why.

    `declared`: each node's cohort sizes from its answer at the start of the run (`train`, real
    patients, caps the example count; `train` + `synthetic` rows set its steps). `frozen`:
    parameters no site trains (fine-tuning), which carry no DP noise.
    """

    training: LocalTraining
    declared: dict[int, dict[str, int]]
    frozen: frozenset[str] = frozenset()
    #: The run's privacy plan, for the weight of a reply that reports more noise than a fresh site
    #: plans (`genofed.server.noise_weighting`); None: weights as reported (capped) only.
    noise_plan: RunNoisePlan | None = None

    def screen(self, reply: Message, node: int, sent: SentModel) -> Verdict:
        """Check one reply against the arrays sent this round; caps its example count in place."""
        problem = _shape_problem(reply, sent) or _finite_problem(reply)
        if problem:
            return Verdict(refusal=problem)
        metrics = next(iter(reply.content.metric_records.values()))
        sizes = self.declared.get(node)
        if sizes is None or sizes.get("train", 0) < 1:
            return Verdict(
                refusal="update refused by the coordinator: this site declared no training-set size "
                "when the run started, so its weight and update cannot be checked"
            )
        claimed = _number(metrics.get("num-examples"))
        if claimed is None or claimed <= 0:
            return Verdict(
                refusal=f"update refused by the coordinator: num-examples {metrics.get('num-examples')!r} "
                "is not a positive number"
            )
        capped_from = None
        if claimed > sizes["train"]:
            metrics["num-examples"], capped_from = int(sizes["train"]), claimed
        return self._norm_verdict(reply, metrics, sizes, sent, capped_from)

    def _norm_verdict(
        self,
        reply: Message,
        metrics: MetricRecord,
        sizes: dict[str, int],
        sent: SentModel,
        capped_from: float | None,
    ) -> Verdict:
        sigma = _number(metrics.get("noise-multiplier", 0.0))
        if self.training.private and (sigma is None or sigma < 0):
            return Verdict(
                refusal=f"update refused by the coordinator: noise-multiplier "
                f"{metrics.get('noise-multiplier')!r} is not a number >= 0"
            )
        norm = update_norm(_arrays(reply), sent)
        rows = int(sizes["train"]) + int(sizes.get("synthetic", 0))
        bound = norm_bound(self.training, rows, self._trained_parameters(sent), sigma or 0.0)
        if bound is not None and norm > bound.total:
            return Verdict(
                refusal=_too_large(norm, bound, self.training, min(sigma or 0.0, MAX_USEFUL_NOISE)),
                capped_from=capped_from,
                norm=norm,
                bound=bound.total,
            )
        noisier = self._noise_weight(metrics, rows, sigma or 0.0)
        return Verdict(
            capped_from=capped_from, norm=norm, bound=None if bound is None else bound.total, noisier=noisier
        )

    def _noise_weight(self, metrics: MetricRecord, rows: int, sigma: float) -> str | None:
        """Lower the example count of a reply that reports more noise than the run's plan gives a
        fresh site (`noise_weighting`); returns the note the round log keeps, None when unchanged."""
        if self.noise_plan is None or not self.training.private:
            return None
        factor = self.noise_plan.weight_factor(rows, sigma)
        if factor >= 1.0:
            return None
        weight, fresh = float(metrics["num-examples"]), self.noise_plan.fresh_noise(rows)
        metrics["num-examples"] = weight * factor
        return (
            f"reported noise multiplier {sigma:.3g}, above {NOISE_SLACK:g} x the {fresh:.3g} a fresh site "
            f"plans for this run: weighted as {weight * factor:.3g} examples instead of {weight:g}"
        )

    def _trained_parameters(self, sent: SentModel) -> int:
        return max(1, sum(int(v.size) for k, v in sent.values.items() if k not in self.frozen))


def update_norm(arrays: ArrayRecord, sent: SentModel) -> float:
    """||w_site - w_sent||_2 over every array, in float64. Frozen arrays count too: an honest site
    returns them exactly as sent, so any change there is part of what it did to the model."""
    total = 0.0
    for key, before in sent.values.items():
        diff = arrays[key].numpy().astype(np.float64) - before
        total += float(np.dot(diff.ravel(), diff.ravel()))
    return math.sqrt(total)


@dataclass(frozen=True)
class SentModel:
    """The round's global model as float64 arrays, read once per round for every reply's checks."""

    values: dict[str, np.ndarray]

    @classmethod
    def of(cls, arrays: ArrayRecord) -> SentModel:
        return cls({key: arrays[key].numpy().astype(np.float64) for key in arrays.keys()})


def refusal(reply: Message, reason: str) -> Message:
    """The reply as an error reply with the same metadata, so Flower's strategy skips it and the
    round log names the site (it matches replies to sites by their metadata)."""
    return Message(metadata=copy.copy(reply.metadata), error=Error(code=SCREENED_OUT, reason=reason))


def _shape_problem(reply: Message, sent: SentModel) -> str | None:
    content = reply.content
    if len(content.array_records) != 1 or len(content.metric_records) != 1:
        return (
            "update refused by the coordinator: a train reply must hold one set of model arrays "
            "and one set of metrics"
        )
    arrays = _arrays(reply)
    if set(arrays.keys()) != set(sent.values):
        return "update refused by the coordinator: its arrays are not the parameters of the model sent"
    for key, before in sent.values.items():
        array = arrays[key]
        if tuple(array.shape) != before.shape or not _floating(array.dtype):
            return (
                f"update refused by the coordinator: {key} is {array.dtype} {tuple(array.shape)}, "
                f"the model has floating-point {before.shape}"
            )
    return None


def _floating(dtype: str) -> bool:
    """Any floating-point dtype: a site returns float32 whatever it was sent (FedAdam's server
    step sends float64), and the norm is taken in float64 anyway."""
    try:
        return bool(np.issubdtype(np.dtype(dtype), np.floating))
    except TypeError:
        return False


def _finite_problem(reply: Message) -> str | None:
    arrays = _arrays(reply)
    for key in arrays.keys():
        if not np.isfinite(arrays[key].numpy()).all():
            return f"non-finite update (NaN or inf in {key}): refused by the coordinator"
    return None


def _arrays(reply: Message) -> ArrayRecord:
    return next(iter(reply.content.array_records.values()))


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _too_large(norm: float, bound: NormBound, training: LocalTraining, sigma: float) -> str:
    return (
        f"update refused by the coordinator: its norm {norm:.4g} exceeds {bound.total:.4g}, "
        f"the most DP-SGD with the agreed settings produces (lr {training.lr:g}, clip {training.clip:g}, "
        f"{bound.steps} steps, expected batch {bound.expected_batch}, noise multiplier {sigma:.3g})"
    )

"""A round of distributed DP: this site's share of one noisy clipped gradient sum, at the global weights.

Under `privacy=distributed` (docs/distributed-dp.md) a site does not train locally. At the
coordinator's global weights it draws T Poisson batches at the federation's common rate q,
clips every patient's gradient to C, adds its share of the Gaussian noise, N(0, (sigma_share *
C)^2) with sigma_share = sigma / sqrt(m), to each batch's clipped sum, and returns

    w_i = w - lr * sum_t (clipped sum_t + noise_t) / (n_i * q * T)         (step "mean", the default)
    w_i = w - lr * k * sum_t (clipped sum_t + noise_t) / (n_i * q * T)     (step "sum")

where n_i is the site's declared training size, the weight SecAgg+'s FedAvg gives it. The
coordinator's weighted average is then w - lr / (N q T) * (the sum over all sites and batches),
one server step on the noisy clipped gradient sum of the pooled patients: every site's batches
enter it with the same weight, which is what makes the per-batch noise of the m sites add up
to sigma for every site (why q and T must be common to all sites: the same document). With the
"sum" step the server moves as far as the T local steps of a local-DP round would along the same
gradient: k = `momentum_travel(T, beta)`, T without momentum and about 5 T for the network's SGD
with momentum 0.9 at T = 16. The coordinator asks for it when the run starts from a model's
weights and for the network (genofed.server.training_rule.distributed_step). The step is a
public function of the noisy sum: it changes nothing in the privacy.

Nothing here depends on an earlier batch's result (all batches are drawn at the same public
weights), so the T batches are T non-adaptive subsampled Gaussian releases, as the ledger counts.
Batches, noise and augmentation come from generators seeded by the round's derived seed, so a
rerun of the round releases exactly the same weights (the ledger's idempotence); the batches and
the noise from a stream cipher keyed by the whole seed (`common.privacy.secret_noise`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see
# genofed.common.model.network).
import genofed.common.model.network  # noqa: F401
from genofed.client.coordinator_request import whole_number
from genofed.client.ghost_clipping import OneBackwardClipping
from genofed.client.trainer import Augment, TrainSettings
from genofed.common.errors import GenofedError
from genofed.common.privacy.distributed_bound import (
    ROWS_CEILING_FACTOR,
    ROWS_CEILING_SLACK,
    momentum_travel,
    reply_bound,
    rows_ceiling,
)
from genofed.common.privacy.opacus_noise import secret_poisson_loader, use_secret_noise
from genofed.common.privacy.secret_noise import SecretNoise
from genofed.common.privacy.snapping import snap_update
from opacus.optimizers import DPOptimizerFastGradientClipping
# isort: on

#: Train-config keys of a distributed round (sent by the coordinator, genofed.server.secagg).
PRIVACY_KEY = "privacy"
DISTRIBUTED = "distributed"
#: m: the fewest sites whose sum SecAgg+ reveals (its reconstruction threshold).
NOISE_SHARE_SITES = "noise-share-sites"
#: q: the Poisson sampling rate every site uses (1 / whole number), common to all sites.
NOISE_SHARE_RATE = "noise-share-rate"
#: A bound on m: SecAgg+'s masked sums stay exact for up to 1,023 sites (genofed.server.secagg).
MAX_NOISE_SHARE_SITES = 1023
#: A bound on 1 / q (batches per epoch): beyond it a round is absurdly long, not more private.
MAX_BATCHES_PER_EPOCH = 100_000
#: How far the server steps (module docstring): "mean" when the key is absent, or "sum".
STEP_KEY = "distributed-step"
STEPS = ("mean", "sum")


@dataclass(frozen=True)
class DistributedRequest:
    """What a distributed round asks of this site, checked: m, the common rate q, T batches, and
    the server's step ("mean" or "sum", module docstring)."""

    sites: int
    sample_rate: float
    batches: int
    step: str = "mean"


def distributed_request(
    config: Mapping[str, Any], training: TrainSettings, secagg_threshold: int | None
) -> DistributedRequest | None:
    """The distributed round the coordinator asks for; None for a local-DP round.

    `secagg_threshold`: the reconstruction threshold of the SecAgg+ round this training runs in,
    from the site's own protocol state (None outside a SecAgg+ round). A share of the noise is
    sent only under SecAgg+, and m may not exceed the threshold this site's own protocol
    enforces: otherwise the sum the coordinator unmasks could hold fewer than m shares.
    """
    mode = str(config.get(PRIVACY_KEY, "local"))
    if mode == "local":
        return None
    if mode != DISTRIBUTED:
        raise GenofedError(
            f"the coordinator asked for privacy {mode!r}; this site knows local and distributed"
        )
    if secagg_threshold is None:
        raise GenofedError(
            "the coordinator asked for distributed DP outside a secure-aggregation round: a share of "
            "the noise protects patients only when the coordinator sees nothing but the sum; refused"
        )
    sites = whole_number(config, NOISE_SHARE_SITES)
    if not 1 <= sites <= MAX_NOISE_SHARE_SITES:
        raise GenofedError(
            f"the coordinator says {sites} sites share the noise; it must be between 1 and "
            f"{MAX_NOISE_SHARE_SITES}; refused"
        )
    if sites > secagg_threshold:
        raise GenofedError(
            f"the coordinator says {sites} sites share the noise, but its secure aggregation reveals sums "
            f"of {secagg_threshold} sites: each would add too little noise; refused"
        )
    rate = config.get(NOISE_SHARE_RATE)
    try:
        per_epoch = round(1.0 / float(rate))  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        per_epoch = 0
    if not (1 <= per_epoch <= MAX_BATCHES_PER_EPOCH and math.isclose(per_epoch * float(rate), 1.0)):  # type: ignore[arg-type]
        raise GenofedError(
            f"the coordinator sent {NOISE_SHARE_RATE}={rate!r}; it must be 1 / a whole number between 1 "
            f"and {MAX_BATCHES_PER_EPOCH}; refused"
        )
    step = str(config.get(STEP_KEY, "mean"))
    if step not in STEPS:
        raise GenofedError(
            f"the coordinator sent {STEP_KEY}={step!r}; this site knows {' and '.join(STEPS)}; refused"
        )
    return DistributedRequest(sites, 1.0 / per_epoch, training.epochs * per_epoch, step)


#: The node config key by which a hospital opts in to distributed DP: its own cap on the epsilon
#: against the coordinator and all other sites colluding (genofed.client.site.SiteConfig).
COALITION_CAP_KEY = "max-coalition-epsilon"


def coalition_cap(max_coalition_epsilon: float | None, simulated: bool) -> float:
    """The cap a distributed round is planned under: the site's own `max-coalition-epsilon`.

    A deployed site takes part in distributed DP only when its own node config says so: a
    coordinator that runs SecAgg+ dishonestly (fabricated neighbours, a threshold of its choosing)
    can unmask this site's reply alone, and then only the coalition epsilon holds. Unset (None)
    on a deployed site: refused, before anything is computed or charged. A simulated site
    (the person running `genofed simulate` is every hospital) has no cap unless the run sets one."""
    if max_coalition_epsilon is not None:
        return float(max_coalition_epsilon)
    if simulated:
        return math.inf
    raise GenofedError(
        f"the coordinator asked for distributed DP, but this hospital has not opted in: its node config "
        f"sets no {COALITION_CAP_KEY}, its cap on the epsilon against the coordinator and all other sites "
        f"colluding (all that holds against a coordinator that lies about how many sites share the noise); "
        f"refused. To take part, the hospital sets it with `genofed hospital check DIR ... "
        f"--max-coalition-epsilon E` (a positive epsilon, or inf for no cap) and restarts its agent"
    )


@dataclass
class DistributedResult:
    """The reply's weights and what the round did (for the ledger and the site's log)."""

    state_dict: dict[str, Tensor]
    steps: int
    sample_rate: float
    mean_loss: float  # stays in the site's log


def refuse_rows_beyond_ceiling(rows: int, weight_rows: int) -> None:
    """Refuse (GenofedError) a distributed round at a site holding more training rows than its
    declared training size allows for (`rows_ceiling`): the reply's public bound would not hold.
    Called before the round is planned or charged; the words quote no count (the refusal goes to
    the coordinator), only the public rule, so the one bit it tells, the same every round, is
    whether the data are more than twice the size the hospital declared."""
    if rows > rows_ceiling(weight_rows):
        raise GenofedError(
            "this hospital holds more training patients than a distributed round allows for its declared "
            f"cohort size (at most {ROWS_CEILING_FACTOR} x the declared training size + "
            f"{ROWS_CEILING_SLACK}): "
            "declare a size closer to its real count (`genofed hospital check --declared-size`), or train "
            "with per-site DP (privacy local); nothing was computed or charged"
        )


def round_reply_bound(
    model: nn.Module,
    settings: TrainSettings,
    request: DistributedRequest,
    noise_share: float,
    weight_rows: int,
) -> float:
    """The largest |weight| this distributed round's reply can hold but with probability below
    1e-15 (`common.privacy.distributed_bound.reply_bound`), from public values only: the global
    weights `model` holds, the run's lr and clip, the round's rate, batches and step, the site's
    noise share and its declared training size. SecAgg+'s clipping range must hold it
    (`client.train_handler`, before the round is computed or charged)."""
    travel = 1.0 if request.step == "mean" else momentum_travel(request.batches, _momentum(settings))
    return reply_bound(
        start=max((float(t.abs().max()) for t in model.state_dict().values() if t.numel()), default=0.0),
        lr=settings.lr,
        clip=settings.max_grad_norm,
        noise_share=noise_share,
        weight_rows=weight_rows,
        sample_rate=request.sample_rate,
        steps=request.batches,
        travel=travel,
    )


def noisy_gradient_round(
    model: nn.Module,
    features: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    *,
    request: DistributedRequest,
    noise_share: float,
    seed: int,
    weight_rows: int,
    augment: Augment | None = None,
) -> DistributedResult:
    """This site's reply in a distributed round (module docstring): `model` holds the global
    weights and is left unchanged; `weight_rows` is n_i, the declared training size the reply
    is weighted by in SecAgg+'s FedAvg; `noise_share` is sigma_share; settings.lr and
    settings.max_grad_norm (C) are the run's. Parameters that do not require gradients (frozen
    by the fine-tuning mode) are returned as they came."""
    x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float32).reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    refuse_rows_beyond_ceiling(int(x.shape[0]), weight_rows)  # the caller refused first; a guard
    # (the first two words seeded the sampling's and the noise's torch generators before
    # common.privacy.secret_noise, which draws both from the whole seed)
    _, _, augment_seed, torch_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(4))
    dataset = TensorDataset(x, y, torch.arange(int(x.shape[0])))
    loader = secret_poisson_loader(
        dataset, sample_rate=request.sample_rate, noise=SecretNoise(seed, "poisson sampling")
    )
    rng = np.random.default_rng(augment_seed)
    with torch.random.fork_rng(devices=[]):  # anything else random in the model (dropout), seeded too
        torch.manual_seed(torch_seed)
        sums, loss, steps = _noisy_sums(
            model,
            loader,
            settings,
            request.batches,
            noise_share,
            SecretNoise(seed, "dp-sgd noise"),
            augment,
            rng,
        )
    if steps != request.batches:  # the Poisson loader draws 1 / q batches per pass
        raise RuntimeError(f"drew {steps} batches, the round's privacy was planned for {request.batches}")
    # how many mean-gradient lengths the server steps: one, or as far as T local steps would go
    travel = 1.0 if request.step == "mean" else momentum_travel(steps, _momentum(settings))
    # steps / travel first: exactly T ("mean") or 1 ("sum" without momentum), as the divisor had
    divisor = float(weight_rows) * request.sample_rate * (steps / travel)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    updated = dict(start)
    with torch.no_grad():
        for name, total in sums.items():
            updated[name] = (start[name].double() - settings.lr * total / divisor).to(start[name].dtype)
    # the share's float bits below its noise's grid rounded away (common.privacy.snapping): one
    # batch's share in one weight, lr sigma_share C / divisor, bounds the noise from below
    share_sd = settings.lr * noise_share * settings.max_grad_norm / divisor
    if share_sd > 0:
        updated = snap_update(start, updated, share_sd)
    return DistributedResult(updated, steps, request.sample_rate, loss)


def _momentum(settings: TrainSettings) -> float:
    """The momentum of the run's local optimizer: SGD's, none for Adam."""
    return settings.momentum if settings.optimizer == "sgd" else 0.0


def _noisy_sums(
    model: nn.Module,
    loader: DataLoader,
    settings: TrainSettings,
    batches: int,
    noise_share: float,
    noise: SecretNoise,
    augment: Augment | None,
    rng: np.random.Generator,
) -> tuple[dict[str, Tensor], float, int]:
    """sum over the round's batches of (clipped per-example gradient sum + N(0, (noise_share *
    C)^2)), by trainable parameter name, in float64; the mean loss; the number of batches.

    The clipped sum comes from one backward pass in closed form (`OneBackwardClipping`, as the
    trainer clips); Opacus' ghost-clipping optimizer adds the noise (`pre_step`, with loss
    reduction "sum": no division) and is never stepped: every batch sees the same global weights.
    """
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        raise ValueError("the model has no trainable parameters")
    names = {id(p): name for name, p in trainable.items()}
    clipping = OneBackwardClipping(model, settings.max_grad_norm)
    optimizer = use_secret_noise(
        DPOptimizerFastGradientClipping(
            torch.optim.SGD(list(trainable.values()), lr=0.0),
            noise_multiplier=noise_share,
            max_grad_norm=settings.max_grad_norm,
            expected_batch_size=None,
            loss_reduction="sum",
        ),
        noise,
    )
    sums = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in trainable.items()}
    total, seen, steps = 0.0, 0, 0
    was_training = model.training
    model.train()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG turned off.*")
            for _ in range(batches // len(loader)):
                for xb, yb, index in loader:
                    if augment is not None and len(index):
                        rows = augment(index.numpy(), rng)
                        xb = torch.as_tensor(np.ascontiguousarray(rows), dtype=xb.dtype).reshape(xb.shape)
                    optimizer.zero_grad(set_to_none=True)
                    loss = clipping(model(xb), yb)
                    if len(yb):  # an empty batch's clipped sum is zero: it still releases its noise
                        total, seen = total + float(loss.detach()) * len(yb), seen + len(yb)
                    loss.backward()
                    optimizer.pre_step()  # p.grad = clipped sum + noise
                    for p in optimizer.params:
                        sums[names[id(p)]] += p.grad.detach().double()
                    steps += 1
    finally:
        optimizer.zero_grad(set_to_none=True)
        clipping.remove()  # give the caller back a plain module
        model.train(was_training)
    return sums, (total / seen if seen else float("nan")), steps

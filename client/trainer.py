"""Local training at one hospital: plain, or DP-SGD with Opacus, optionally with FedProx.

One call = one round's local training. Everything random (batch order or Poisson sampling,
DP noise) comes from generators seeded by `seed`, so a round re-run with the same seed releases
exactly the same weights; under DP the Poisson sampling and the noise come from a stream cipher
keyed by the whole seed (`common.privacy.secret_noise`: torch's generator keeps 32 bits of it,
few enough to find the noise by trial): that is what makes the privacy ledger's per-round idempotence sound
(see `genofed.common.privacy.ledger.PrivacyLedger`).

Public row count (`train_model(public_rows=...)`, DP only): the Poisson sampling rate, the
number of steps and Opacus' divisor of the noisy gradient sum are computed from the number of
training rows the site has declared public rather than from the actual number of rows, so that
none of them changes when one patient is added or removed: the add/remove-one DP guarantee that
the RDP accountant computes assumes exactly that.

FedProx (settings.proximal_mu > 0, `anchor` = the global weights) is applied as a decoupled
step after every optimizer step, w <- w - lr * mu * (w - anchor), rather than as a loss
term. Under DP the two are not the same: Opacus builds the update only from per-example
gradients captured at layer hooks, so a loss term that does not depend on the data would
simply be lost (or, if it were, clipped and noised for nothing). The decoupled step uses no
data, so it has no privacy cost.

Per-example clipping uses Opacus' ghost clipping with the closed forms of
`genofed.client.ghost_clipping`: each example's gradient norm, and the clipped sum, from each
layer's input and the gradient at its output, in one backward pass (Opacus' own ghost clipping
takes two). The update is the one Opacus' per-example-gradient path computes (same clip to L2 norm
max_grad_norm, same noise from the same stream, same accounting;
tests/unit/client/test_ghost_clipping.py), at a lower cost per step (docs/benchmarks.md, "The DP
step", measures all three). The process's C allocator keeps the memory the steps free
(`common.util.allocator`), so a step does not fault it in again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see model.py).
import genofed.common.model.network  # noqa: F401  (also registers BlockLinear's grad sampler)
from genofed.client.ghost_clipping import GRAD_SAMPLE_MODE, clipped_loss  # also registers the norm samplers
from genofed.common.privacy.accountant import Step, sample_rate, steps_per_epoch  # noqa: F401 - re-exported
from genofed.common.util.allocator import keep_freed_memory
from genofed.common.util.checks import require_at_least, require_choice, require_in_range, require_positive
from genofed.common.privacy.opacus_noise import private_dp_sgd
from genofed.common.privacy.snapping import snap_update, update_noise_sd
from opacus import PrivacyEngine
# isort: on


#: `TrainSettings.optimizer` values.
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainSettings:
    """Local-training hyper-parameters. The federation's own defaults live in
    `genofed.server.settings.RunSettings`, which sends them to every site each round.

    - optimizer="sgd" (momentum 0.9): under DP Adam was clearly worse (pooled, epsilon 8: 0.74 at
      best, 0.60 at lr 0.03, against 0.77 for SGD): Adam rescales every coordinate to a unit
      step, so the thousands of coordinates whose DP gradient is pure noise random-walk at full
      speed. Without privacy the two were equal.
    - max_grad_norm=1.0: the per-example clip under DP; lr is tuned relative to it.
    """

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.03
    max_grad_norm: float = 1.0
    proximal_mu: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"  # "sgd" (with `momentum`) or "adam"
    momentum: float = 0.9  # SGD only; the network's measured default, the logistic rule's is 0

    def __post_init__(self) -> None:
        require_at_least("epochs", self.epochs, 1)
        require_at_least("batch-size", self.batch_size, 1)
        require_at_least("lr", self.lr, 0)
        require_positive("max-grad-norm", self.max_grad_norm)
        require_at_least("proximal-mu", self.proximal_mu, 0)
        require_at_least("weight-decay", self.weight_decay, 0)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_in_range("momentum", self.momentum, 0, 1, high_open=True)


@dataclass
class TrainResult:
    state_dict: dict[str, Tensor]
    mean_loss: float
    steps: int
    sample_rate: float
    history: list[Step] = field(default_factory=list)  # empty if non-private
    examples: int = 0


def train_model(
    model: nn.Module,
    features: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    *,
    noise_multiplier: float | None,
    seed: int,
    anchor: dict[str, Tensor] | None = None,
    augment: Augment | None = None,
    public_rows: int | None = None,
) -> TrainResult:
    """Train `model` in place on one site's data and return its weights and privacy history.

    noise_multiplier None: plain training with shuffled mini-batches; else DP-SGD via Opacus
    (Poisson sampling, per-example clipping at settings.max_grad_norm, Gaussian noise, RDP
    accounting); `history` is what the site must add to its ledger. `public_rows` (DP only): the
    training rows the site declared public, from which the sampling rate, steps and noise divisor
    follow (module docstring, "Public row count"); None: the actual count. `anchor`: the global
    weights, FedProx's anchor when settings.proximal_mu > 0 (module docstring, "FedProx").
    `augment`: genotype augmentation of each drawn batch, `augment(indices, rng)` -> float32 rows
    for those record indices (`_Batches`: why the epsilon is unchanged).
    """
    keep_freed_memory()  # the steps reuse their memory instead of faulting it in again
    x, y = _as_tensors(features, labels)
    n = int(x.shape[0])
    batch_size = min(settings.batch_size, n)
    # (the middle word seeded the DP noise's torch generator before common.privacy.secret_noise)
    sample_seed, _, torch_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
    loader = _shuffled_loader(x, y, batch_size, sample_seed, with_index=augment is not None)
    batches = _Batches(augment, np.random.default_rng([seed % 2**63, 6]))
    optimizer = _optimizer(model, settings)
    anchor_params = _anchor(model, anchor, settings.proximal_mu)
    with _seeded_quietly(torch_seed):
        if noise_multiplier is None:
            loss, steps = _run(
                model, optimizer, nn.BCEWithLogitsLoss(), loader, settings, anchor_params, batches
            )
            return TrainResult(_state_dict(model), loss, steps, batch_size / n, [], n)
        rows = n if public_rows is None else int(public_rows)
        return _train_private(
            model,
            optimizer,
            loader,
            settings,
            anchor_params,
            float(noise_multiplier),
            seed,
            rows,
            batches,
        )


def _as_tensors(features: np.ndarray, labels: np.ndarray) -> tuple[Tensor, Tensor]:
    """float32 feature rows and a flat float32 label vector; refused when their counts differ."""
    x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float32).reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    return x, y


def _shuffled_loader(x: Tensor, y: Tensor, batch_size: int, seed: int, *, with_index: bool) -> DataLoader:
    """Shuffled mini-batches of (features, labels), and of the records' indices `with_index`
    (augmentation needs to know which records were drawn)."""
    tensors = (x, y, torch.arange(int(x.shape[0]))) if with_index else (x, y)
    return DataLoader(
        TensorDataset(*tensors),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


@contextmanager
def _seeded_quietly(torch_seed: int) -> Iterator[None]:
    """Torch's global generator seeded for the block (and restored after it), and Opacus'
    warnings about its secure RNG, full backward hooks and alpha orders silenced."""
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(torch_seed)
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the (largest|smallest) alpha.*")
        yield


def _train_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    settings: TrainSettings,
    anchor_params: list[tuple[nn.Parameter, Tensor]],
    noise_multiplier: float,
    seed: int,
    rows: int,
    batches: _Batches,
) -> TrainResult:
    """Fresh PrivacyEngine per call: the cumulative history lives in the site's ledger, not here.

    The Poisson loader is built with the rate of `rows` (the public row count), not left to
    Opacus, which would take 1 / len(loader) from the actual dataset; Opacus then reads the same
    rate back from it (1 / len), and its gradient divisor is set from `rows` as well
    (`opacus_noise.private_dp_sgd`, as the generators train).
    The loss to train with is `clipped_loss`'s: the mean BCE whose backward() leaves the clipped
    gradient sum for Opacus' optimizer (module docstring).
    """
    start = _state_dict(model)
    engine = PrivacyEngine(accountant="rdp")
    private_model, private_optimizer, private_loss, private_loader = private_dp_sgd(
        engine,
        model,
        optimizer,
        loader.dataset,
        rows=rows,
        batch_size=settings.batch_size,
        noise_multiplier=noise_multiplier,
        max_grad_norm=settings.max_grad_norm,
        noise_key=seed,
        criterion=nn.BCEWithLogitsLoss(),
        grad_sample_mode=GRAD_SAMPLE_MODE,
    )
    # on exit, the caller gets back a plain module: no hook of Opacus' or ours is left on it
    with clipped_loss(private_model, private_loss, settings.max_grad_norm) as loss_fn:
        loss, steps = _run(
            private_model, private_optimizer, loss_fn, private_loader, settings, anchor_params, batches
        )
    history = [(float(s), float(q), int(k)) for s, q, k in engine.accountant.history]
    # the release, its float bits below the noise's grid rounded away (common.privacy.snapping)
    noise_sd = update_noise_sd(
        lr=settings.lr,
        noise_multiplier=noise_multiplier,
        max_grad_norm=settings.max_grad_norm,
        batch=private_optimizer.expected_batch_size,
        optimizer=settings.optimizer,
    )
    trained = _state_dict(private_model._module)
    return TrainResult(
        snap_update(start, trained, noise_sd) if noise_sd > 0 else trained,
        loss,
        steps,
        history[0][1] if history else sample_rate(rows, settings.batch_size),
        history,
        len(loader.dataset),
    )


def _run(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    loader: DataLoader,
    settings: TrainSettings,
    anchor_params: list[tuple[nn.Parameter, Tensor]],
    batches: _Batches,
) -> tuple[float, int]:
    """The epoch loop shared by both paths; returns (mean loss per example, optimizer steps).
    `loss_fn`: the mean BCE, or under DP its clipping wrapper (`_train_private`).

    An empty Poisson batch still takes an optimizer step: under DP that step releases pure
    noise, and the accountant counts it; skipping it would make the run depend on the sampling
    in a way the privacy analysis does not cover. (Its loss is a mean over nothing, NaN, so it
    is not counted; its per-example norms and gradients are empty and zero.)
    """
    model.train()
    total, seen, steps = 0.0, 0, 0
    for _ in range(settings.epochs):
        for batch in loader:
            xb, yb = batches.features(batch)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            if len(yb):
                total += float(loss.detach()) * len(yb)
                seen += len(yb)
            loss.backward()
            optimizer.step()
            _proximal_step(anchor_params, settings.lr * settings.proximal_mu)
            steps += 1
    return (total / seen if seen else float("nan")), steps


#: `augment(record indices, rng)` -> float32 feature rows of augmented versions of those records.
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class _Batches:
    """Turns a drawn batch into model input: as drawn, or augmented per record.

    `augment` (genotype augmentation) replaces every drawn batch's feature rows by augmented
    versions of the same records, on the fly: `augment(indices, rng)` -> float32 rows for those
    record indices. Each record drawn still yields exactly one example, so the dataset size,
    Poisson sampling rate, step count and per-example clipping, and therefore the accountant's
    epsilon, are exactly those of the same run without augmentation. (Appending augmented copies
    as extra records instead would let one patient contribute several clipped gradients per step
    and break the per-patient guarantee.) The augmentation draws come from their own generator
    (`rng`) seeded by `train_model`'s `seed`, so a rerun is identical.
    """

    augment: Augment | None
    rng: np.random.Generator

    def features(self, batch: list[Tensor]) -> tuple[Tensor, Tensor]:
        if self.augment is None:
            return batch[0], batch[1]
        xb, yb, index = batch
        if not len(index):
            return xb, yb  # an empty Poisson batch: nothing to augment
        rows = self.augment(index.numpy(), self.rng)
        return torch.as_tensor(np.ascontiguousarray(rows), dtype=xb.dtype).reshape(xb.shape), yb


def _optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """Over the trainable parameters only: a frozen one (fine-tuning, `set_trainable`) must not
    even be in the optimizer, where weight decay or momentum could still move it, and where
    Opacus would add DP noise to it."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if require_choice("optimizer", settings.optimizer, OPTIMIZERS) == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(
        params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )


def _anchor(
    model: nn.Module, anchor: dict[str, Tensor] | None, mu: float
) -> list[tuple[nn.Parameter, Tensor]]:
    """(parameter, anchor value) pairs for FedProx over the trainable parameters; empty when
    mu == 0 or there is no anchor."""
    if not mu or anchor is None:
        return []
    trained = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name, _ in trained if name not in anchor]
    if missing:
        raise ValueError(f"FedProx anchor lacks parameter(s): {', '.join(missing[:5])}")
    return [(p, anchor[name].detach().to(p.dtype).clone()) for name, p in trained]


@torch.no_grad()
def _proximal_step(anchor_params: list[tuple[nn.Parameter, Tensor]], rate: float) -> None:
    """w <- w - rate * (w - anchor); rate = lr * mu is capped at 1 (full pull to the anchor)."""
    rate = min(rate, 1.0)
    for param, target in anchor_params:
        param.sub_(rate * (param - target))


def _state_dict(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}

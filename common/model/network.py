"""The shared genotype -> disease-risk network, shaped so that DP-SGD stays cheap and useful.

Design (in the spirit of GenNet, interpretable genetics networks):

- `BlockLinear`: a locally-connected first layer. Contiguous blocks of `block_size` panel
  variants (panel order is genomic order, so a block approximates an LD block or a gene) each
  map to `hidden_per_block` units through their own small weight matrix. Weights are
  (n_blocks, block_size, hidden_per_block), applied by a broadcast multiply and a sum per block,
  never as a dense V x H matrix: a dense first layer has V x H parameters, and DP-SGD
  materialises a copy of every parameter per example (FIELD-NOTES: a dense 10,000 -> 256 layer
  is ~60x slower under Opacus). Here the per-example gradient is only V x hidden_per_block
  floats, and under ghost clipping (client/ghost_clipping.py) its per-example gradient norm has a
  closed form (bench/dp_step.py and docs/benchmarks.md compare it with a dense first layer).
- a tanh on the block units (GenNet's choice; bounded, so clipped DP updates cannot blow up a
  unit the way an unbounded ReLU can die or explode), then a small dense head over
  [block units, covariates] -> `hidden` -> 1 logit.
- `linear_path`: a direct linear term w.x over [variants, covariates] added to the logit. A
  liability-threshold disease is close to additive in the dosages, so this term carries most of
  the signal; the block path adds local non-additivity. It is zero-initialised so training
  starts from "no genetic effect" rather than from random noise that DP must first undo.
  Measured: it HURTS under DP and does not help without it, so it is off by default (see
  `ModelConfig`).

No BatchNorm anywhere: per-sample gradients (Opacus) are undefined for it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genofed.common.model.logistic import LogisticRiskModel, PanelSelection
from genofed.common.util.checks import require, require_at_least, require_choice


def _import_opacus_quietly() -> None:
    """Import opacus, undoing the logging.basicConfig() it calls at import time.

    That call gives every program a root stderr handler it never asked for (duplicated log lines
    next to the application's own handlers). Only a handler Opacus added is removed.
    """
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    import opacus  # noqa: F401

    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
    root.setLevel(level)


_import_opacus_quietly()
from opacus.accountants import RDPAccountant  # noqa: E402,F401  (re-exported for privacy.accountant)
from opacus.grad_sample import register_grad_sampler  # noqa: E402

#: `ModelConfig.architecture` values: the GenNet-style network, or one linear score
#: (`genofed.common.model.logistic`).
ARCHITECTURES = ("network", "logistic")
#: What a federation trains unless told otherwise (the privacy-frontier winner, docs/models.md);
#: mirrored by genofed.server.settings.DEFAULT_MODEL, which loads without torch.
DEFAULT_ARCHITECTURE = "logistic"


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the shared model; sent to every site so all build the same one.

    `architecture`: "network" (`GenotypeRiskNet`, shaped by the fields below) or "logistic"
    (`LogisticRiskModel`: one weight per variant plus covariates; the network-only fields are
    ignored). `selected`: the panel indices (ascending) the model reads, e.g. a public prior's
    top-k variants or clinicians' disease genes; empty = the whole panel. Either model takes the
    whole panel as input (`n_variants` is still the panel's size) and picks its columns itself.
    Both are left out of `to_dict` at their defaults, so a network's config, and so its digest
    that hospitals pin, is what it was before either existed.

    For the network:

    Defaults were chosen by measurement on the simulated default federation (seed 1, 20,647
    variants, 1,210 pooled training patients, 600 test patients; pooled test AUC; these sweeps
    used z-scored dosages, before features.py switched to mean-centred ones):

    - block_size=20, hidden_per_block=1: each block is a learned 20-variant "burden score", so
      the network is a sparse, low-dimensional summary of the genome; per-example gradients are
      only ~V floats (the DP step's cost against a plain one: bench/dp_step.py,
      docs/benchmarks.md). At epsilon 8, blocks of 50 x 2 units gave
      0.78 against 0.77 and 0.81 for 20 x 1 with two seeds: within seed noise, so the smaller
      one stays.
    - linear_path=False: a direct V-dimensional linear term gives DP noise 20,000 more
      coordinates to spread over; at epsilon 8 it cost 0.12-0.15 AUC (Adam 0.74 -> 0.62, SGD
      0.68 -> 0.61) and did not help without privacy (0.78 without it, 0.76 with it).
    - hidden=16: a small head. A head of 2 or 4 units did not change federated AUC at epsilon 8
      (0.66-0.67, the per-variant weights dominate the noise).
    """

    n_variants: int
    n_covariates: int = 2
    block_size: int = 20
    hidden_per_block: int = 1
    hidden: int = 16
    linear_path: bool = False
    #: 1 for the disease (one logit); more for a multi-class pretraining task such as ancestry,
    #: whose output layer is replaced before fine-tuning on the disease.
    n_outputs: int = 1
    architecture: str = "network"
    selected: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("n_variants", "block_size", "hidden_per_block", "hidden", "n_outputs"):
            value = getattr(self, name)
            require_at_least(name, int(value), 1, message=f"ModelConfig.{name} must be >= 1, got {value}")
        require_at_least(
            "n_covariates",
            self.n_covariates,
            0,
            message=f"ModelConfig.n_covariates must be >= 0, got {self.n_covariates}",
        )
        require_choice("model", self.architecture, ARCHITECTURES)
        object.__setattr__(self, "selected", tuple(int(i) for i in self.selected))
        require(
            all(0 <= a < b for a, b in zip(self.selected, self.selected[1:], strict=False))
            and all(0 <= i < self.n_variants for i in self.selected[-1:]),
            f"ModelConfig.selected must be ascending, distinct panel indices below {self.n_variants}",
        )

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_inputs / self.block_size)

    @property
    def n_inputs(self) -> int:
        """How many variants the model reads: the selection's size, else the whole panel."""
        return len(self.selected) or self.n_variants

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.architecture == "network":
            del data["architecture"]
        if self.selected:
            data["selected"] = list(self.selected)
        else:
            del data["selected"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict (e.g. a Flower ConfigRecord); unknown keys are an error, not ignored,
        so that a server and a client on different versions fail loudly instead of silently
        building different networks."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s): {', '.join(unknown)}")
        types = {"linear_path": bool, "architecture": str, "selected": tuple}
        return cls(**{k: types.get(k, int)(v) for k, v in data.items()})


class BlockLinear(nn.Module):
    """Locally-connected layer: block b of `block_size` inputs -> `hidden_per_block` outputs.

    Input (B, V) is zero-padded to n_blocks * block_size (zero inputs contribute nothing and get
    zero gradient), viewed as (B, n_blocks, block_size) and multiplied block-wise. Output is
    (B, n_blocks * hidden_per_block).
    """

    def __init__(self, in_features: int, block_size: int, hidden_per_block: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.block_size = block_size
        self.hidden_per_block = hidden_per_block
        self.n_blocks = math.ceil(in_features / block_size)
        self.weight = nn.Parameter(torch.empty(self.n_blocks, block_size, hidden_per_block))
        self.bias = nn.Parameter(torch.empty(self.n_blocks, hidden_per_block))
        self.reset_parameters()

    @property
    def out_features(self) -> int:
        return self.n_blocks * self.hidden_per_block

    def reset_parameters(self) -> None:
        """Kaiming-uniform per block, like nn.Linear with fan_in = block_size."""
        bound = 1.0 / math.sqrt(self.block_size)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def blocks(self, x: Tensor) -> Tensor:
        """(B, V) -> (B, n_blocks, block_size), zero-padding the last block."""
        pad = self.n_blocks * self.block_size - self.in_features
        if pad:
            x = F.pad(x, (0, pad))
        return x.reshape(x.shape[0], self.n_blocks, self.block_size)

    def forward(self, x: Tensor) -> Tensor:
        # Broadcast multiply and sum over each block: ~5x faster on CPU than einsum/bmm, which
        # run a thousand tiny (batch x 20) @ (20 x 1) products (measured at 20,000 variants).
        out = (self.blocks(x).unsqueeze(-1) * self.weight).sum(2) + self.bias
        return out.reshape(x.shape[0], self.out_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, block_size={self.block_size}, "
            f"hidden_per_block={self.hidden_per_block}, n_blocks={self.n_blocks}"
        )


@register_grad_sampler(BlockLinear)
def block_linear_grad_sample(
    layer: BlockLinear, activations: list[Tensor], backprops: Tensor
) -> dict[nn.Parameter, Tensor]:
    """Per-example gradients of BlockLinear for Opacus: an outer product per block.

    Without this Opacus falls back to functorch (vmap over the whole layer), which works but is
    slower and allocates more; the einsum is exact and costs about as much as the forward pass.
    Opacus has already rescaled `backprops` for the loss reduction.
    """
    x = layer.blocks(activations[0].to(backprops.dtype))
    g = backprops.reshape(x.shape[0], layer.n_blocks, layer.hidden_per_block)
    out: dict[nn.Parameter, Tensor] = {}
    if layer.weight.requires_grad:
        # a broadcast outer product: faster than einsum here, which routes through 1,000s of
        # tiny batched matmuls when hidden_per_block is 1
        out[layer.weight] = x.unsqueeze(3) * g.unsqueeze(2)
    if layer.bias.requires_grad:
        out[layer.bias] = g
    return out


class GenotypeRiskNet(nn.Module):
    """(B, V + C) encoded dosages then covariates -> (B,) disease logits ((B, K) when n_outputs = K > 1).

    Layers, by the names fine-tuning refers to: `blocks` (the genotype encoder), `head.0` (the
    hidden layer: together with `blocks` it maps a genome to a `hidden`-dimensional
    representation) and `head.2` (the output layer).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.select = PanelSelection(config.n_variants, config.n_covariates, config.selected)
        self.blocks = BlockLinear(config.n_inputs, config.block_size, config.hidden_per_block)
        self.head = nn.Sequential(
            nn.Linear(self.blocks.out_features + config.n_covariates, config.hidden),
            nn.Tanh(),
            nn.Linear(config.hidden, config.n_outputs),
        )
        self.linear = (
            nn.Linear(config.n_inputs + config.n_covariates, config.n_outputs, bias=False)
            if config.linear_path
            else None
        )
        if self.linear is not None:
            nn.init.zeros_(self.linear.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.select(x)
        n_inputs = self.config.n_inputs
        variants, covariates = x[:, :n_inputs], x[:, n_inputs:]
        hidden = torch.tanh(self.blocks(variants))
        logit = self.head(torch.cat([hidden, covariates], dim=1))
        if self.linear is not None:
            logit = logit + self.linear(x)
        return logit.squeeze(1) if self.config.n_outputs == 1 else logit


#: What a site trains when it fine-tunes a (pretrained) global model; see `set_trainable`.
FINETUNE_MODES = ("full", "partial", "frozen")

#: Parameter-name prefixes each mode trains; everything else keeps the global weights.
_TRAINED_PREFIXES: dict[str, tuple[str, ...]] = {
    "full": ("",),
    "partial": ("head.",),  # the last layers: hidden + output; the genotype encoder is frozen
    "frozen": ("head.2.",),  # frozen encoder and representation, a private output layer
}


def trainable_names(model: nn.Module, mode: str) -> list[str]:
    """Names of the parameters `mode` trains (in `named_parameters` order). A linear model has one
    layer: every mode trains it all."""
    if mode not in _TRAINED_PREFIXES:
        raise ValueError(f"unknown fine-tuning mode {mode!r}: use one of {', '.join(FINETUNE_MODES)}")
    if isinstance(model, LogisticRiskModel):
        return [name for name, _ in model.named_parameters()]
    prefixes = _TRAINED_PREFIXES[mode]
    return [name for name, _ in model.named_parameters() if name.startswith(prefixes)]


def set_trainable(model: nn.Module, mode: str) -> int:
    """Freeze every parameter `mode` does not train; return how many scalars stay trainable.

    Why it matters under DP: DP-SGD adds noise of the same scale to every trained coordinate, so
    the fewer coordinates a site trains privately, the more of its signal survives the noise.
    Frozen parameters get no gradient, so Opacus neither clips nor noises them and the optimizer
    never sees them: they leave the site exactly as they came.
    """
    trained = set(trainable_names(model, mode))
    count = 0
    for name, param in model.named_parameters():
        param.requires_grad_(name in trained)
        count += param.numel() if name in trained else 0
    return count


def build_model(config: ModelConfig, seed: int) -> GenotypeRiskNet | LogisticRiskModel:
    """A freshly initialised model of `config.architecture`; the same (config, seed) gives the same
    weights everywhere (a linear model starts at zero whatever the seed).

    The global RNG is forked so building a model does not disturb the caller's random stream.
    """
    if config.architecture == "logistic":
        return LogisticRiskModel(config.n_variants, config.n_covariates, config.n_outputs, config.selected)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GenotypeRiskNet(config)


@torch.no_grad()
def predict_proba(model: nn.Module, features: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Predicted disease probabilities (float64) in evaluation mode, in batches."""
    model.eval()
    x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    out = [torch.sigmoid(model(x[i : i + batch_size])) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)

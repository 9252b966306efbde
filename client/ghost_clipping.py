"""Per-example clipping of both shared models in closed form: the norms, and the clipped sum in one
backward pass.

DP-SGD clips every example's gradient to L2 norm C before summing. Opacus' default ("hooks")
materialises each example's full gradient (batch x parameters floats: 64 x 20,000 for either
model at the default panel), takes its norm, rescales and sums. Ghost clipping
(`make_private(grad_sample_mode="ghost")`, Opacus' own) needs only each example's gradient
NORM, which for these layers has a closed form from the layer's input and the gradient at its
output, then runs a second backward pass of the clip-weighted loss sum(c_i * loss_i), whose
gradient is exactly sum_i c_i * g_i, the clipped sum. Same clip (c_i = min(1, C / (|g_i| + 1e-6)),
the factor hooks mode uses), same noise, same accounting; only how |g_i| is computed changes.

Closed forms (x_i the layer input of example i, d_i the gradient of its loss at the layer output):

- nn.Linear, 2-D input: the weight's per-example gradient is the outer product d_i x_i^T, whose
  Frobenius norm is |d_i| |x_i|; the bias' is d_i. Opacus registers exactly this, computed with
  `einsum("n...i,n...i->n")`, several times slower on CPU than `linalg.vector_norm` for a
  64 x 20,000 input (docs/benchmarks.md, "The DP step", times both): that difference alone
  is most of the logistic model's DP overhead. `linear_norm_sample` below is the same formula
  through vector norms; any other input shape goes to Opacus' own function unchanged.
- `BlockLinear` (the network's first layer, common/model/network.py): block b's per-example
  weight gradient is the outer product x_ib d_ib^T (block_size x hidden_per_block), so the
  squared norm over all blocks is sum_b |x_ib|^2 |d_ib|^2; the bias' is sum_b |d_ib|^2.

Importing this module registers both with Opacus (its public `register_norm_sampler`);
`genofed.client.trainer` imports it.

One backward pass instead of two (`OneBackwardClipping`, the "book-keeping" form of ghost
clipping: Bu, Wang, Zha and Karypis, "Differentially private optimization on large model at
small cost", ICML 2023). The same closed forms give the clipped SUM too: the weight gradient
of a Linear layer summed with clip factors is sum_i c_i d_i x_i^T = (c * D)^T X, one matrix
product of what the norms already needed (BlockLinear: the same per block). So one backward pass
that computes only the gradients at the layers' outputs (`torch.autograd.grad`, which leaves out
every weight gradient), then the norms, the clip factors and the clipped sums from the layers'
inputs and those gradients, replaces Opacus' two full passes: the second pass and the first
pass's weight gradients, which Opacus computes and then throws away, are not taken. The result
is put in each parameter's `.grad`, where Opacus' ghost-clipping optimizer
(`DPOptimizerFastGradientClipping`) expects the clipped sum, and that optimizer adds the noise,
scales and steps as before; the accountant is untouched. `clipped_loss` chooses it when every
trained parameter belongs to a layer with these closed forms (both shared models, in every
fine-tuning mode) and falls back to Opacus' two passes otherwise.

tests/unit/client/test_ghost_clipping.py checks the norms against Opacus' per-example gradients,
the one-pass clipped sum against Opacus' two passes, and the trainer's clipped, noised update
against Opacus' per-example-gradient path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see network.py).
from genofed.common.model.network import BlockLinear
from opacus.grad_sample import GradSampleModuleFastGradientClipping, register_norm_sampler
from opacus.grad_sample.linear import compute_linear_norm_sample
# isort: on

#: `make_private(grad_sample_mode=...)` for the trainer: the closed-form norms above.
GRAD_SAMPLE_MODE = "ghost"


@register_norm_sampler(BlockLinear)
def block_linear_norm_sample(
    layer: BlockLinear, activations: list[Tensor], backprops: Tensor
) -> dict[nn.Parameter, Tensor]:
    """Per-example gradient norms of a BlockLinear's weight and bias (module docstring).

    `backprops` (batch, n_blocks * hidden_per_block) is already rescaled by Opacus for the
    loss reduction, as for a grad sampler.
    """
    batch = backprops.shape[0]
    d = backprops.reshape(batch, layer.n_blocks, layer.hidden_per_block)
    d2 = torch.linalg.vector_norm(d, dim=2).square()  # (batch, n_blocks)
    out: dict[nn.Parameter, Tensor] = {}
    if layer.weight.requires_grad:
        x = activations[0].to(backprops.dtype)  # often a column slice of the model's input: a view
        # Squared first, then blocked: blocking a strided view would copy it. |x_ib|^2 as a
        # matrix-vector product: a reduction over the short block axis was slower on CPU.
        x2 = layer.blocks(x * x).reshape(-1, layer.block_size) @ x.new_ones(layer.block_size)
        out[layer.weight] = (x2.reshape(batch, layer.n_blocks) * d2).sum(1).sqrt()
    if layer.bias.requires_grad:
        out[layer.bias] = d2.sum(1).sqrt()
    return out


@register_norm_sampler(nn.Linear)
def linear_norm_sample(
    layer: nn.Linear, activations: list[Tensor], backprops: Tensor
) -> dict[nn.Parameter, Tensor]:
    """Opacus' nn.Linear norm sampler for 2-D inputs, through vector norms (module docstring);
    sequences (3-D) are left to Opacus' own."""
    if backprops.dim() != 2:
        return compute_linear_norm_sample(layer, activations, backprops)
    d = torch.linalg.vector_norm(backprops, dim=1)
    out: dict[nn.Parameter, Tensor] = {}
    if layer.weight.requires_grad:
        out[layer.weight] = d * torch.linalg.vector_norm(activations[0].to(backprops.dtype), dim=1)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = d
    return out


def _linear_clipped_sum(layer: nn.Linear, x: Tensor, d: Tensor) -> dict[nn.Parameter, Tensor]:
    """sum_i d_i x_i^T and sum_i d_i for a 2-D input `x`; `d` is already multiplied by the clip
    factors, so these are the clipped sums (module docstring)."""
    out: dict[nn.Parameter, Tensor] = {}
    if layer.weight.requires_grad:
        out[layer.weight] = d.t() @ x.to(d.dtype)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = d.sum(0)
    return out


def _block_linear_clipped_sum(layer: BlockLinear, x: Tensor, d: Tensor) -> dict[nn.Parameter, Tensor]:
    """Per block b, sum_i x_ib d_ib^T and sum_i d_ib; `d` already carries the clip factors."""
    blocks = layer.blocks(x.to(d.dtype))  # (batch, n_blocks, block_size)
    g = d.reshape(d.shape[0], layer.n_blocks, layer.hidden_per_block)
    out: dict[nn.Parameter, Tensor] = {}
    if layer.weight.requires_grad:
        if layer.hidden_per_block == 1:  # the default: a broadcast product, no thousand tiny matmuls
            out[layer.weight] = (blocks * g).sum(0).unsqueeze(2)
        else:
            out[layer.weight] = torch.einsum("nbk,nbh->bkh", blocks, g)
    if layer.bias.requires_grad:
        out[layer.bias] = g.sum(0)
    return out


_NormSampler = Callable[[nn.Module, list[Tensor], Tensor], dict[nn.Parameter, Tensor]]
_ClippedSum = Callable[[nn.Module, Tensor, Tensor], dict[nn.Parameter, Tensor]]

#: Layer type -> (per-example gradient norms, clipped gradient sum), both in closed form from the
#: layer's input and the per-example gradients at its output.
_CLOSED_FORMS: dict[type[nn.Module], tuple[_NormSampler, _ClippedSum]] = {
    nn.Linear: (linear_norm_sample, _linear_clipped_sum),
    BlockLinear: (block_linear_norm_sample, _block_linear_clipped_sum),
}


def _trained_layers(module: nn.Module) -> list[nn.Module] | None:
    """The layers holding a trained parameter, or None when one of them has no closed forms
    (`_CLOSED_FORMS`)."""
    layers = [m for m in module.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]
    if any(type(m) not in _CLOSED_FORMS for m in layers):
        return None
    return layers


@dataclass
class _LayerCall:
    """One forward call of a trained layer: its input (detached) and its output (in the graph)."""

    layer: nn.Module
    inputs: Tensor
    output: Tensor


class OneBackwardClipping:
    """The DP training loss whose `backward()` leaves the clipped per-example gradient sum in
    every trained parameter's `.grad`, in one backward pass (module docstring).

    Called like the trainer's criterion, `loss_fn(logits, labels)`: the mean binary
    cross-entropy, as an object with `detach()` and `backward()`. The model's forward pass must
    run between two calls of `backward()` (forward hooks record each trained layer's input and
    output). `remove()` takes the hooks off again.

    Parameters
    ----------
    module:
        The model, bare or in Opacus' wrapper; every trained parameter must belong to an
        nn.Linear with 2-D input or a BlockLinear (`supports`).
    max_grad_norm:
        C: every example's whole gradient is clipped to L2 norm C with Opacus' factor
        min(1, C / (norm + 1e-6)).
    """

    def __init__(self, module: nn.Module, max_grad_norm: float) -> None:
        layers = _trained_layers(module)
        if not layers:
            raise ValueError("one-pass clipping needs trained parameters, all in (Block)Linear layers")
        self.max_grad_norm = float(max_grad_norm)
        self._calls: list[_LayerCall] = []
        self._handles = [module.register_forward_pre_hook(self._forget)]
        self._handles += [layer.register_forward_hook(self._record) for layer in layers]

    def _forget(self, _module: nn.Module, _args: tuple) -> None:
        """A new forward pass of the whole model: calls from one that was not trained on go."""
        self._calls = []

    def _record(self, layer: nn.Module, args: tuple, output: Tensor) -> None:
        if not (layer.training and torch.is_grad_enabled()):
            return
        if any(call.layer is layer for call in self._calls):
            # Opacus' ghost clipping refuses parameter tying as well: the norms would not add up
            raise NotImplementedError("a trained layer ran twice in one forward pass (tied weights)")
        inputs = args[0].detach()
        if inputs.dim() != 2:
            raise ValueError(f"one-pass clipping takes 2-D layer inputs, got shape {tuple(inputs.shape)}")
        self._calls.append(_LayerCall(layer, inputs, output))

    def __call__(self, logits: Tensor, labels: Tensor) -> _ClippedLoss:
        per_example = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        if per_example.dim() > 1:  # several outputs: an example's loss is their mean, as in the BCE's
            per_example = per_example.flatten(1).mean(1)
        return _ClippedLoss(self, per_example)

    def backward(self, per_example_loss: Tensor) -> None:
        """Gradients at the trained layers' outputs (no weight gradient), then each example's
        norm, its clip factor and the clipped sums, into `.grad`."""
        calls, self._calls = self._calls, []
        if not calls:
            raise RuntimeError("backward() without a training forward pass of the model")
        grads = torch.autograd.grad(per_example_loss.sum(), [call.output for call in calls])
        squared = per_example_loss.new_zeros(len(per_example_loss))
        for call, d in zip(calls, grads, strict=True):
            norms, _ = _CLOSED_FORMS[type(call.layer)]
            for param, norm in norms(call.layer, [call.inputs], d).items():
                if param.requires_grad:
                    squared = squared + norm.square()
        clip = (self.max_grad_norm / (squared.sqrt() + 1e-6)).clamp(max=1.0).unsqueeze(1)
        for call, d in zip(calls, grads, strict=True):
            _, clipped_sum = _CLOSED_FORMS[type(call.layer)]
            for param, total in clipped_sum(call.layer, call.inputs, d * clip).items():
                param.grad = total.view_as(param)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._calls = [], []


@dataclass
class _ClippedLoss:
    """What `OneBackwardClipping` returns: the batch's mean loss, and the one-pass backward."""

    clipping: OneBackwardClipping
    per_example: Tensor

    def detach(self) -> Tensor:
        return self.per_example.mean().detach()

    def backward(self) -> None:
        self.clipping.backward(self.per_example)


def supports(module: nn.Module) -> bool:
    """Whether `OneBackwardClipping` can train `module`: every trained parameter in an nn.Linear
    or a BlockLinear."""
    return bool(_trained_layers(module))


@contextmanager
def clipped_loss(
    private_model: nn.Module, private_loss: Callable[[Tensor, Tensor], object], max_grad_norm: float
) -> Iterator[Callable[[Tensor, Tensor], object]]:
    """The loss to train `make_private`'s model with under DP; Opacus' hooks are removed on exit.

    On Opacus' ghost-clipping wrapper of a model `supports` takes, its hooks come off and the
    loss is `OneBackwardClipping` (one backward pass: its clipped sum is what Opacus' two passes
    leave in `.grad` for the same optimizer). Anything else (another model, another
    `grad_sample_mode`) keeps `private_loss`, Opacus' own.
    """
    one_pass = None
    if isinstance(private_model, GradSampleModuleFastGradientClipping) and supports(private_model):
        private_model.remove_hooks()  # the clipping below replaces what Opacus' hooks computed
        one_pass = OneBackwardClipping(private_model, max_grad_norm)
    try:
        yield one_pass if one_pass is not None else private_loss
    finally:
        if one_pass is not None:
            one_pass.remove()
        private_model.remove_hooks()

"""Per-example gradient norms in closed form, for Opacus' ghost clipping of both shared models.

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
`genofed.client.trainer` imports it. tests/unit/client/test_ghost_clipping.py checks both norms
and the resulting clipped, noised update against Opacus' per-example-gradient path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# isort: off
# Imported before opacus: it undoes Opacus' logging.basicConfig() at import (see network.py).
from genofed.common.model.network import BlockLinear
from opacus.grad_sample import register_norm_sampler
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

"""The linear-score model: one weight per panel variant plus the covariates, a logistic link.

Why a second model next to the GenotypeRiskNet: a federation of hospitals with 50-300 patients
each, under DP-SGD, is in the regime where a convex model with few, well-scaled coordinates
beats a network. A liability-threshold disease is close to additive in the dosages, and DP noise
is spread over every trained coordinate, so the fewest coordinates that can carry the signal win
(docs/models.md has the frontier measurement that made it the default).

`LogisticRiskModel` is an `nn.Linear` over [selected variants, covariates], zero-initialised
("no genetic effect" before any hospital has trained, the same start for every seed). Opacus
computes its per-example gradients natively (exact, no functorch fallback).

Column scale (`scale`, a fixed buffer, not a weight): the input columns are multiplied by public
factors before the linear layer. Under DP-SGD every patient's gradient is clipped to the same
norm, so the scale decides how each patient's clipping budget is spread over the variants, and
with it each coordinate's signal against the same noise. The coordinator sets it from the
panel's allele frequencies (the training rule, genofed.server.training_rule); no hospital trains
it, and the coordinator keeps it bit-identical across rounds (it is not a trained parameter).
Ones: the plain linear model on the encoded dosages.

Variant selection (`selected`, panel indices): a model may read only a sub-panel, e.g. the top-k
variants of a public source model or the variants inside clinicians' known disease genes. It
still takes the full panel as input (every site aligns its data to the federation's panel as
before) and picks its columns itself, so sites, evaluation and the final model file need no
second panel. The index list is part of the model's config, which every site receives and pins.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class PanelSelection(nn.Module):
    """(B, V + C) -> (B, len(selected) + C): the selected variant columns, then the covariates.

    `selected` empty: the identity (all V variants). The indices are a non-persistent buffer: not
    weights (FedAvg must never average them), fixed by the model's config instead.
    """

    def __init__(self, n_variants: int, n_covariates: int, selected: Sequence[int] = ()) -> None:
        super().__init__()
        self.n_variants = int(n_variants)
        self.n_covariates = int(n_covariates)
        columns = list(selected) + list(range(n_variants, n_variants + n_covariates)) if selected else []
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long), persistent=False)

    @property
    def n_selected(self) -> int:
        return len(self.columns) - self.n_covariates if len(self.columns) else self.n_variants

    def forward(self, x: Tensor) -> Tensor:
        expected = self.n_variants + self.n_covariates
        if x.dim() != 2 or x.shape[1] != expected:
            raise ValueError(f"expected input (batch, {expected}), got {tuple(x.shape)}")
        return x.index_select(1, self.columns) if len(self.columns) else x


class LogisticRiskModel(nn.Module):
    """(B, V + C) encoded dosages then covariates -> (B,) disease logits ((B, K) when n_outputs = K > 1).

    Parameters `linear.weight` (one per selected variant, then one per covariate) and
    `linear.bias`; both start at zero.
    """

    def __init__(
        self, n_variants: int, n_covariates: int, n_outputs: int = 1, selected: Sequence[int] = ()
    ) -> None:
        super().__init__()
        self.n_outputs = int(n_outputs)
        self.select = PanelSelection(n_variants, n_covariates, selected)
        n_inputs = self.select.n_selected + n_covariates
        self.linear = nn.Linear(n_inputs, self.n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("scale", torch.ones(n_inputs))

    def forward(self, x: Tensor) -> Tensor:
        logit = self.linear(self.select(x) * self.scale)
        return logit.squeeze(1) if self.n_outputs == 1 else logit

    def variant_weights(self) -> Tensor:
        """Each selected variant's weight per encoded dosage unit (first output, the column scale
        folded in), in selection order: what drives a score."""
        n = self.select.n_selected
        return (self.linear.weight[0, :n] * self.scale[:n]).detach()

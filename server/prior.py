"""Public prior knowledge from a source model: which variants the federation's model reads, and
where its weights start.

A `genofed pretrain` model of a related trait (a public or consented biobank, or another study's
published model) already knows which of the panel's variants carry signal. Under DP that
knowledge is worth a lot: DP-SGD spreads the same noise over every trained coordinate, so a
model that reads the source's top k variants instead of the whole panel keeps far more of each
hospital's signal, and one that starts from the source's weights has less to learn privately.

Why this costs the hospitals no privacy: the source model is public (trained centrally on a
consented or public cohort, or published by another study), and the selection is computed from
it alone, at the coordinator, before any hospital is contacted. No patient's record enters it;
the selected indices then travel in the model config every site receives and pins, like the
panel itself. (What it costs is trust in the source: the model file is pinned by its content
hash and checked against the federation's panel, as for `pretrained`.)

Importance of panel variant j (`variant_importance`): the size of its first-order effect on the
source's logit at the average genome (x = 0: features are dosages centred on the panel's
frequencies; reference covariates), |d logit / d x_j|, the norm across outputs for a multi-class
source (centred across classes first: adding the same to every class's logit changes no
prediction).

- A logistic source: the derivative is the weight itself, per allele. It is NOT multiplied by the
  genotype's SD: the source was fitted with an L2 penalty on unscaled dosages, which already
  shrinks a variant's weight by how little it varies (a rare variant's weight is held near zero
  unless the data insist), so the SD would count rarity twice. Measured on the default federation's
  `near` source (20,000 people, 20,826 variants; top 1,000): ranking by |w| captures 80 % of the
  source trait's genetic variance and 43 % of the disease's, by |w| x SD only 51 % and 30 %
  (the large-effect rare variants fall out).
- A network source: the first-order effect through the tanh units linearised at that genome (the
  block weight, times tanh' of the block unit, times its path through the head), times the
  genotype's SD sqrt(2 p_j (1 - p_j)): the change in the logit for one SD of genotype. Here the SD
  is needed: a variant the source barely saw (a rare one) keeps its random initial weight, which
  is as large as a trained one; the SD discounts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genofed.common.data.features import FREQ_CLIP
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import PretrainedModel, check_compatible, load_pretrained, most_spent

#: How `variant_importance` scores a variant, by source architecture (recorded in the description).
IMPORTANCE_RULES = {
    "logistic": "|weight| per allele",
    "network": "|d logit/d dosage| at the average genome x sqrt(2p(1-p))",
}


@dataclass(frozen=True)
class SourcePrior:
    """The variants a source model selects for the federation, and the weights it offers.

    selected: ascending panel indices: the top k by importance, plus every index of `include`.
    importance: per panel variant (panel order), the score the selection ranked by.
    description: what results and reports record: the source's content hash and provenance, k,
        the selection's size, how many indices `include` added, the importance rule, and what
        `start_weights` gives a logistic model.
    source: the verified source model (not compared, not shown).
    """

    selected: tuple[int, ...]
    importance: np.ndarray = field(repr=False, compare=False)
    description: dict[str, Any]
    source: PretrainedModel = field(repr=False, compare=False)

    def start_weights(self, config: ModelConfig, *, seed: int = 0) -> dict[str, torch.Tensor]:
        """The weights a federation's model of `config` starts from.

        A logistic `config` reading exactly this prior's selection, from a binary logistic source:
        the source's weights of the selected variants (in selection order), its covariate weights
        and its bias, so the federation starts where the source's score stands on those variants.
        Every other case gets the fresh model's weights (`build_model(config, seed)`: zeros for a
        logistic model): a network source's weights belong to another architecture and a
        multi-class source's outputs score classes, not a disease, so there the selection alone
        is the prior (`description["start"]` says which).

        Raises ValueError for a config that does not read this prior's selection on this panel:
        weights at the wrong positions would compute something else without any error.
        """
        source_config = self.source.model_config
        if config.selected != self.selected or config.n_variants != source_config.n_variants:
            raise ValueError(
                f"the model reads {len(config.selected) or config.n_variants} of {config.n_variants} "
                f"variants, not this prior's selection of {len(self.selected)} of {source_config.n_variants}"
            )
        fresh = {k: v.detach().clone() for k, v in build_model(config, seed).state_dict().items()}
        if not self.gives_weights(config):
            return fresh
        source = self.source.state_dict
        weight = source["linear.weight"][0]
        if "scale" in source:  # per encoded unit: the source's own column scale folded in
            weight = weight * source["scale"]
        n_read = source_config.n_inputs
        per_variant = _full_panel(weight[:n_read], source_config)
        variants = per_variant[torch.as_tensor(self.selected, dtype=torch.long)]
        covariates = weight[n_read:]
        fresh["linear.weight"] = torch.cat([variants, covariates]).reshape(1, -1).to(fresh["linear.weight"])
        fresh["linear.bias"] = self.source.state_dict["linear.bias"][:1].clone().to(fresh["linear.bias"])
        return fresh

    def gives_weights(self, config: ModelConfig) -> bool:
        """Whether a model of `config` starts from the source's weights (`start_weights`), or only
        reads its selection from fresh weights."""
        return _starts_from_source(self.source, config)

    def start_text(self, config: ModelConfig) -> str:
        """What a model of `config` starts from, in words (results.json and the report say it)."""
        if self.gives_weights(config):
            return "the source's weights on the selected variants, its covariate weights and its bias"
        return f"fresh weights, only the selection is used: {_why_fresh(self.source, config)}"


def source_prior(
    path: str | Path,
    panel: VariantPanel,
    k: int,
    *,
    include: Iterable[int] = (),
    expected_hash: str = "",
) -> SourcePrior:
    """Load the source model at `path`, verify it (its content hash, `expected_hash` when given,
    and that it was trained on `panel`), and select its `k` most important variants.

    k: how many variants to take by importance (1 .. the panel's size; 0 = all of them, the
        default: docs/models.md "Public prior knowledge"); ties go to the lower index.
    include: panel indices always selected, whatever their importance (e.g. the variants inside
        clinicians' known disease genes); the selection is their union with the top k, ascending.
    Raises PretrainedModelError for an unusable or foreign model, ConfigError for a federated
    model (not public), a bad k (above the variants the source gives an importance) or index.
    """
    model = load_pretrained(path, expected_hash=expected_hash)
    if model.provenance.get("kind") == "federated":
        # a federation's own model was trained on hospitals' patients: not public, and what it
        # spent is in no ledger of this run; --pretrained starts from it and says where it came from
        raise ConfigError(
            f"{path} is a federated model (trained on hospitals' patients, {_spent(model.provenance)}), "
            "not a public source: a prior must be a "
            "`genofed pretrain` model of a public or consented cohort; to continue from this model, "
            "use --pretrained"
        )
    check_compatible(model, panel, source=str(path))
    n = len(panel)
    k = n if int(k) == 0 else int(k)
    if not 1 <= k <= n:
        raise ConfigError(
            f"prior-variants must be between 1 and the panel's size ({n} variants), or 0 for all, got {k}: "
            "choose how many of the source model's most important variants the model reads"
        )
    forced = sorted({int(i) for i in include})
    if forced and not (0 <= forced[0] and forced[-1] < n):
        bad = next(i for i in forced if not 0 <= i < n)
        raise ConfigError(f"variant index {bad} to include is outside the panel (0 .. {n - 1})")
    importance = variant_importance(model)
    informative = int(np.count_nonzero(importance))
    if int(k) > informative and k != n:
        raise ConfigError(
            f"prior-variants {k}: the source model {path} gives only {informative} variants an importance "
            f"above 0 (it reads no others); choose at most {informative}, or 0 for the whole panel"
        )
    ranked = np.argsort(-importance, kind="stable")  # stable: equal scores keep index order
    top = {int(i) for i in ranked[: int(k)]}
    selected = tuple(sorted(top | set(forced)))
    description = {
        "content_hash": model.content_hash,
        "source": model.provenance.get("source"),
        "task": model.task.to_dict(),
        "architecture": model.model_config.architecture,
        "k": int(k),
        "selected": len(selected),
        "included": len(forced),
        "added_by_include": len(selected) - int(k),
        "importance": IMPORTANCE_RULES[model.model_config.architecture],
    }
    return SourcePrior(selected, importance, description, model)


def variant_importance(model: PretrainedModel) -> np.ndarray:
    """(V,) float64: each panel variant's importance to `model` (module docstring): the norm of its
    first-order effect on the logits at the average genome, per allele for a logistic source, for
    one SD of genotype for a network. Variants the model does not read score 0."""
    config = model.model_config
    net = model.build().eval()
    x = torch.zeros(1, config.n_variants + config.n_covariates, requires_grad=True)
    logits = net(x).reshape(1, -1)
    rows = []
    for output in range(logits.shape[1]):
        (grad,) = torch.autograd.grad(logits[0, output], x, retain_graph=True)
        rows.append(grad[0, : config.n_variants])
    jacobian = torch.stack(rows).double()  # (outputs, V)
    if jacobian.shape[0] > 1:
        jacobian = jacobian - jacobian.mean(0, keepdim=True)
    effect = jacobian.norm(dim=0).numpy()
    if config.architecture == "logistic":
        return effect
    freq = np.clip(np.asarray(model.panel.alt_freq, dtype=np.float64), FREQ_CLIP, 1.0 - FREQ_CLIP)
    return effect * np.sqrt(2.0 * freq * (1.0 - freq))


def _starts_from_source(model: PretrainedModel, config: ModelConfig) -> bool:
    """Whether a model of `config` can start from `model`'s weights: both logistic, one output
    each, the same covariates."""
    source = model.model_config
    return (
        config.architecture == "logistic"
        and source.architecture == "logistic"
        and source.n_outputs == 1
        and config.n_outputs == 1
        and source.n_covariates == config.n_covariates
    )


def _spent(provenance: dict[str, Any]) -> str:
    """A federated model's recorded privacy spend, in words."""
    most = most_spent(provenance.get("epsilon"))
    return "its privacy spend not recorded" if most is None else f"epsilon up to {most:.2f} per hospital"


def _why_fresh(model: PretrainedModel, config: ModelConfig) -> str:
    """Why a model of `config` cannot start from `model`'s weights (`_starts_from_source` is False)."""
    source = model.model_config
    if config.architecture != "logistic":
        return f"the run trains a {config.architecture}, the source's weights fit a logistic model only"
    if source.architecture != "logistic":
        return f"the source is a {source.architecture}"
    if source.n_outputs != 1 or config.n_outputs != 1:
        return "the source is multi-class: its outputs score classes, not the disease"
    return f"the source has {source.n_covariates} covariates, the run {config.n_covariates}"


def _full_panel(weights: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """A source's per-variant weights (over the variants it reads) spread over the whole panel,
    0 for the variants it does not read."""
    if not config.selected:
        return weights
    full = torch.zeros(config.n_variants, dtype=weights.dtype)
    full[torch.as_tensor(config.selected, dtype=torch.long)] = weights
    return full

"""The round-0 model and the settings it trains with, fixed before any hospital is contacted.

A run starts from one of:
- a fresh model of the chosen architecture (`model`: logistic or network);
- a `genofed pretrain` model as a whole (`pretrained`, as before);
- public prior knowledge: a source model's top variants, started from its weights (`prior`,
  `genofed.server.prior`), and/or the panel variants inside clinicians' known disease genes
  (`gene-prior`, `genofed.common.data.regions`). The model then reads only that sub-panel;
  hospitals still align to the whole panel, the model picks its columns (`ModelConfig.selected`).

None of this touches patients: the panel, a public source model and a gene list are all the
coordinator's own inputs. The training settings left at 0 then follow the model's rule
(`genofed.server.training_rule`), which reads the selection (its allele frequencies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import check_compatible, describe, disease_start, load_pretrained
from genofed.server.seen_patients import refuse_seen_patients
from genofed.server.settings import RunSettings
from genofed.server.training_rule import column_scale, resolve_settings, run_model


@dataclass(frozen=True)
class StartModel:
    """What a run starts from: its settings with the model and every rule value resolved, the
    round-0 model's config and weights, and what was used to choose them."""

    settings: RunSettings
    config: ModelConfig
    weights: dict[str, torch.Tensor]
    pretrained: dict[str, Any] | None = None  # `pretrained.describe` of a whole pretrained model
    prior: dict[str, Any] | None = None  # what the public priors selected (results.json "prior")

    @property
    def from_weights(self) -> bool:
        """Whether round 0 holds a model's weights (a pretrained model, or a source prior that
        offers them to this model) rather than fresh ones: the rule's step depends on it."""
        return self.pretrained is not None or bool((self.prior or {}).get("from_weights"))


def start_model(settings: RunSettings, panel: VariantPanel) -> StartModel:
    """The round-0 model for `settings` on `panel`, and `settings` resolved (model, rule values).

    A pretrained model must be intact (content hash), be the approved one when
    `pretrained-hash` is set, and fit this federation's panel; a prior must fit it too; anything
    else is refused before a single hospital is contacted.
    """
    if settings.pretrained:
        return _from_pretrained(settings, panel)
    genes = _gene_selection(settings, panel)
    prior = _source_prior(settings, panel, genes)
    selected = prior.selected if prior is not None else genes
    config = ModelConfig(n_variants=len(panel), architecture=run_model(settings), selected=selected)
    # a prior that offers no weights to this model (a network source, a multi-class one, a run
    # that trains a network) is a selection only: the run trains as from scratch
    from_weights = prior is not None and prior.gives_weights(config)
    if prior is not None and not from_weights and len(prior.selected) == len(panel):
        raise ConfigError(
            f"--prior {settings.prior} would change nothing: it gives this run no weights "
            f"({prior.start_text(config)}) and selects every one of the panel's {len(panel)} variants "
            f"(--prior-variants {settings.prior_variants or 0}: all it ranks); pass --prior-variants K "
            "to read its K most important variants, or pretrain a logistic source "
            "(`genofed pretrain --model logistic`), whose weights a logistic run starts from"
        )
    resolved = resolve_settings(settings, panel, selected=selected, from_weights=from_weights)
    if prior is not None:
        weights = prior.start_weights(config)
    else:
        weights = build_model(config, seed=settings.seed).state_dict()
    if config.architecture == "logistic":
        scale = column_scale(
            panel, selected, config.n_covariates, settings.epsilon, from_scratch=not from_weights
        )
        weights = _scaled(weights, scale)
    described = _describe_prior(settings, genes, prior, config)
    return StartModel(resolved, config, weights, prior=described)


def check_start_inputs(settings: RunSettings, panel_file: Path | None) -> None:
    """Refuse what `start_model` would refuse, before the run folder is touched: `--force`
    deletes a previous run (its privacy ledgers too), which a bad prior, pretrained model or gene
    list must not cost. With the federation's panel file (`panel_file`), the whole start is built
    and thrown away (a model of another panel, a K too large, a gene list that selects nothing);
    without one (the run builds its panel from the hospitals' summaries), each file is read.
    """
    if not (settings.prior or settings.pretrained or settings.gene_prior):
        return
    if panel_file is not None and panel_file.is_file():
        start_model(settings, VariantPanel.load(panel_file))
        return
    if settings.pretrained:
        load_pretrained(settings.pretrained, expected_hash=settings.pretrained_hash)
    if settings.prior:
        load_pretrained(settings.prior)
    if settings.gene_prior:
        from genofed.common.data.regions import load_gene_regions

        load_gene_regions(settings.gene_prior)


def _scaled(weights: dict[str, torch.Tensor], scale: np.ndarray) -> dict[str, torch.Tensor]:
    """A logistic model's start with the rule's column scale, computing the same score as before:
    the weights per encoded unit (the weights times the scale they met, ones in a pretrained
    file) are divided by the scale they now meet."""
    factor = torch.as_tensor(scale)
    old = weights.get("scale", torch.ones_like(factor))
    scaled = dict(weights)
    scaled["scale"] = factor.clone()
    scaled["linear.weight"] = weights["linear.weight"] * old / factor
    return scaled


def _from_pretrained(settings: RunSettings, panel: VariantPanel) -> StartModel:
    model = load_pretrained(settings.pretrained, expected_hash=settings.pretrained_hash)
    check_compatible(model, panel, source=settings.pretrained)
    refuse_seen_patients(model, settings, "--pretrained", settings.pretrained)
    architecture = model.model_config.architecture
    if settings.model not in ("auto", architecture):
        raise ConfigError(
            f"{settings.pretrained} is a {architecture} model but the run asks for model {settings.model}: "
            f"set model {architecture} (or auto), or start from another model"
        )
    if settings.gene_prior:
        raise ConfigError(
            "gene-prior restricts a fresh model to the variants in known genes; a pretrained model reads "
            "the panel it was trained on: use one or the other"
        )
    config, weights = disease_start(model, seed=settings.seed)
    if architecture == "logistic":  # the rule's column scale, as a fresh logistic model has it
        weights = _scaled(
            weights,
            column_scale(panel, config.selected, config.n_covariates, settings.epsilon, from_scratch=False),
        )
    resolved = resolve_settings(settings, panel, architecture=architecture, selected=config.selected)
    return StartModel(resolved, config, weights, pretrained=describe(model))


def _gene_selection(settings: RunSettings, panel: VariantPanel) -> tuple[int, ...]:
    """The panel variants inside the gene list's regions (empty without one)."""
    if not settings.gene_prior:
        return ()
    from genofed.common.data.regions import load_gene_regions, variants_in_regions

    return tuple(int(i) for i in variants_in_regions(panel, load_gene_regions(settings.gene_prior)))


def _source_prior(settings: RunSettings, panel: VariantPanel, genes: tuple[int, ...]):
    """The source model's top variants (union the genes' ones), or None without a prior."""
    if not settings.prior:
        return None
    from genofed.server.prior import source_prior

    prior = source_prior(settings.prior, panel, settings.prior_variants, include=genes)
    refuse_seen_patients(prior.source, settings, "--prior", settings.prior)
    return prior


def _describe_prior(
    settings: RunSettings, genes: tuple[int, ...], prior, config: ModelConfig
) -> dict[str, Any] | None:
    if not genes and prior is None:
        return None
    described: dict[str, Any] = {}
    if settings.gene_prior:
        described["gene_list"] = {"file": settings.gene_prior, "variants": len(genes)}
    if prior is not None:
        described["source"] = {**prior.description, "start": prior.start_text(config)}
        described["from_weights"] = prior.gives_weights(config)
        described["variants"] = len(prior.selected)
    else:
        described["variants"] = len(genes)
    return described

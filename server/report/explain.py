"""Which variants drive the final model: the top variants by contribution, with their rsID, position
and gene, and, on simulated data, how many of the disease's true causal variants the list recovers.

The scores come from `attribution` (weights for the linear model, integrated gradients for the
network). Genes come from the panel's optional `gene` column, else from the federation's gene list
(known_genes.bed in a simulated federation, or the run's --gene-prior file); a variant inside no
listed gene has none. rsIDs come from the panel's optional `rsid` column (the names the hospitals'
genotype files give, `genofed.common.data.variant_names`). Causal variants come from the
federation's truth.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genofed.common.data.layout import GENE_LIST, PANEL
from genofed.common.data.panel import VariantPanel
from genofed.common.data.regions import GeneRegion, load_gene_regions
from genofed.common.data.variants import normalize_chrom, parse_variant_id
from genofed.server.report import attribution
from genofed.server.report.reading import config_value
from genofed.server.report.run_files import data_dir, test_folder

#: How many variants the report lists.
TOP_VARIANTS = 20
MODEL_FILE = "model.pt"
LINEAR_METHOD = "|weight per allele| x genotype sd sqrt(2p(1-p)) (p: the panel's alt frequency)"
IG_METHOD = "integrated gradients (captum), mean |attribution| over {people}"
#: What a contribution means to a clinician, per method; {score} and {factor} (e^score) are the top
#: variant's. Both scores are on the log-odds scale, the scale the model adds its evidence on.
LINEAR_MEANING = (
    "Contribution: how far the variant moves the model's risk score (the log-odds of disease) between "
    "two people one genotype standard deviation apart: the size, not the direction, which the column "
    "'{direction}' gives; the top variant's {score} {verb} the odds by e^{score} = {factor} per "
    "standard deviation."
)
IG_MEANING = (
    "Contribution: how far the variant moved a person's risk score (the log-odds of disease) from that "
    "of someone with average genotypes, averaged in absolute value over the people scored (the size, "
    "not the direction, which the column '{direction}' gives); the top variant's {score} is an odds "
    "factor of about e^{score} = {factor}."
)
#: How the direction column (`drivers.DIRECTION_COLUMN`) was found, per method.
LINEAR_DIRECTION = (
    "whether each further copy of the ALT allele raises or lowers the model's risk score "
    "(the sign of its weight per ALT copy, the model's column scale folded in), and the odds factor "
    "e^weight per copy."
)
IG_DIRECTION = (
    "whether each further copy of the ALT allele raises or lowers the model's risk score, "
    "and the odds factor per copy, from the mean change in the score when each of {people} goes from 0 "
    "to 2 copies, the rest of their genotype kept."
)


@dataclass(frozen=True)
class Driver:
    """One top variant: its rank, id, position, gene (None if in no listed gene), score, frequency
    and, on simulated data, whether it is one of the disease's causal variants (None: unknown);
    `rsid` its dbSNP name where the panel has one."""

    rank: int
    variant_id: str
    chrom: str
    pos: int
    gene: str | None
    score: float
    alt_freq: float
    causal: bool | None
    #: the change in the model's log-odds per ALT copy (its sign: the ALT allele raises or lowers the
    #: risk); None where not computed
    per_copy: float | None = None
    rsid: str | None = None


@dataclass(frozen=True)
class Explanation:
    """The top variants and how they were found; `causal_*` are None without a truth.json.

    `causal_total`: the disease's causal variants; `causal_in_panel`: those the panel holds;
    `causal_read`: those among the variants the model reads (the most the list could recover; the
    panel's when the model reads it all); `recovered`: those in the top list; `chance`: how many a
    list of the same length drawn at random from the variants the model reads would hold on average.
    """

    method: str
    drivers: list[Driver]
    model_reads: int
    gene_source: str | None
    meaning: str = ""  # LINEAR_MEANING or IG_MEANING: what a contribution's number means
    direction: str = ""  # LINEAR_DIRECTION or IG_DIRECTION (formatted): how the direction was found
    causal_total: int | None = None
    causal_in_panel: int | None = None
    recovered: int | None = None
    chance: float | None = None
    causal_read: int | None = None


def explain_run(
    run_dir: Path, results: Mapping[str, Any], truth: Mapping[str, Any] | None
) -> Explanation | str:
    """The run's top variants, or one sentence saying why they could not be computed."""
    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        return f"The final model file ({MODEL_FILE}) is not in the run folder."
    try:
        model = attribution.load_model(path)
    except Exception as error:  # any unreadable model: the report says so and goes on
        return f"The final model file ({MODEL_FILE}) could not be read: {error}."
    panel = model.panel or _run_panel(results)
    if panel is None or len(panel) != model.config.n_variants:
        return (
            "The federation's panel was not found (or does not match the model), so variants cannot be named."
        )
    found = _attribute(model, results, panel)
    order = top_indices(found.scores)
    reads = len(model.config.selected) or len(panel)
    genes, gene_source = _gene_lookup(results)
    causal = _causal_ids(truth)
    drivers = _top_drivers(order, found.scores, found.per_copy(order), panel, genes, causal)
    path = _panel_path(results)
    # the run's panel file, not `panel`: a model file keeps its panel's ids and frequencies only
    names = _panel_column(path, "rsid") if path is not None else {}
    drivers = [replace(d, rsid=names.get(d.variant_id)) for d in drivers]
    explanation = Explanation(found.method, drivers, reads, gene_source, found.meaning, found.direction)
    if causal is None:
        return explanation
    in_panel = causal & set(panel.variant_ids)
    read = causal & set(read_ids(panel, model.config.selected))
    recovered = sum(1 for d in drivers if d.causal)
    return replace(
        explanation,
        causal_total=len(causal),
        causal_in_panel=len(in_panel),
        recovered=recovered,
        chance=len(drivers) * len(read) / max(reads, 1),
        causal_read=len(read),
    )


@dataclass(frozen=True)
class _Attribution:
    """What one method found: a size per panel variant, how it was found and what it means, and how
    to get the top variants' signed effect per ALT copy (computed for those only: a network's costs
    forward passes)."""

    scores: np.ndarray
    method: str
    meaning: str
    direction: str
    per_copy: Callable[[list[int]], np.ndarray]


def _attribute(
    model: attribution.LoadedModel, results: Mapping[str, Any], panel: VariantPanel
) -> _Attribution:
    """The linear model's weights (sizes and signs from the weights themselves), else the network's
    integrated gradients (sizes) and mean dosage effects (signs) on the people attributed."""
    if model.config.architecture == "logistic":
        weights = attribution.linear_weights(model.module, model.config, panel)
        return _Attribution(
            attribution.linear_scores(model.module, model.config, panel),
            LINEAR_METHOD,
            LINEAR_MEANING,
            LINEAR_DIRECTION,
            lambda order: weights[order],
        )
    features, people = _attributed_people(results, panel, model.config.n_covariates)
    return _Attribution(
        attribution.integrated_gradient_scores(model.module, features, len(panel)),
        IG_METHOD.format(people=people),
        IG_MEANING,
        IG_DIRECTION.format(people=people),
        lambda order: attribution.dosage_effects(model.module, features, panel, order),
    )


def read_ids(panel: VariantPanel, selected: Sequence[int]) -> list[str]:
    """The ids of the variants the model reads: its `selected` panel indices, else the whole panel.

    A model narrowed by a prior (--prior-variants, --gene-prior) can rank only the variants it
    reads, so the chance figure must count the causal variants among those, not among the panel's.
    """
    if not selected:
        return list(panel.variant_ids)
    return [panel.variant_ids[i] for i in selected]


def top_indices(scores: np.ndarray) -> list[int]:
    """The panel indices of the `TOP_VARIANTS` highest-scoring variants with a non-zero score,
    highest first."""
    return [int(i) for i in np.argsort(-scores, kind="stable")[:TOP_VARIANTS] if scores[i] > 0]


def _top_drivers(
    order: list[int],
    scores: np.ndarray,
    per_copy: np.ndarray,
    panel: VariantPanel,
    genes: Any,
    causal: set[str] | None,
) -> list[Driver]:
    """The variants at panel indices `order`, ranked in that order; `per_copy` aligned with `order`."""
    drivers = []
    for rank, (index, effect) in enumerate(zip(order, per_copy, strict=True), start=1):
        variant_id = panel.variant_ids[index]
        parsed = parse_variant_id(variant_id)
        drivers.append(
            Driver(
                rank=rank,
                variant_id=variant_id,
                chrom=parsed.chrom,
                pos=parsed.pos,
                gene=genes(variant_id, parsed.chrom, parsed.pos),
                score=float(scores[index]),
                alt_freq=float(panel.alt_freq[index]),
                causal=None if causal is None else variant_id in causal,
                per_copy=float(effect),
            )
        )
    return drivers


def _run_panel(results: Mapping[str, Any]) -> VariantPanel | None:
    """The run's panel: its `panel` setting when set, else the federation folder's panel.tsv."""
    path = _panel_path(results)
    try:
        return VariantPanel.load(path) if path is not None else None
    except Exception:  # a damaged panel: no names, no crash
        return None


def _panel_path(results: Mapping[str, Any]) -> Path | None:
    configured = config_value(results, ("panel",))
    if configured:
        return Path(str(configured))
    folder = data_dir(results)
    return folder / PANEL if folder is not None and (folder / PANEL).is_file() else None


def _attributed_people(
    results: Mapping[str, Any], panel: VariantPanel, n_covariates: int
) -> tuple[np.ndarray, str]:
    """The encoded inputs IG attributes, and words for who they are: the test cohort when it loads,
    found (`test-dir`, else the federation's `test/`) and read (its `label-column`) as the run's
    evaluation read it: with the default column, a deployed test cohort whose column is `disease`
    was never loaded here."""
    folder = test_folder(results)
    if folder is not None:
        try:
            from genofed.server.evaluation import TestCohort

            column = str(config_value(results, ("label-column", "label_column")) or "label")
            features = TestCohort.load(folder, panel, label_column=column).features
            people = attribution.subsample(features)
            return people, f"{len(people)} people of the test cohort"
        except Exception:  # an unreadable test cohort: fall back to the panel's frequencies
            pass
    features = attribution.hwe_features(panel, n_covariates, attribution.IG_PEOPLE)
    return features, f"{len(features)} genotypes drawn from the panel's allele frequencies"


def _gene_lookup(results: Mapping[str, Any]) -> tuple[Any, str | None]:
    """A function (id, chrom, pos) -> gene or None, and words for where the genes come from."""
    path = _panel_path(results)
    column = _panel_column(path, "gene") if path is not None else {}
    if column:
        return (lambda variant_id, _chrom, _pos: column.get(variant_id)), f"the panel's gene column ({path})"
    gene_list = _gene_list_path(results)
    if gene_list is None:
        return (lambda *_: None), None
    try:
        regions = load_gene_regions(gene_list)
    except Exception:  # an unreadable gene list: no genes, no crash
        return (lambda *_: None), None
    return (lambda _id, chrom, pos: gene_at(regions, chrom, pos)), f"the gene list {gene_list}"


def gene_at(regions: Sequence[GeneRegion], chrom: str, pos: int) -> str | None:
    """The name of the first region holding 1-based position `pos` on `chrom` (BED: start < pos <= end)."""
    key = normalize_chrom(chrom).upper()
    for region in regions:
        if normalize_chrom(region.chrom).upper() == key and region.start < pos <= region.end:
            return region.name
    return None


def _panel_column(path: Path, column: str) -> dict[str, str]:
    """{variant id: value} from the panel's optional annotation `column` (`gene`, `rsid`; {}
    without one), for the variants it annotates."""
    try:
        import pandas as pd

        frame = pd.read_csv(path, sep="\t", dtype=str, usecols=lambda c: c in ("id", column))
    except Exception:  # no panel, or no such columns
        return {}
    if column not in frame.columns or "id" not in frame.columns:
        return {}
    frame = frame.dropna()
    return {_panel_id(v): g.strip() for v, g in zip(frame["id"], frame[column], strict=True) if g.strip()}


def _panel_id(text: str) -> str:
    """A panel file's id as `VariantPanel.load` holds it (`chr1:...` is `1:...`), so that a
    chr-named panel's genes meet the model's variants; unparsable ids as they are."""
    try:
        return parse_variant_id(text).id
    except ValueError:
        return text


def _gene_list_path(results: Mapping[str, Any]) -> Path | None:
    """The run's --gene-prior file, else the federation folder's known_genes.bed."""
    configured = config_value(results, ("gene-prior", "gene_prior"))
    if configured and Path(str(configured)).is_file():
        return Path(str(configured))
    folder = data_dir(results)
    return folder / GENE_LIST if folder is not None and (folder / GENE_LIST).is_file() else None


def _causal_ids(truth: Mapping[str, Any] | None) -> set[str] | None:
    """The ids of the simulated disease's causal variants (truth.json `model.causal_variants`)."""
    model = (truth or {}).get("model")
    variants = model.get("causal_variants") if isinstance(model, Mapping) else None
    if not isinstance(variants, list):
        return None
    return {str(v["id"]) for v in variants if isinstance(v, Mapping) and "id" in v}

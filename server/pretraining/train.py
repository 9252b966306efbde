"""Pretraining the shared model on a large source cohort, before any federation.

The source stands for a public or consortium dataset (a biobank with a related disease, a
common trait, or reference genomes with their ancestry), so it is trained centrally and without
differential privacy: its people are not the federation's patients. What matters is that it is
trained on the federation's own variant panel, so the hospitals can fine-tune it directly.

Two kinds of task: `binary` (a 0/1 phenotype column: a related or unrelated disease) and
`multiclass` (a categorical column, e.g. the 1000 Genomes superpopulation: a representation
of population structure, whose output layer the federation replaces).

Two kinds of model (`PretrainSettings.model`): the GenNet-style network, trained by mini-batch
SGD with early stopping on the source's validation split; or the linear score
(`LogisticRiskModel`), whose fit is convex and so solved, not trained: L2-regularised full-batch
L-BFGS along a path of strengths, the best on the validation split kept (`_fit_logistic`). A
logistic source is what `genofed.server.prior` reads variant importances and starting weights from.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from genofed.common.data.checks import join_cohort
from genofed.common.data.cohort import Phenotypes
from genofed.common.data.features import FeatureSpec, encode
from genofed.common.data.layout import RULE_HINT, site_files
from genofed.common.data.loading import load_site
from genofed.common.data.panel import VariantPanel, align_to_panel
from genofed.common.data.readers import read_classes, read_genotypes
from genofed.common.data.splits import stratified_split
from genofed.common.errors import DataError, GenofedError
from genofed.common.model.metrics import binary_metrics
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import PretrainedModel, Task, save_pretrained
from genofed.common.util.hashing import file_sha256
from genofed.common.util.progress import Progress, bar
from genofed.server.pretraining.settings import TASKS, PretrainSettings  # noqa: F401 - re-exported: callers import them from here


@dataclass(frozen=True)
class SourceData:
    features: np.ndarray  # (n, V + C) float32, encoded exactly as the hospitals encode
    targets: np.ndarray  # (n,) 0/1 for binary, class index for multiclass
    task: Task
    files: dict[str, str]  # role -> path


def load_source(source: str | Path, panel: VariantPanel, settings: PretrainSettings) -> SourceData:
    """Read a source cohort folder (genotypes + phenotypes.csv, as a hospital folder) on `panel`."""
    genotypes, phenotypes = _source_files(Path(source))
    spec = FeatureSpec(alt_freq=panel.alt_freq)
    files = {"genotypes": str(genotypes.resolve()), "phenotypes": str(phenotypes.resolve())}
    if settings.task == "binary":
        cohort = load_site(genotypes, phenotypes, panel=panel, label_column=settings.label).cohort
        task = Task("binary", settings.label)
        return SourceData(encode(spec, cohort), cohort.labels.astype(np.int64), task, files)
    return _multiclass_source(genotypes, phenotypes, panel, settings.label, files)


def _source_files(folder: Path) -> tuple[Path, Path]:
    """The source folder's genotype and phenotype files, found as a hospital folder's are
    (`genofed.common.data.layout.site_files`); DataError when it has none."""
    if not folder.is_dir():
        raise DataError(
            folder,
            "a file, not the source cohort's folder" if folder.exists() else "source cohort folder not found",
            hint="a folder with a genotype file and a phenotype file, e.g. FED/sources/near from "
            "`genofed simulate-cohorts --with-sources`",
        )
    site = site_files(folder)
    if site is None:
        raise DataError(folder, "no genotype file in the source folder", hint=RULE_HINT)
    return site.genotypes, site.phenotypes


def _multiclass_source(
    genotypes: Path, phenotypes: Path, panel: VariantPanel, label: str, files: dict[str, str]
) -> SourceData:
    """A source whose `label` column names classes (e.g. superpopulations), at least two. The class
    column is not a 0/1 label, and covariates do not define ancestry, so none are read."""
    samples, names = read_classes(phenotypes, label)
    empty = Phenotypes(
        samples, np.zeros(len(samples), dtype=np.int8), pd.DataFrame(index=pd.Index(samples)), str(phenotypes)
    )
    cohort = join_cohort(read_genotypes(genotypes), empty)
    aligned, _ = align_to_panel(cohort.dosages, cohort.variant_ids, panel, source=cohort.genotype_source)
    by_sample = dict(zip(samples, names, strict=False))
    classes = tuple(sorted(set(names)))
    if len(classes) < 2:
        raise DataError(
            phenotypes,
            f"column {label} has a single class ({classes[0]})",
            hint="a multiclass task needs >= 2 classes",
        )
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index[by_sample[s]] for s in cohort.sample_ids], dtype=np.int64)
    spec = FeatureSpec(alt_freq=panel.alt_freq)
    features = encode(spec, replace(cohort, dosages=aligned, variant_ids=list(panel.variant_ids)))
    return SourceData(features, targets, Task("multiclass", label, classes), files)


def pretrain(
    source: str | Path,
    panel_path: str | Path,
    out: str | Path,
    settings: PretrainSettings,
    *,
    progress: Progress | None = None,
) -> tuple[PretrainedModel, str]:
    """Train on the source cohort and write the pretrained-model file; returns (model, content hash)."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    panel = VariantPanel.load(panel_path)
    data = load_source(source, panel, settings)
    n_outputs = 1 if data.task.kind == "binary" else len(data.task.classes)
    if settings.model == "logistic":
        config = ModelConfig(n_variants=len(panel), n_outputs=n_outputs, architecture="logistic")
    else:
        config = ModelConfig(
            n_variants=len(panel), hidden=settings.hidden, block_size=settings.block_size, n_outputs=n_outputs
        )
    say(
        f"source {source}: {len(data.targets)} people, {_describe_targets(data)}; panel {len(panel)} variants"
    )
    train_idx, val_idx = stratified_split(data.targets, settings.validation_fraction, settings.seed)
    _check_validation_split(data, val_idx, settings.validation_fraction)
    model = build_model(config, seed=settings.seed)
    fit = _fit_logistic if settings.model == "logistic" else _fit
    history, best = fit(model, data, train_idx, val_idx, settings, say)
    provenance = _provenance(Path(source), Path(panel_path), panel, data, (train_idx, val_idx), settings)
    provenance.update(
        {
            "metrics": {
                "best_epoch": best["epoch"],
                "validation": best["validation"],
                "history": history,
                **({"best_l2": best["l2"]} if "l2" in best else {}),
            },
            "seconds": round(time.perf_counter() - started, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "software": {"torch": str(torch.__version__), "python": platform.python_version()},
        }
    )
    pretrained = PretrainedModel(best["state_dict"], config, panel, data.task, provenance)
    digest = save_pretrained(out, pretrained)
    return pretrained, digest


def _check_validation_split(data: SourceData, val_idx: np.ndarray, fraction: float) -> None:
    """Refuse, before any training, a validation split that cannot score a model.

    The best epoch (or L2 strength) is the one that scores best on the validation split; a binary
    task scores by AUC, which needs a case and a control there, and `stratified_split` puts
    `round(fraction * n)` of each class in it, so a source with few cases gets none. Without this,
    training ran to the end and then crashed printing an AUC of None.

    Raises:
        DataError: naming the phenotype file, the source's cases and controls, what the split
            holds, and what to do (a larger `--validation-fraction`, or more people).
    """
    file = data.files.get("phenotypes", "the source's phenotypes")
    targets = data.targets
    if data.task.kind != "binary":
        if not len(val_idx):
            raise DataError(
                file,
                f"with --validation-fraction {fraction:g} the validation split holds no one of the "
                f"{len(targets)} people, but the best epoch is picked on it",
                hint=_split_hint(int(np.bincount(targets).max()), "people"),
            )
        return
    cases = int(targets.sum())
    controls = len(targets) - cases
    held_cases = int(targets[val_idx].sum())
    held_controls = len(val_idx) - held_cases
    if held_cases and held_controls:
        return
    raise DataError(
        file,
        f"the source has {cases} cases and {controls} controls ({data.task.label}); with "
        f"--validation-fraction {fraction:g} its validation split holds {held_cases} cases and "
        f"{held_controls} controls, but the validation AUC that picks the best model needs at "
        "least one of each",
        hint=_split_hint(min(cases, controls), "cases" if cases <= controls else "controls"),
    )


def _split_hint(n: int, who: str) -> str:
    """What to do about a class of `n` people absent from the validation split: the smallest
    two-decimal fraction that holds one (`round(f * n) >= 1` needs `f > 0.5 / n`), or, where no
    fraction below 0.5 does, more people."""
    needed = math.floor(50 / n + 1) / 100 if n >= 2 else 0.5
    if needed < 0.5:
        return f"raise --validation-fraction to {needed:g} or more (below 0.5), or add {who} to the source"
    return f"add {who} to the source: it has {n}, and needs one for training and one for validation"


def _provenance(
    source: Path,
    panel_path: Path,
    panel: VariantPanel,
    data: SourceData,
    split: tuple[np.ndarray, np.ndarray],
    settings: PretrainSettings,
) -> dict[str, Any]:
    """Where the model comes from: the source files and the panel with their hashes, the sample
    counts of the split, the targets and the settings (the caller adds metrics and timing)."""
    train_idx, val_idx = split
    return {
        "source": str(source.resolve()),
        "files": {
            role: {"path": path, "sha256": file_sha256(Path(path))} for role, path in data.files.items()
        },
        "panel": {
            "path": str(panel_path.resolve()),
            "sha256": file_sha256(panel_path),
            "variants": len(panel),
        },
        "samples": int(len(data.targets)),
        "train_samples": int(len(train_idx)),
        "validation_samples": int(len(val_idx)),
        "targets": _describe_targets(data),
        "settings": asdict(settings),
    }


def _fit(
    model: nn.Module,
    data: SourceData,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: PretrainSettings,
    say: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Plain mini-batch SGD (momentum 0.9); keeps the epoch with the best validation score."""
    x = torch.as_tensor(data.features)
    binary = data.task.kind == "binary"
    y = torch.as_tensor(data.targets)
    targets = y.float() if binary else y  # BCE takes 0/1 as floats, cross-entropy class indices
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay
    )
    generator = torch.Generator().manual_seed(settings.seed)
    train = torch.as_tensor(train_idx)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -math.inf}
    with bar(settings.epochs, "pretraining the network (epochs)") as shown:  # on the CLI's terminal only
        say = shown.around(say)  # the epoch lines above the bar
        for epoch in range(1, settings.epochs + 1):
            order = train[torch.randperm(len(train), generator=generator)]
            loss = _epoch(model, optimizer, loss_fn, x, targets, order, settings.batch_size)
            validation = _validate(model, x[val_idx], data.targets[val_idx], binary)
            score = validation["auc"] if binary else validation["accuracy"]
            score = -math.inf if score is None else score
            history.append({"epoch": epoch, "train_loss": loss, **validation})
            say(f"epoch {epoch}/{settings.epochs}: train loss {loss:.4f}, {_score_text(validation)}")
            if score > best["score"]:
                weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = {"score": score, "epoch": epoch, "validation": validation, "state_dict": weights}
            shown.step()
    if "state_dict" not in best:
        raise GenofedError(
            "pretraining never produced a usable validation score (a single class in the validation split?)"
        )
    return history, best


def _fit_logistic(
    model: nn.Module,
    data: SourceData,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: PretrainSettings,
    say: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """L2-regularised maximum likelihood for the linear score, along `settings.l2_path`.

    Why not the network's loop: the fit is convex, so full-batch L-BFGS (strong-Wolfe line search)
    reaches the optimum of each strength in tens of iterations, with no learning rate, batch size
    or epoch count to choose, and the result does not depend on the seed. Early stopping is
    replaced by its convex counterpart: a path of L2 strengths, strongest first, each
    warm-started from the previous optimum, the one with the best validation score kept (the
    path stops once two strengths in a row score no better than the best). Only the variant weights are
    penalised: the intercept and the covariates' few weights are not shrunk.

    The history records one entry per strength ("epoch" numbers them, so `best_epoch` and the
    validation metrics read as for the network; "l2" and "iterations" say what was solved).
    """
    binary = data.task.kind == "binary"
    x = torch.as_tensor(data.features)[torch.as_tensor(train_idx)]
    y = torch.as_tensor(data.targets[train_idx])
    targets = y.float() if binary else y
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    n_variants = model.select.n_selected
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -math.inf}
    worse = 0
    for step, l2 in enumerate(settings.l2_path, start=1):
        optimizer = torch.optim.LBFGS(
            model.parameters(),
            lr=1.0,
            max_iter=settings.max_iter,
            history_size=20,
            tolerance_grad=1e-6,
            tolerance_change=1e-9,
            line_search_fn="strong_wolfe",
        )

        def closure(l2: float = l2) -> torch.Tensor:
            model.zero_grad(set_to_none=True)
            weights = model.linear.weight[:, :n_variants]
            loss = loss_fn(model(x), targets) + 0.5 * l2 * weights.pow(2).sum()
            loss.backward()
            return loss

        model.train()
        optimizer.step(closure)
        iterations = int(optimizer.state[model.linear.weight].get("n_iter", 0))
        with torch.no_grad():
            train_loss = float(loss_fn(model(x), targets))
        validation = _validate(model, torch.as_tensor(data.features[val_idx]), data.targets[val_idx], binary)
        score = validation["auc"] if binary else validation["accuracy"]
        score = -math.inf if score is None else score
        history.append(
            {"epoch": step, "l2": l2, "iterations": iterations, "train_loss": train_loss, **validation}
        )
        say(
            f"L2 {l2:g} ({iterations} L-BFGS iterations): train loss {train_loss:.4f}, "
            + _score_text(validation)
        )
        if score > best["score"]:
            weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = {"score": score, "epoch": step, "validation": validation, "state_dict": weights}
            worse = 0
        else:
            worse += 1
            if worse >= 2:
                break
    if "state_dict" not in best:
        raise GenofedError(
            "pretraining never produced a usable validation score (a single class in the validation split?)"
        )
    best["l2"] = history[best["epoch"] - 1]["l2"]
    return history, best


def _epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
) -> float:
    """One pass over the training rows in `order`; returns the mean training loss per example."""
    model.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[batch]), targets[batch])
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(order)


@torch.no_grad()
def _validate(model: nn.Module, x: torch.Tensor, y: np.ndarray, binary: bool) -> dict[str, Any]:
    model.eval()
    logits = torch.cat([model(x[i : i + 2048]) for i in range(0, len(x), 2048)])
    if binary:
        scores = binary_metrics(y, torch.sigmoid(logits).double().numpy())
        return {"auc": scores["auc"], "accuracy": scores["accuracy"]}
    return {"accuracy": float((logits.argmax(1).numpy() == y).mean())}


def _score_text(validation: dict[str, Any]) -> str:
    """`validation AUC 0.712` or `validation accuracy 0.850`; an undefined AUC (one class in the
    split, which `_check_validation_split` refuses up front) reads `n/a`, never a format error."""
    if "auc" not in validation:
        return f"validation accuracy {validation['accuracy']:.3f}"
    auc = validation["auc"]
    return "validation AUC " + ("n/a (a single class in the split)" if auc is None else f"{auc:.3f}")


def _describe_targets(data: SourceData) -> str:
    if data.task.kind == "binary":
        return f"{int(data.targets.sum())} cases ({data.task.label})"
    counts = np.bincount(data.targets, minlength=len(data.task.classes))
    return ", ".join(f"{c} {n}" for c, n in zip(data.task.classes, counts, strict=False))

"""The privacy-frontier experiment: test AUC against epsilon for every design of the shared model.

For each federation (the default one, and a second one simulated with another seed and demography
that no setting was tuned on), each design (`config.DESIGNS`: the network, the logistic model from
scratch, with a source prior, with a gene prior, each also under distributed DP), each per-site
epsilon and each seed, one real federation: `simulate(settings, references=False)`, the product's
own path (Flower's simulation engine, the real ClientApp and ServerApp), with the product's
defaults except what the design sets. Next to them, on the very same splits
(`simulated_sites`), the references of `references`: pooled non-private logistic regression, each
hospital alone without privacy, and the plain DP logistic regression federation at each epsilon.

A design that cannot run on a federation (no source cohort to pretrain on, no gene list, a
setting the product refuses, a run that fails) is skipped with its reason in results.json and
the report, never silently. Finished runs and references are kept as pieces in OUT, so a rerun
resumes where an interrupted one stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from genofed.client.site import SiteTensors
from genofed.common.data.layout import GENE_LIST, PANEL, TEST, TRUTH, hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import ConfigError, GenofedError
from genofed.common.util.atomic import write_text_atomic
from genofed.common.util.hashing import file_sha256
from genofed.common.util.progress import Progress, silent
from genofed.server.evaluation import TestCohort
from genofed.server.federation import load_test_cohort
from genofed.server.results import MODEL, json_default
from genofed.server.settings import RunSettings
from genofed.simulations.experiments.base import cached, epsilon_key, federation_results
from genofed.simulations.experiments.privacy_frontier import references as refs
from genofed.simulations.experiments.privacy_frontier.config import (
    DEFAULT_DESIGN,
    DESIGNS,
    Design,
    FederationSpec,
    FrontierConfig,
)
from genofed.simulations.experiments.privacy_frontier.report import write_frontier_report
from genofed.simulations.experiments.privacy_frontier.summary import summarise
from genofed.simulations.local import plain_dp_logistic
from genofed.simulations.local.simulate import simulated_sites

RESULTS = "results.json"


def run_frontier_experiment(config: FrontierConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or finish) the experiment in `config.out_dir`; write results.json, report.md and one
    frontier_<federation>.png per federation there, and return the results."""
    say = progress or silent
    started = time.perf_counter()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    designs = [DESIGNS[name] for name in config.designs]
    runs: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    federations: dict[str, Any] = {}
    for spec in config.federations:
        folder = _federation_folder(out, spec, say)
        priors = _priors(out, spec.name, folder, designs, config, say)
        federations[spec.name] = _describe_federation(spec, folder, priors)
        # one per seed, shared by the references and the adaptations: each loads its sites once
        data_id = data_fingerprint(folder, config.run)
        splits = {seed: _Splits(folder, seed, config.run, data_id) for seed in config.seeds}
        for seed in config.seeds:
            references += _references(out, spec.name, splits[seed], config, say)
        for design in designs:
            done, skip = _design_runs(out, spec.name, folder, design, priors, splits, config, say)
            runs += done
            skipped += skip
    results = summarise(config, runs, references, skipped, federations)
    results["wall_seconds"] = time.perf_counter() - started
    write_text_atomic(out / RESULTS, json.dumps(results, indent=2, default=json_default) + "\n")
    results["report"] = str(write_frontier_report(out, results))
    return results


def _federation_folder(out: Path, spec: FederationSpec, say: Progress) -> Path:
    """The federation's folder: the user's, or the preset simulated once into OUT/federations/<name>,
    with its source cohorts when the preset has them (so that a later run with a source-prior
    design finds them: a folder simulated without them is refused, not silently remade)."""
    if spec.data_dir:
        folder = Path(spec.data_dir)
        if not (folder / PANEL).is_file():
            raise ConfigError(
                f"{folder} holds no federation ({PANEL} missing): give a folder `genofed simulate-cohorts` "
                "wrote"
            )
        return folder
    from genofed.simulations.cohorts.build import ensure_cohorts
    from genofed.simulations.cohorts.presets import get_preset

    sources = get_preset(spec.preset).sources is not None
    return ensure_cohorts(
        out / "federations" / spec.name,
        preset=spec.preset,
        seed=spec.seed,
        with_sources=sources,
        progress=say,
    )


@dataclass(frozen=True)
class Priors:
    """Per prior kind ("source", "genes"): the file a design passes, or why there is none."""

    files: dict[str, str]
    missing: dict[str, str]


def _priors(
    out: Path, name: str, folder: Path, designs: list[Design], config: FrontierConfig, say: Progress
) -> Priors:
    files: dict[str, str] = {}
    missing: dict[str, str] = {}
    kinds = {d.prior for d in designs if d.prior}
    if "source" in kinds:
        source = folder / "sources" / "near"
        if source.is_dir():
            model = _source_model(out / "models" / f"{name}-near.pt", source, folder, config, say)
            files["source"] = str(model)
        else:
            missing["source"] = (
                f"{folder} has no related-disease source cohort (sources/near) to pretrain the source "
                "model on: simulate it with --with-sources"
            )
    if "genes" in kinds:
        genes = folder / GENE_LIST
        if not genes.is_file() and (folder / TRUTH).is_file():
            from genofed.simulations.cohorts.gene_list import write_gene_list

            say(f"writing the simulated gene list {genes}")
            write_gene_list(folder)
        if genes.is_file():
            files["genes"] = str(genes)
        else:
            missing["genes"] = f"{folder} has no gene list ({GENE_LIST}) and no {TRUTH} to draw one from"
    return Priors(files, missing)


def _source_model(path: Path, source: Path, folder: Path, config: FrontierConfig, say: Progress) -> Path:
    """The logistic source model, pretrained once per federation on its related-disease source."""
    from genofed.common.scoring.model_file import check_compatible, load_pretrained
    from genofed.server.pretraining.train import pretrain

    if path.exists():
        check_compatible(load_pretrained(path), VariantPanel.load(folder / PANEL), source=str(path))
        return path
    say(f"pretraining the {config.pretrain.model} source model on {source}")
    pretrain(source, folder / PANEL, path, config.pretrain, progress=say)
    return path


def _describe_federation(spec: FederationSpec, folder: Path, priors: Priors) -> dict[str, Any]:
    truth = folder / TRUTH
    made = json.loads(truth.read_text()) if truth.is_file() else {}
    return {
        "folder": str(folder),
        "preset": made.get("preset", spec.preset or None),
        "seed": made.get("seed", spec.seed if spec.preset else None),
        "variants": len(VariantPanel.load(folder / PANEL)),
        "bayes_auc": made.get("bayes_auc"),
        "priors": priors.files,
        "priors_missing": priors.missing,
    }


class _Splits:
    """One federation's sites and test cohort for one seed, loaded on first use (a rerun whose
    reference pieces are all finished loads nothing)."""

    def __init__(self, folder: Path, seed: int, run: RunSettings, data_id: str = "") -> None:
        self.settings = replace(run, data_dir=str(folder), seed=seed)
        self.folder = folder
        self.data_id = data_id or data_fingerprint(folder, run)

    @cached_property
    def panel(self) -> VariantPanel:
        return VariantPanel.load(self.folder / PANEL)

    @cached_property
    def sites(self) -> dict[str, SiteTensors]:
        return simulated_sites(self.settings)

    @cached_property
    def test(self) -> TestCohort:
        test = load_test_cohort(self.settings, self.panel)
        if test is None:
            raise GenofedError(f"{self.folder} has no test cohort (test/): the frontier is measured on it")
        return test


def data_fingerprint(folder: Path, run: RunSettings) -> str:
    """A digest of the data a federation's pieces are computed from: the content of every file of
    each hospital's folder (its genotypes with any companion files, its phenotypes), of the test
    cohort's folder (the run's test-dir, else `folder`/test) and of the panel, with their names and
    the label column read. Other data, or the same folder simulated again, gives another digest."""
    digest = hashlib.sha256(f"label:{run.label_column}\n".encode())

    def add(tag: str, directory: Path) -> None:
        for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
            digest.update(f"{tag}/{path.name}:{file_sha256(path)}\n".encode())

    digest.update(f"panel:{file_sha256(folder / PANEL)}\n".encode())
    for site in hospital_folders(folder):
        add(f"site:{site.name}", site.genotypes.parent)
    test = Path(run.test_dir) if run.test_dir else folder / TEST
    if test.is_dir():
        add("test", test)
    return digest.hexdigest()[:16]


def _references(
    out: Path, name: str, splits: _Splits, config: FrontierConfig, say: Progress
) -> list[dict[str, Any]]:
    """Pooled and each hospital alone (no privacy), and the plain DP logistic regression at each
    epsilon, on `splits` (one seed's). Each piece records the data it was computed from
    (`data_fingerprint`): one of other data, or from before the record, is computed again."""
    pieces = out / "pieces" / name
    seed = splits.settings.seed
    compute = partial(_nonprivate_rows, name, seed, splits, say)
    rows = _data_cached(pieces / f"references-seed{seed}.json", compute, splits.data_id, say)
    for epsilon in config.epsilons:
        piece = pieces / f"dp-logistic-r{config.reference_rounds}-eps{epsilon:g}-seed{seed}.json"
        compute = partial(_dp_logistic_row, name, seed, epsilon, splits, config, say)
        rows += _data_cached(piece, compute, splits.data_id, say)
    return rows


def _data_cached(
    piece: Path, compute: Callable[[], list[dict[str, Any]]], data_id: str, say: Progress
) -> list[dict[str, Any]]:
    """`cached` for a piece computed from the federation's data: its rows carry `data_id`, and a
    piece whose rows record other data (or none: written before the record) is removed first."""
    if piece.exists():
        recorded = {row.get("data_id") for row in json.loads(piece.read_text())}
        if recorded != {data_id}:
            known = sorted(r for r in recorded if r)
            why = f"other data ({known[0][:12]})" if known else "data it did not record"
            say(f"{piece.stem}: computed from {why}; compute again")
            piece.unlink()
    return cached(piece, lambda: [{**row, "data_id": data_id} for row in compute()])


def _nonprivate_rows(name: str, seed: int, splits: _Splits, say: Progress) -> list[dict[str, Any]]:
    say(f"{name}, seed {seed}: pooled and site-alone logistic regressions")
    x, y = splits.test.features, splits.test.labels
    base = {"federation": name, "seed": seed, "epsilon": "inf"}
    rows = [{**base, "reference": "pooled", "site": None, "test_auc": refs.pooled_auc(splits.sites, x, y)}]
    for site, auc in refs.alone_aucs(splits.sites, x, y).items():
        data = splits.sites[site]
        rows.append(
            {
                **base,
                "reference": "alone",
                "site": site,
                "test_auc": auc,
                "train": int(len(data.train_y)),
                "train_cases": int(data.train_y.sum()),
            }
        )
    return rows


def _dp_logistic_row(
    name: str, seed: int, epsilon: float, splits: _Splits, config: FrontierConfig, say: Progress
) -> list[dict[str, Any]]:
    say(f"{name}, seed {seed}: plain DP logistic regression at epsilon {epsilon:g}")
    started = time.perf_counter()
    rule = plain_dp_logistic.settings_rule(splits.panel, config.reference_rounds)
    fed = plain_dp_logistic.federate(splits.sites, rule, epsilon, seed)
    return [
        {
            "federation": name,
            "seed": seed,
            "epsilon": epsilon_key(epsilon),
            "reference": "dp-logistic",
            "site": None,
            "test_auc": plain_dp_logistic.linear_auc(fed.params, splits.test.features, splits.test.labels),
            "noise_multiplier": fed.noise_multiplier,
            "epsilon_spent": None if math.isinf(fed.spent) else fed.spent,
            "wall_seconds": time.perf_counter() - started,
        }
    ]


def design_settings(
    run: RunSettings,
    design: Design,
    folder: Path,
    out_dir: Path,
    seed: int,
    epsilon: float,
    priors: dict[str, str],
    prior_variants: int,
) -> RunSettings:
    """The run settings of one design: the product's `run`, changed only where the design says."""
    return replace(
        run,
        data_dir=str(folder),
        out_dir=str(out_dir),
        seed=seed,
        epsilon=epsilon,
        quiet=True,
        model=design.model,
        prior=priors["source"] if design.prior == "source" else "",
        prior_variants=prior_variants if design.prior == "source" else 0,  # only a source prior has them
        gene_prior=priors["genes"] if design.prior == "genes" else "",
        secagg=design.distributed or run.secagg,
        privacy="distributed" if design.distributed else "local",
    )


def _design_runs(
    out: Path,
    name: str,
    folder: Path,
    design: Design,
    priors: Priors,
    splits: dict[int, _Splits],
    config: FrontierConfig,
    say: Progress,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every (epsilon, seed) run of one design on one federation, and what was skipped and why: a
    privacy level the design does not have, or, after the first failure, the design's other runs
    on this federation."""
    if design.prior in priors.missing:
        return [], [_skip(name, design, priors.missing[design.prior])]
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for epsilon in config.epsilons:
        reason = not_applicable(design, epsilon)
        if reason:
            skipped.append(_skip(name, design, reason, epsilon))
            continue
        for seed in config.seeds:
            tag = f"{design.name}-eps{epsilon:g}-seed{seed}"
            run_dir = out / "runs" / name / tag
            try:
                settings = design_settings(
                    config.run, design, folder, run_dir, seed, epsilon, priors.files, config.prior_variants
                )
                trains_with = resolved_id(settings, splits[seed].panel)
                data_id = splits[seed].data_id
                compute = partial(
                    _federated_row, name, design, epsilon, seed, settings, trains_with, data_id, say
                )
                piece, adapted_piece = (
                    out / "pieces" / name / f"{tag}.json",
                    out / "pieces" / name / f"{tag}-adapted.json",
                )
                _drop_if_other_settings(piece, run_dir, settings, trains_with, say, data_id)
                if not piece.exists():  # a run (re)done now: an adaptation of an earlier model is stale
                    adapted_piece.unlink(missing_ok=True)
                rows += cached(piece, compute)
                if design.name == DEFAULT_DESIGN:
                    adapt = partial(_adapted_rows, name, tag, settings, splits[seed], say)
                    rows[-1]["adapted"] = {r["site"]: r["test_auc"] for r in cached(adapted_piece, adapt)}
            except Exception as error:  # recorded and reported, never silent
                reason = f"{tag} failed: {type(error).__name__}: {error}"
                say(f"{name}: design {design.name} skipped: {reason}")
                return rows, [*skipped, _skip(name, design, reason)]
    return rows, skipped


def resolved_id(settings: RunSettings, panel: VariantPanel) -> str:
    """The id of what the run trains with: `settings` after the model's rule fills them
    (`server.start_model`) and a digest of the round-0 model it sends, so that a changed rule
    shows in the id whether it moves a setting (the lr, the step share) or only the model's fixed
    input scale (the covariates' share, the column exponent), which no setting records."""
    from genofed.server.start_model import start_model

    begin = start_model(settings, panel)
    digest = hashlib.sha256()
    for name in sorted(begin.weights):
        digest.update(name.encode())
        digest.update(begin.weights[name].detach().cpu().numpy().tobytes())
    return f"{begin.settings.experiment_id()}-{digest.hexdigest()[:12]}"


def _drop_if_other_settings(
    piece: Path, run_dir: Path, settings: RunSettings, trains_with: str, say: Progress, data_id: str = ""
) -> None:
    """Remove a finished piece and its run when they were made with other run settings (e.g. another
    --prior-variants: the settings id the piece recorded, `RunSettings.experiment_id` of the
    design's settings, is not these settings'), trained with other rule-filled settings (the
    rule changed since: its recorded `resolved_id` is not `trains_with`) or on other data (its
    recorded `data_id`, `data_fingerprint`, is not `data_id`). A piece from before an id was
    recorded is kept on what it has."""
    if not piece.exists():
        return
    row = next(iter(json.loads(piece.read_text())), {})
    recorded, trained, data = row.get("settings_id"), row.get("resolved_id"), row.get("data_id")
    if recorded not in (None, settings.experiment_id()):
        say(f"{run_dir.name}: made with other settings ({recorded[:12]}); run again")
    elif trained not in (None, trains_with):
        say(f"{run_dir.name}: trained with other rule-filled settings ({trained[:12]}); run again")
    elif data_id and data not in (None, data_id):
        say(f"{run_dir.name}: trained on other data ({data[:12]}); run again")
    else:
        return
    piece.unlink()
    shutil.rmtree(run_dir, ignore_errors=True)


def not_applicable(design: Design, epsilon: float) -> str:
    """Why `design` has no run at `epsilon` ("" when it has one): distributed DP splits a noise
    budget, so without one (no DP) it is the local design's run, which hospitals refuse to redo
    under another name."""
    if design.distributed and math.isinf(epsilon):
        return (
            "distributed DP splits the noise of a finite budget among the sites; without DP there is no "
            f"noise to split (the no-DP run is {design.name.removesuffix('-distributed')}'s)"
        )
    return ""


def _skip(federation: str, design: Design, reason: str, epsilon: float | None = None) -> dict[str, Any]:
    return {
        "federation": federation,
        "design": design.name,
        "epsilon": None if epsilon is None else epsilon_key(epsilon),
        "reason": reason,
    }


def _federated_row(
    name: str,
    design: Design,
    epsilon: float,
    seed: int,
    settings: RunSettings,
    trains_with: str,
    data_id: str,
    say: Progress,
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    results = federation_results(settings, say, f"{name}: {design.name}, epsilon {epsilon:g}, seed {seed}")
    _check_trained(results)
    seconds = results.get("wall_seconds") or time.perf_counter() - started
    row = run_row(name, design, epsilon, seed, results, seconds)
    return [{**row, "settings_id": settings.experiment_id(), "resolved_id": trains_with, "data_id": data_id}]


def _adapted_rows(
    name: str, tag: str, settings: RunSettings, splits: _Splits, say: Progress
) -> list[dict[str, Any]]:
    """Each hospital's local adaptation of the run's final model (`genofed adapt`), on the test
    cohort: what a hospital gets from the federation when it also uses its own patients at home."""
    say(f"{name}: {tag}: each hospital's local adaptation of the final model")
    test = splits.test
    model = Path(settings.out_dir) / MODEL
    aucs = refs.adapted_aucs(model, splits.panel, splits.sites, test.features, test.labels)
    return [{"site": site, "test_auc": auc} for site, auc in aucs.items()]


class NothingTrained(GenofedError):
    """A federation whose every round every hospital refused: its model is the initial one."""


def _check_trained(results: dict[str, Any]) -> None:
    """Refuse a run in which no hospital ever trained (every round refused everywhere): its test
    AUC would be the untrained model's, not the design's."""
    refusals = results.get("refusals") or {}
    rounds = (results.get("config") or {}).get("rounds") or 0
    sites = set(results.get("sites") or {})
    if rounds and len(refusals) >= rounds and all(set(r) >= sites for r in refusals.values()):
        first = next(iter(next(iter(refusals.values())).values()), "")
        raise NothingTrained(f"every hospital refused every round, e.g.: {first}")


def run_row(
    federation: str, design: Design, epsilon: float, seed: int, results: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """One federated run as results.json lists it: what it measured, what it cost, what each site
    spent (every per-site epsilon the run records: against the coordinator, and under distributed
    DP against a coalition)."""
    config = results.get("config") or {}
    sites = results.get("sites") or {}
    return {
        "federation": federation,
        "design": design.name,
        "epsilon": epsilon_key(epsilon),
        "seed": seed,
        "test_auc": results.get("test_auc"),
        "wall_seconds": seconds,
        "seconds_per_round": results.get("seconds_per_round"),
        "rounds": config.get("rounds"),
        "model": config.get("model"),
        "variants_read": (results.get("prior") or {}).get("variants"),
        "refused_rounds": len(results.get("refusals") or {}),
        "site_epsilons": {site: _epsilons(data) for site, data in sites.items()},
    }


def _epsilons(site: dict[str, Any]) -> dict[str, Any]:
    """Every epsilon results.json records for one site."""
    return {key: value for key, value in site.items() if "epsilon" in key}

"""`genofed inspect-model`: verify a model file and say what it is and where it came from.

Three kinds of model file share one format (`common/scoring/model_file.py`): a `genofed pretrain`
model, a federated run's RUN/model.pt and a hospital's `genofed adapt` file. What a coordinator,
a data-protection officer or a clinician must check differs between them (a pretrained model's
source cohort; a federated model's privacy spent; an adapted model's keep-it-inside warning), and
a logistic model has none of a network's settings. So the description is assembled per kind and
per architecture, and a line is printed only for what the file records: never a "None". The one
exception is who a binary model was validated on: a file that does not record it says so, since a
clinician must know that `genofed predict` cannot check a patient's age against it.

torch loads inside the handler, so `genofed inspect-model --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genofed.common.scoring.model_file import ModelFile

#: The config fields that shape each architecture (the others are ignored by it).
_NETWORK_FIELDS = ("block_size", "hidden_per_block", "hidden", "linear_path")


def register_inspect_model(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect-model",
        help="verify a model file and show what it is and where it came from",
        description=(
            "Check a model file's content hash (and, with --panel, that it fits a federation's panel), "
            "then print what applies to it: its task, model and panel; for a `genofed pretrain` file its "
            "source cohort and training; for a federated run's model.pt its rounds, hospitals, privacy "
            "spent and test figures; for a `genofed adapt` file the shared model it came from, its fit, "
            "and that it must stay inside the hospital; the operating threshold and percentiles "
            "`genofed predict` uses; and who it was validated on (ages, sex mix) with the calibration "
            "verdict there, or that the file does not record them. What a coordinator or a "
            "data-protection officer should look at before using it."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="the model file")
    parser.add_argument("--panel", metavar="FILE", help="also check it against this federation panel.tsv")
    parser.add_argument(
        "--expect-hash",
        metavar="SHA256",
        default=None,
        help="refuse unless its content hash starts with this (at least 12 hex digits; an empty value is "
        "refused, not ignored)",
    )
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.set_defaults(handler=run_inspect_model)


def run_inspect_model(args: argparse.Namespace) -> int:
    import json

    from genofed.common.data.panel import VariantPanel
    from genofed.common.scoring.model_file import (
        check_compatible,
        check_expected_hash,
        load_model_file,
        parameter_count,
    )

    expected_hash = check_expected_hash(args.expect_hash)
    model = load_model_file(args.model, expected_hash=expected_hash)
    if args.panel:
        check_compatible(model, VariantPanel.load(args.panel), source=args.model)
    info = {
        "file": args.model,
        "content_hash": model.content_hash,
        "kind": model_kind(model),
        "task": model.task.to_dict(),
        "model_config": applicable_config(model),
        "parameters": parameter_count(model),
        "panel_variants": len(model.panel),
        "fits_panel": args.panel or None,
        "operating": {
            key: model.operating.get(key)
            for key in ("threshold", "threshold_note", "risk_distribution")
            if key in model.operating
        },
        "provenance": model.provenance,
        # who it was tested on and the calibration verdict there; None: the file does not record it
        "validated_on": model.validated_on or None,
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{args.model}: intact (content hash {model.content_hash})")
    for line in describe_lines(model, parameters=info["parameters"], panel=args.panel):
        print(f"  {line}")
    return 0


def model_kind(model: ModelFile) -> str:
    """ "adapted", "federated" or "pretrained": the provenance's kind (a `genofed pretrain` file
    records none)."""
    return str(model.provenance.get("kind") or "pretrained")


def applicable_config(model: ModelFile) -> dict[str, Any]:
    """The model config less the fields its architecture ignores (a logistic model has no blocks
    or hidden layer), and less `selected`, which `describe_lines` says in words."""
    config = model.model_config.to_dict()
    config.pop("selected", None)
    if model.model_config.architecture == "logistic":
        for name in _NETWORK_FIELDS:
            config.pop(name, None)
    return config


def _task_line(model: ModelFile) -> str:
    """'task: binary 'disease'': what the model predicts and the column it was trained on. A deployed
    federation's hospitals each read their own column (`label-column` in their node config), which
    they never send: the file's label is the coordinator's, its test cohort's column ('label' when it
    had none), and the line says so. A walkthrough's model read "task: binary 'label'" where every
    hospital had trained on a column named 'disease'."""
    classes = f", classes {', '.join(model.task.classes)}" if model.task.classes else ""
    prov = model.provenance
    settings = prov.get("settings") or {}
    deployed = prov.get("kind") == "federated" and _number(settings.get("expected-nodes"))
    if not (deployed and float(settings["expected-nodes"]) > 0):
        return f"task: {model.task.kind} '{model.task.label}'{classes}"
    own = "each hospital's own disease column (label-column in its node config, which it does not send)"
    if (prov.get("metrics") or {}).get("test"):
        return (
            f"task: {model.task.kind}{classes}, trained on {own}; '{model.task.label}' in the "
            "coordinator's test cohort"
        )
    return f"task: {model.task.kind}{classes}, trained on {own}"


def describe_lines(model: ModelFile, *, parameters: int, panel: str | None = None) -> list[str]:
    """The human description, one line per fact the file records (see the module docstring)."""
    config, prov = model.model_config, model.provenance
    kind = model_kind(model)
    lines = []
    if kind == "adapted":
        lines.append(f"KEEP INSIDE THE HOSPITAL: {prov.get('privacy')}")
        if prov.get("warning"):
            lines.append(f"warning: {prov['warning']}")
    lines.append(_task_line(model))
    lines.append(_model_line(model, parameters))
    lines.append(f"panel: {len(model.panel):,} variants" + (f"; matches {panel}" if panel else ""))
    if config.selected:
        lines.append(f"  reads {len(config.selected):,} of them (a prior's or a gene list's selection)")
    describe = {"adapted": _adapted_lines, "federated": _federated_lines}.get(kind, _pretrained_lines)
    lines += describe(prov)
    lines += _operating_lines(model.operating, model.provenance)
    lines += _validated_lines(model)
    return lines


def _model_line(model: ModelFile, parameters: int) -> str:
    config = model.model_config
    outputs = f", {config.n_outputs} outputs" if config.n_outputs != 1 else ""
    if config.architecture == "logistic":
        read = len(config.selected) or config.n_variants
        return (
            f"model: logistic, {parameters:,} parameters ({read:,} variant weights, "
            f"{config.n_covariates} covariate weights, "
            f"{'an intercept' if config.n_outputs == 1 else f'{config.n_outputs} intercepts'}){outputs}"
        )
    shape = ", ".join(f"{name} {getattr(config, name)}" for name in _NETWORK_FIELDS)
    return f"model: network, {parameters:,} parameters ({shape}){outputs}"


def _pretrained_lines(prov: dict[str, Any]) -> list[str]:
    """A `genofed pretrain` file: its source cohort and files, and how it was trained."""
    lines = []
    people = _join(
        [
            f"{prov['samples']:,} people" if _number(prov.get("samples")) else None,
            str(prov["targets"]) if prov.get("targets") else None,
        ],
        ": ",
    )
    if prov.get("source"):
        lines.append(f"source: {prov['source']}" + (f" ({people})" if people else ""))
    for role, entry in (prov.get("files") or {}).items():
        if entry.get("path"):
            sha = f" sha256 {str(entry['sha256'])[:16]}..." if entry.get("sha256") else ""
            lines.append(f"  {role}: {entry['path']}{sha}")
    metrics, settings = prov.get("metrics") or {}, prov.get("settings") or {}
    validation = metrics.get("validation") or {}
    scores = ", ".join(f"{k} {v:.3f}" for k, v in validation.items() if _number(v))
    trained = [
        f"on {prov['created']}" if prov.get("created") else None,
        f"seed {settings['seed']}" if settings.get("seed") is not None else None,
        f"best L2 strength {metrics['best_l2']:g}" if _number(metrics.get("best_l2")) else None,
        f"best epoch {metrics['best_epoch']}"
        if metrics.get("best_epoch") is not None and "best_l2" not in metrics
        else None,
        f"validation {scores}" if scores else None,
    ]
    if any(trained):
        lines.append("trained: " + _join(trained, ", "))
    return lines


def _ended_early_words(ended: Any) -> str | None:
    """'ended early after round 7 of 8 planned, the model of round 6' for a SecAgg+ run that
    stopped since no later round could complete (`provenance.ended_early`); None otherwise."""
    if not isinstance(ended, dict):
        return None
    return (
        f"ended early after round {ended.get('after_round')} of {ended.get('rounds_planned')} planned, "
        f"the model of round {ended.get('model_round')}"
    )


def _federated_lines(prov: dict[str, Any]) -> list[str]:
    """A federated run's model: the run, its hospitals, the privacy they spent, its test figures."""
    from genofed.common.scoring.model_file import source_text

    settings = prov.get("settings") or {}
    sites = prov.get("sites") or {}
    run = [
        f"{prov['rounds']} rounds" if prov.get("rounds") is not None else None,
        _ended_early_words(prov.get("ended_early")),
        f"{len(sites)} hospitals" if sites else None,
        f"{prov['samples']:,} patients" if _number(prov.get("samples")) else None,
        f"strategy {settings['strategy']}" if settings.get("strategy") else None,
        f"seed {settings['seed']}" if settings.get("seed") is not None else None,
        f"on {prov['created']}" if prov.get("created") else None,
    ]
    lines = [
        f"source: {source_text(prov) or 'a federated run'}" + (f" ({_join(run, ', ')})" if any(run) else "")
    ]
    lines += _privacy_lines(prov.get("epsilon") or {}, settings, prov.get("epsilon_this_run"))
    lines += _start_lines(prov.get("started_from") or {})
    metrics = prov.get("metrics") or {}
    test = metrics.get("test") or {}
    figures = [
        f"test AUC {test['auc']:.3f} on {test['n']} people"
        if _number(test.get("auc")) and test.get("n")
        else None,
        f"Brier {test['brier']:.3f}" if _number(test.get("brier")) else None,
    ]
    evaluation = metrics.get("site_evaluation") or {}
    if _number(evaluation.get("auc")):
        from genofed.common.scoring.operating import trained_with_dp

        figures.append(_validation_auc_words(evaluation, private=trained_with_dp(prov)))
    if any(figures):
        lines.append("figures: " + _join(figures, ", "))
    at_threshold = metrics.get("test_at_threshold")
    if isinstance(at_threshold, dict):
        from genofed.common.scoring.operating import held_out_figures_words, recorded_prevalence

        threshold = f"at the operating threshold {at_threshold['threshold']:g}"
        lines.append(f"{threshold}, {held_out_figures_words(at_threshold, recorded_prevalence(prov))}")
    return lines


def _validation_auc_words(evaluation: dict[str, Any], *, private: bool = False) -> str:
    """The hospitals' pooled noisy validation AUC with the spread its DP noise alone gives it
    (`auc_noise_sd`), or "uninformative" where that spread reaches both 0 and 1, as the run's
    report says: a bare 1.000 with a noise sd of 7.5 reads as a perfect model."""
    from genofed.common.reporting.auc import normal_interval

    auc, noise = float(evaluation["auc"]), evaluation.get("auc_noise_sd")
    if not _number(noise):
        return f"hospitals' noisy validation AUC {auc:.3f}"
    if float(noise) == 0.0 and not private:  # a run without DP: exact counts, no noise to spread it
        return f"hospitals' validation AUC {auc:.3f} (exact counts: a run without DP)"
    interval = normal_interval(auc, float(noise), "DP noise")
    name = "hospitals' noisy validation AUC"
    if interval.uninformative:
        return f"{name} uninformative at this privacy level (its noise sd {float(noise):.2f})"
    return f"{name} {auc:.3f} ({interval.low:.3f}-{interval.high:.3f} from the DP noise alone)"


def _start_lines(start: dict[str, Any]) -> list[str]:
    """The model the run started from (`--pretrained`); for a federation's own model, what its
    hospitals had spent on it, which composes with the spend above for hospitals in both runs."""
    if not start.get("content_hash"):
        return []
    line = f"started from model {str(start['content_hash'])[:12]}"
    from genofed.common.scoring.model_file import most_spent

    most = most_spent(start.get("epsilon"))
    if start.get("kind") == "federated" and most is not None:
        line += (
            f", a federated model whose training had spent epsilon up to {most:.2f} per hospital: "
            "for a hospital in both runs the two spends compose (add up, at most)"
        )
    return [line]


def _privacy_lines(epsilon: dict[str, Any], settings: dict[str, Any], this_run: Any = None) -> list[str]:
    """Each hospital's epsilon spent, summarised: the most any spent, against the budget. A hospital
    reports its ledger's total (every run it took part in); where some ledger held more than this
    run's releases (`this_run`, a file since 2026-12-07: an earlier study's spend), the line names
    the total as such and gives this run's figure beside it (`server.results._this_run_spend`)."""
    spent = [float(v) for v in epsilon.values() if _number(v)]
    budget = settings.get("epsilon")
    delta = f", delta {settings['delta']:g}" if _number(settings.get("delta")) else ""
    if spent:
        of = f" of the budget {float(budget):g}" if _number(budget) and math.isfinite(float(budget)) else ""
        run = this_run if isinstance(this_run, dict) else {}
        before = any(
            _number(total) and _number(run.get(name)) and float(total) > float(run[name]) + 0.005
            for name, total in epsilon.items()
        )
        if before:
            most_run = max(float(v) for v in run.values() if _number(v))
            return [
                f"privacy: epsilon spent at most {max(spent):.2f}{of} per hospital{delta} ({len(spent)} "
                f"hospitals), as ledger totals over every run a hospital took part in; in this run alone "
                f"(its releases on the coordinator's record) at most {most_run:.2f} (privacy losses compose "
                "sub-additively: the difference is not what a hospital spent before)"
            ]
        most = f"privacy: epsilon spent at most {max(spent):.2f}{of} per hospital{delta}"
        return [f"{most} ({len(spent)} hospitals)"]
    if budget is not None and str(budget) == "inf":
        return ["privacy: none (trained without differential privacy)"]
    return []


def _adapted_lines(prov: dict[str, Any]) -> list[str]:
    """A hospital's adaptation: where it was fitted, from which shared model, the fit and the
    comparison on the hospital's validation patients."""
    lines = []
    if prov.get("source"):
        lines.append(f"source: {prov['source']}" + (f", on {prov['created']}" if prov.get("created") else ""))
    shared = prov.get("shared_provenance") or {}
    if prov.get("shared_model"):
        came = f" ({shared['source']})" if shared.get("source") else ""
        lines.append(f"adapted from the shared model {str(prov['shared_model'])[:12]}{came}")
    fit = prov.get("fit") or {}
    parts = [
        f"{fit['train']} training patients" if fit.get("train") is not None else None,
        f"L2 C {fit['l2_c']:g}" if _number(fit.get("l2_c")) else None,
        f"weight on the shared score {fit['weight_on_shared']:.3g}"
        if _number(fit.get("weight_on_shared"))
        else None,
    ]
    calibration = fit.get("calibration") or {}
    if _number(calibration.get("slope")):
        parts.append(f"calibrated out of fold: slope {calibration['slope']:.3g}")
    if any(parts):
        lines.append("fit: " + _join(parts, ", "))
    validation = prov.get("validation") or {}
    if _number(validation.get("shared_auc")) and _number(validation.get("adapted_auc")):
        from genofed.common.scoring.adapt import comparison_caveat_beside

        caveat = comparison_caveat_beside(prov)
        lines.append(
            f"validation: AUC on {validation.get('patients')} patients: shared "
            f"{validation['shared_auc']:.4f}, adapted {validation['adapted_auc']:.4f}"
            + (f" ({caveat})" if caveat else "")
        )
    return lines


def _operating_lines(operating: dict[str, Any], provenance: Any) -> list[str]:
    """What `genofed predict` uses beyond the weights: the threshold (or why there is none) and
    the risk distribution for percentiles, its count said noisy or exact as `predict` says it
    (`exact_counts`, of the file's `provenance` too); nothing for a file that has neither (a
    pretrain file)."""
    if not operating:
        return []
    threshold = operating.get("threshold") or {}
    lines = []
    if _number(threshold.get("threshold")):
        where = threshold.get("source") or threshold.get("note")
        lines.append(f"operating threshold: {threshold['threshold']:g}" + (f"; {where}" if where else ""))
    elif operating.get("threshold_note"):
        lines.append(f"operating threshold: none ({operating['threshold_note']})")
    distribution = operating.get("risk_distribution") or {}
    if _number(distribution.get("patients")):
        from genofed.common.scoring.operating import exact_counts, percentiles_shown

        exact = exact_counts(operating, provenance)
        lines.append(
            f"percentiles: from a risk distribution of {distribution['patients']:.0f} validation patients"
            + ("" if exact else " (a noisy count)")
            + (
                ""
                if percentiles_shown(distribution, exact=exact)
                else f"; `genofed predict` does not show them: {_moved(distribution, exact=exact)}"
            )
        )
    elif "risk_distribution" in operating:
        lines.append("percentiles: none (no risk distribution in the file)")
    return lines


def _moved(distribution: dict[str, Any], *, exact: bool) -> str:
    """How far a percentile of `distribution` moves (one sd): by its DP noise and sampling so few
    people together (`total_percentile_sd`), or, for exact counts (`exact`: an adapted model's, or
    a run's without DP), by sampling alone (`sampling_percentile_sd`); for noisy counts whose noise
    the file does not record (a DP run whose replies named none), by sampling and that noise."""
    from genofed.common.scoring.operating import (
        MAX_PERCENTILE_SD,
        sampling_percentile_sd,
        total_percentile_sd,
    )

    sampled = sampling_percentile_sd(distribution)
    noise = float(distribution.get("percentile_sd") or 0)
    if not noise and not exact:
        return (
            f"sampling so few people moves one by up to {sampled or 0:.0f} points (one sd), and the DP "
            "noise, which the file does not record, more"
        )
    if not noise:
        return f"sampling so few people alone moves one by up to {sampled or 0:.0f} points (one sd)"
    if sampled is None:
        return f"the noise alone moves one by up to {noise:.0f} points (one sd)"
    # one decimal: whole numbers read a withheld 4.6 and 3.0 (5.5 together) as "5 and 3: 6"
    return (
        f"the noise moves one by up to {noise:.1f} points and sampling so few people by up to {sampled:.1f}: "
        f"{total_percentile_sd(distribution):.1f} together (one sd; shown up to {MAX_PERCENTILE_SD:g})"
    )


def _validated_lines(model: ModelFile) -> list[str]:
    """Who the model was validated on, the calibration verdict there and the run report's fitness
    verdict (`validated_on`, `genofed.common.scoring.validation`), and for an adapted model the
    shared model's own; for a
    binary model whose file does not record them, that it does not (what `genofed predict` says
    too); nothing for a multi-class model without them, which `predict` does not score."""
    from genofed.common.scoring.validation import calibration_words, fitness_words, population_words

    record = model.validated_on
    if not record and model.task.kind != "binary":
        return []
    lines = [f"validated on: {population_words(record)}"]
    if record:
        lines.append(f"  calibration there: {calibration_words(record)}")
    shared = record.get("shared_model") if record else None
    if shared:
        lines.append(f"the shared model it came from was validated on: {population_words(shared)}")
        lines.append(f"  calibration there: {calibration_words(shared)}")
    if model.task.kind == "binary":  # what `genofed predict` warns of
        lines.append(f"run report's verdict: {fitness_words(record or {})}")
    return lines


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _join(parts: list[str | None], separator: str) -> str:
    return separator.join(part for part in parts if part)

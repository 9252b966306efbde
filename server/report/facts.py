"""The report's closing sections for the ML engineer: the run facts table and the full configuration.

Together they say how the run was set up and what it cost, so that it can be reproduced or
questioned without opening results.json.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from genofed.common.reporting.formatting import NOT_MEASURED, fmt_bytes, fmt_duration, fmt_int
from genofed.common.reporting.ratios import Prevalence
from genofed.common.reporting.tables import markdown_table
from genofed.common.scoring.model_file import most_spent
from genofed.server.report.privacy import privacy_summary_line
from genofed.server.report.privacy_mode import privacy_mode_text
from genofed.server.report.reading import config_value, mapping, md_text, number, rounds


def _model_text(results: Mapping[str, Any]) -> str:
    """'logistic, 20,829 parameters (n_variants=..., ...)': the model, its size and shape; a
    sub-panel as its size, not its index list."""
    model = mapping(results.get("model"))
    if not model:
        return NOT_MEASURED
    params = fmt_int(model.get("parameters"))
    kind = str(model.get("architecture", "network"))
    network_only = ("block_size", "hidden_per_block", "hidden", "linear_path")
    skip = {"parameters", "architecture", "selected", *(network_only if kind == "logistic" else ())}
    shape = ", ".join(f"{k}={v}" for k, v in model.items() if k not in skip)
    selected = model.get("selected")
    reads = f"; reads {fmt_int(len(selected))} of the panel's variants" if selected else ""
    return f"{kind}, {params} parameters" + (f" ({shape}{reads})" if shape else "")


def _completed_rounds(results: Mapping[str, Any]) -> str:
    """Training rounds run (round 0 is the initial model, not a round), else the configured count;
    for a run that ended before its last round, of how many planned and why."""
    trained = [r for r in rounds(results) if (number(r.get("round")) or 0) > 0]
    ended = mapping(results.get("ended_early"))
    if trained and ended:
        return (
            f"{len(trained)} of the {ended.get('rounds_planned')} planned (the model is round "
            f"{ended.get('model_round')}'s); the run ended early: " + md_text(ended.get("reason"))
        )
    if trained:
        return str(len(trained))
    configured = config_value(results, ("rounds", "num_rounds", "num-rounds"))
    return str(configured) if configured is not None else NOT_MEASURED


def _secagg_text(results: Mapping[str, Any]) -> str:
    """Whether the coordinator could see one hospital's update (SecAgg+ off) or only their sum."""
    if results.get("secagg"):
        return "on (SecAgg+): the coordinator saw only the sum of the hospitals' updates"
    return "off: the coordinator saw each hospital's update"


def _prior_text(prior: Mapping[str, Any]) -> str:
    """What public prior knowledge chose the model's variants and start ("" without one)."""
    if not prior:
        return ""
    parts = []
    genes = mapping(prior.get("gene_list"))
    if genes:
        variants = fmt_int(genes.get("variants"))
        parts.append(f"the {variants} panel variants in the gene list {genes.get('file')}")
    source = mapping(prior.get("source"))
    if source:
        # results written before the start was recorded per run said weights (logistic sources)
        start = source.get("start") or "started from its weights"
        parts.append(
            f"the top {fmt_int(source.get('k'))} variants of source model "
            f"{str(source.get('content_hash', ''))[:16]}; start: {start}"
        )
    return f"public prior: {fmt_int(prior.get('variants'))} variants (" + "; ".join(parts) + ")"


def _fresh_text(results: Mapping[str, Any]) -> str:
    """What a run without a pretrained model or prior started from: the model it actually used."""
    model = mapping(results.get("model"))
    kind = str(model.get("architecture", "network")) if model else None  # as `_model_text` reads it
    if kind == "logistic":
        return "a fresh logistic model: every weight and the bias at zero (everyone scored alike at round 0)"
    seed = config_value(results, ("seed",))
    seeded = f", seed {seed}" if seed is not None else ""
    if kind:
        return f"a fresh {kind} with random weights{seeded}"
    return f"a fresh model (its architecture was not recorded{seeded})"


def _start_text(results: Mapping[str, Any]) -> str:
    """Where round 0 came from, and how much of it the hospitals trained (privately)."""
    trained = results.get("trainable_parameters")
    trained_text = f"; hospitals trained {fmt_int(trained)} parameters" if trained else ""
    pretrained = mapping(results.get("pretrained"))
    if not pretrained:
        prior = _prior_text(mapping(results.get("prior")))
        return (prior or _fresh_text(results)) + trained_text
    source = pretrained.get("source") or "an unnamed source"
    task = mapping(pretrained.get("task"))
    samples = pretrained.get("source_samples")
    people = f", {fmt_int(samples)} people" if samples else ""
    return (
        f"pretrained on {source} ({task.get('kind', '?')} task '{task.get('label', '?')}'{people}; "
        f"content hash {str(pretrained.get('content_hash', ''))[:16]}), "
        f"fine-tuned '{results.get('finetune', 'full')}'"
        + trained_text
        + _earlier_spend(pretrained, mapping(results.get("epsilon")))
    )


def _earlier_spend(pretrained: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """For a start from a federation's own model: what its hospitals had spent on it, which this
    run's ledgers do not hold ("" for a public source), and for each hospital by the same name in
    both runs (`now`: this run's epsilon by hospital) the two composed by basic composition: the
    epsilons add, and so do the deltas."""
    most = most_spent(pretrained.get("epsilon"))
    if pretrained.get("kind") != "federated" or most is None:
        return ""
    text = (
        f"; a federation's model: its training had spent epsilon up to {most:.2f} per hospital, "
        "not in this run's ledgers: for a hospital in both runs the two spends compose"
    )
    earlier = mapping(pretrained.get("epsilon"))
    both = {
        site: (float(earlier[site]), float(now[site]))
        for site in sorted(set(earlier) & set(now))
        if number(earlier[site]) is not None and number(now[site]) is not None
    }
    if not both:
        return text
    totals = ", ".join(f"{site} {a:.2f} + {b:.2f} = {a + b:.2f}" for site, (a, b) in both.items())
    return text + f" (by basic composition the epsilons add, and so do the two runs' deltas: {totals})"


#: What a resumed run's wall time leaves out (said beside it, so that it is not read as the span
#: from the first launch to the end).
BETWEEN_LAUNCHES = "time between them not counted"


def launch_count(results: Mapping[str, Any]) -> int:
    """How many launches the run took (a resume adds one); 1 when results.json does not say (a run
    written before `launches` existed, or never resumed)."""
    launches = number(results.get("launches"))
    return int(launches) if launches is not None and launches > 1 else 1


def over_launches(results: Mapping[str, Any]) -> str:
    """' over 2 launches' for a resumed run whose wall time was measured, else ''."""
    launches = launch_count(results)
    if launches == 1 or number(results.get("wall_seconds")) is None:
        return ""
    return f" over {launches} launches"


def wall_time_text(results: Mapping[str, Any]) -> str:
    """The run's wall time, e.g. '2 h 03 min over 2 launches (time between them not counted)' for
    a resumed run: `wall_seconds` sums its launches, and without saying so a reader would take it
    for one uninterrupted stretch."""
    over = over_launches(results)
    return fmt_duration(results.get("wall_seconds")) + (f"{over} ({BETWEEN_LAUNCHES})" if over else "")


def run_facts_section(results: Mapping[str, Any]) -> str:
    """Strategy, rounds, time, traffic, model, starting point and privacy, one row each."""
    rows = [
        ["Strategy", results.get("strategy") or NOT_MEASURED],
        ["Secure aggregation", _secagg_text(results)],
        ["Rounds", _completed_rounds(results)],
        ["Wall time", wall_time_text(results)],
        ["Time per round", fmt_duration(results.get("seconds_per_round"))],
        ["Sent per hospital per round", fmt_bytes(results.get("bytes_sent_per_client_per_round"))],
        ["Model", _model_text(results)],
        ["Starting model", _start_text(results)],
        ["Augmentation", results.get("augment") or "not used"],
        ["Privacy mode", privacy_mode_text(results)],
        ["Privacy", privacy_summary_line(results, markdown=True).removeprefix("Privacy: ")],
    ]
    ended = _ended_early_text(results)
    return "## Run facts\n\n" + markdown_table(["", ""], rows) + (f"\n\n{ended}" if ended else "")


#: Where why a SecAgg+ run ends early is said, once (`_ended_early_text`).
ENDED_EARLY_DOC = "docs/secure-aggregation.md, 'A run that ends early'"


def _ended_early_text(results: Mapping[str, Any]) -> str:
    """Below the Run facts table, for a SecAgg+ run that ended early: each refusing hospital's
    own reason (results.json `ended_early.refused`), each reason once after the hospitals that
    gave it, and where why the run ended is explained; "" otherwise, and for a results.json from
    before the refusals were recorded apart (its long reason names them in the Rounds row)."""
    refused = mapping(mapping(results.get("ended_early")).get("refused"))
    if not refused:
        return ""
    by_reason: dict[str, list[str]] = {}
    for site, reason in sorted(refused.items(), key=lambda item: str(item[0])):
        by_reason.setdefault(md_text(str(reason).rstrip(".")), []).append(md_text(site))
    said = "; ".join(f"{', '.join(sites)}: {reason}" for reason, sites in by_reason.items())
    return (
        f"Why the run ended early: the hospitals refused its plan ({said}). A refusal for a reason of "
        "the hospital's own repeats in every later round, so no later round could be unmasked, and the "
        f"run ended rather than charge the hospitals left for rounds it could not use ({ENDED_EARLY_DOC})."
    )


def _config_cell(value: Any) -> str:
    """A setting as written: 'not set' for None, floats without trailing zeros."""
    if value is None:
        return "not set"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _is_off(value: Any) -> bool:
    """An empty, zero or infinite setting: the option is switched off."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0 or math.isinf(value)
    return not value


#: Settings that act only together with another one: (setting, does it apply?, when it would).
_CONDITIONAL: tuple[tuple[str, Callable[[Mapping[str, Any]], bool], str], ...] = (
    ("trim-beta", lambda c: c.get("strategy") == "fedtrimmedavg", "only with strategy fedtrimmedavg"),
    (
        "malicious-nodes",
        lambda c: c.get("strategy") in ("krum", "multikrum"),
        "only with strategy krum or multikrum",
    ),
    ("proximal-mu", lambda c: c.get("strategy") == "fedprox", "only with strategy fedprox"),
    ("server-lr", lambda c: c.get("strategy") == "fedadam", "only with strategy fedadam"),
    ("max-coalition-epsilon", lambda c: c.get("privacy") == "distributed", "only with privacy distributed"),
    (
        "synthetic-generator",
        lambda c: not _is_off(c.get("synthetic-ratio")),
        "only with a synthetic-ratio above 0",
    ),
    (
        "synthetic-epsilon",
        lambda c: not _is_off(c.get("synthetic-ratio")),
        "only with a synthetic-ratio above 0",
    ),
    ("prior-variants", lambda c: not _is_off(c.get("prior")), "only with a prior"),
    ("pretrained-hash", lambda c: not _is_off(c.get("pretrained")), "only with a pretrained model"),
    ("wait-seconds", lambda c: not _is_off(c.get("expected-nodes")), "only with expected-nodes above 0"),
)


def _not_applying(config: Mapping[str, Any]) -> dict[str, str]:
    """{setting: why it had no effect in this run}, for settings whose companion option is off.

    A reader who sees `malicious-nodes 1` in a fedavg run would otherwise think the run defended
    against a malicious hospital.
    """
    return {key: when for key, applies, when in _CONDITIONAL if key in config and not applies(config)}


def _prevalence_cell(value: Any, prevalence: Prevalence | None) -> str:
    """The prevalence setting, and the prevalence the report used when the setting was left at 0."""
    cell = _config_cell(value)
    if not _is_off(value):
        return cell
    if prevalence is None:
        return f"{cell} (not set: PPV and NPV are at the test cohort's case share only)"
    return f"{cell} (not set; the report uses {100 * prevalence.value:.3g} %, {prevalence.source})"


def config_section(results: Mapping[str, Any], prevalence: Prevalence | None = None) -> str:
    """Every setting, last, so the ML engineer can reproduce the run without reading results.json;
    settings that had no effect in this run say so, and `prevalence` shows the value the report used."""
    config = mapping(results.get("config"))
    if not config:
        return "## Appendix: full configuration\n\nThe configuration was not recorded." + _rule_line(results)
    idle = _not_applying(config)
    rows = []
    for key, value in sorted(config.items()):
        cell = _prevalence_cell(value, prevalence) if key == "prevalence" else _config_cell(value)
        shown = key in idle and value not in ("", None)  # an empty setting needs no such note
        rows.append([key, f"{cell} (does not apply: {idle[key]})" if shown else cell])
    return (
        "## Appendix: full configuration\n\n"
        + markdown_table(["Setting", "Value"], rows)
        + _rule_line(results)
    )


def _rule_line(results: Mapping[str, Any]) -> str:
    """The operating threshold's rule as the run recorded it (results.json `operating_point.rule`):
    the clinician's sections say it in plain words (`bedside.plain_rule`), the exact wording is here."""
    point = mapping(results.get("operating_point"))
    rule = point.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        return ""
    threshold = number(point.get("threshold"))
    at = f" (risk >= {threshold:.3f})" if threshold is not None else ""
    return f"\n\n**Operating threshold rule**{at}, as the run recorded it: {md_text(rule.strip())}"

"""Reading a run's results dict defensively: every value may be missing or malformed.

A baseline may have been skipped, a metric may be undefined on a one-class split, an old
results.json may lack a key: the readers here return an empty mapping, an empty list or None
instead of raising, and the report then says "not measured", because a run that took hours must
never lose its report to one absent number.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# A finite float, or None for None/NaN/inf/non-numbers: all of which mean "not measured".
from genofed.common.reporting.formatting import finite_number as number


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one: a missing or malformed record reads as empty."""
    return value if isinstance(value, Mapping) else {}


def site_values(per_site: Any) -> list[float]:
    """The measured values of a {site: value} dict; missing ones are dropped, not counted as 0."""
    return [v for v in (number(x) for x in mapping(per_site).values()) if v is not None]


def median(values: Sequence[float]) -> float | None:
    """The median of `values`, or None when there are none."""
    return statistics.median(values) if values else None


def rounds(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-round records in round order; records that are not mappings are skipped."""
    records = results.get("rounds")
    return sorted(
        (r for r in records or [] if isinstance(r, Mapping)), key=lambda r: number(r.get("round")) or 0.0
    )


#: The characters that can start Markdown markup inside a line (emphasis, code, links, images,
#: raw HTML, headings, strikethrough, entities; a table cell's pipe is `markdown_table`'s to escape).
#: An underscore between two letters or digits (`Rostov_RCH`) starts nothing in CommonMark and is
#: left alone.
_MARKUP = re.compile(r"[\\`*\[\]<>!#~&]|(?<![^\W_])_|_(?![^\W_])")


def md_text(text: Any) -> str:
    """`text` as literal Markdown text on one line: every markup character escaped, line breaks
    made spaces.

    Why: a site name (and a hospital's refusal reason) is the hospital's own text. Unescaped in
    report.md, `![x](https://...)` became an image report.html fetched, and a newline followed by
    `## Verdict: approved` a heading of the coordinator's report. Used wherever the report
    renders a site name; lookups by name keep the raw one."""
    return _MARKUP.sub(r"\\\g<0>", " ".join(str(text).split()))


def dp_on(results: Mapping[str, Any]) -> bool:
    """DP is on exactly when the run had a budget: `epsilon_budget: null` is the schema's 'no DP'."""
    return number(results.get("epsilon_budget")) is not None


def site_names(results: Mapping[str, Any]) -> list[str]:
    """Every site any part of the results mentions, largest first (then by name, for stability),
    but those that trained in no round (`never_trained`): they are no source of the federated model,
    and the report lists them apart, with why (`absent_sites`).

    Sorting by size puts the hospitals that dominate the federated model at the top, and lets a
    reader see at a glance whether small sites gain most from federating.
    """
    sites = mapping(results.get("sites"))
    names: set[str] = set(sites)
    for key in ("local_only_auc", "local_only_nonprivate_auc", "epsilon"):
        names.update(mapping(results.get(key)))
    # a hospital that never trained is not one of the federation's sources (absent_sites says why)
    names -= set(never_trained(results))

    def size(name: str) -> float:
        return number(mapping(sites.get(name)).get("samples")) or 0.0

    return sorted(names, key=lambda name: (-size(name), name))


def absent_sites(results: Mapping[str, Any]) -> dict[str, str]:
    """The hospitals that never trained, by name, with why: the last reason they gave, or that they
    were never sampled.

    A hospital whose data fail their checks never introduces itself, so it is missing from `sites`
    and from every round's participants; only `refusals` (round -> hospital -> reason) records that
    it was asked and why it did not train. A hospital that introduced itself (it is in `sites`) but
    trained in no round (refused every round it was asked, or, under --fraction-train below 1, was
    never sampled) did not take part either (`never_trained`). The model card and the Hospitals table
    must say so: otherwise the report reads as if the federation had only the hospitals that
    trained. A name is a hospital's folder name in a simulation and `node-N` in a deployed run whose
    hospital never said its name.
    """
    trained = trained_sites(results)
    took_part = set(mapping(results.get("sites"))) if trained is None else set(trained)
    for record in rounds(results):
        took_part.update(record.get("participants") or [])
    absent = never_trained(results)
    for site in results.get("not_connected") or []:
        if site not in took_part:
            absent[str(site)] = "enrolled, but not connected when the run started"
    for site, reason in mapping(results.get("turned_away")).items():
        if site not in took_part:
            absent[str(site)] = f"connected, but turned away by the coordinator at the start: {reason}"
    refusals = mapping(results.get("refusals"))
    for round_ in sorted(refusals, key=lambda key: number(key) or 0.0):
        for site, reason in mapping(refusals[round_]).items():
            if site not in took_part:
                absent[str(site)] = str(reason or "no reason given")
    return dict(sorted(absent.items()))


def trained_sites(results: Mapping[str, Any]) -> set[str] | None:
    """The hospitals that trained in at least one round (a round record's `participants`); None when
    no training round records its participants (an old or partial results.json), where who trained
    cannot be told and every hospital in `sites` is taken to have taken part, as before."""
    training = [r for r in rounds(results) if (number(r.get("round")) or 0.0) >= 1]
    if not any(isinstance(r.get("participants"), list) for r in training):
        return None
    return {str(site) for r in training for site in r.get("participants") or []}


def never_trained(results: Mapping[str, Any]) -> dict[str, str]:
    """The hospitals in `sites` that trained in no round, each with why: sampled and refused is
    `absent_sites`' reason (their refusal); otherwise, under --fraction-train below 1, never sampled.

    Why: such a hospital introduced itself, so it is in `sites` with its declared sizes, and the
    report listed it as a training source (an audit's run at --fraction-train 0.3 never drew one of
    three hospitals in 2 rounds: its model card row said "training")."""
    trained = trained_sites(results)
    if trained is None:
        return {}
    count = sum(1 for r in rounds(results) if (number(r.get("round")) or 0.0) >= 1)
    fraction = number(config_value(results, ("fraction-train", "fraction_train")))
    plural = "s" if count != 1 else ""
    if fraction is not None and fraction < 1:
        reason = f"never sampled in {count} round{plural} at fraction-train {fraction:g}"
    else:
        reason = f"trained in none of the {count} round{plural}"
    return {str(site): reason for site in mapping(results.get("sites")) if str(site) not in trained}


def site_epsilon(results: Mapping[str, Any], site: str) -> Any:
    """Epsilon spent by a site: the per-site record first, the top-level epsilon dict as fallback."""
    value = mapping(mapping(results.get("sites")).get(site)).get("epsilon")
    if number(value) is None:
        value = mapping(results.get("epsilon")).get(site)
    if number(value) is None and site in never_trained(results):
        return _untrained_spend(results, site)
    return value


def _untrained_spend(results: Mapping[str, Any], site: str) -> float:
    """What a hospital that trained in no round spent on the run: its recorded release cost, else 0
    (it released nothing), rather than "not measured", which reads as if it spent an unknown amount."""
    return number(mapping(mapping(results.get("release_costs")).get(site)).get("run")) or 0.0


def run_spend(results: Mapping[str, Any], site: str) -> float | None:
    """What a hospital spent in this run alone: results.json `release_costs.NAME.run`, this run's
    releases composed (recomputed from public facts with the ledgers' accountant); None without it.

    `site_epsilon` is what the hospital reported: its ledger's total, every run it took part in."""
    return number(mapping(mapping(results.get("release_costs")).get(site)).get("run"))


#: How far a ledger's total may sit above this run's spend and still be the same figure (two decimals).
SAME_SPEND = 0.005


def spent_before(results: Mapping[str, Any], site: str) -> bool:
    """Whether the hospital's ledger total is above what this run's releases composed to: its ledger
    held spending from before this run (an earlier study's; or a release of this run not on the
    coordinator's record: an update it refused, a deployed hospital's synthetic-data generator,
    so the report's words say "every release its ledger holds"). Privacy losses compose sub-additively
    (Renyi DP), so the difference of the two is not what it spent before. False when this run's
    spend is not recorded (an older results.json): the report then says what it said before."""
    total, run = number(site_epsilon(results, site)), run_spend(results, site)
    return total is not None and run is not None and total > run + SAME_SPEND


#: What a ledger's total holds beyond this run's releases on the coordinator's record. Not only an
#: earlier run's: an update the coordinator refused (screened out, or a reply after round-timeout)
#: was charged all the same, and a deployed hospital's synthetic-data generator was charged before
#: the federation (`spent_before`), so a first run can have a ledger total above its record too.
LEDGER_ALSO_WORDS = (
    "whatever else it was charged: an earlier run's releases, a synthetic-data generator's made for this "
    "run, or a release of this run the coordinator has no record of (an update it refused, or received "
    "after round-timeout)"
)

#: What the report adds where a hospital's ledger held spending from before this run.
SPENT_BEFORE_WORDS = (
    ": in this run (its releases on the coordinator's record), and its ledger's total over every run it "
    "took part in (a hospital reports that "
    "total; the run's epsilon caps it). Privacy losses compose sub-additively, so the difference of "
    "the two is not what a hospital spent before this run"
)


def any_spent_before(results: Mapping[str, Any]) -> bool:
    """Whether some hospital's ledger held spending from before this run (`spent_before`): the report
    then gives this run's spend and the ledger's total apart wherever it gives a hospital's epsilon."""
    return any(spent_before(results, site) for site in site_names(results))


def deployed(results: Mapping[str, Any]) -> bool:
    """Whether the run was a deployed federation's (`coordinator start`): its config waits for the
    enrolled hospitals (`expected-nodes` above 0), which a simulation's never does."""
    return (number(config_value(results, ("expected-nodes", "expected_nodes"))) or 0.0) > 0


def prevalence_option(results: Mapping[str, Any]) -> str:
    """Where the run's `prevalence` setting is given, in the context the run came from: a
    deployed federation's `coordinator init` (fixed with the folder; `coordinator start` takes no
    settings), else `genofed simulate`. Why: a deployed report said "pass `--prevalence`", which
    neither `coordinator init` nor `coordinator start` had (a new-user walkthrough)."""
    if deployed(results):
        return "`genofed coordinator init --prevalence P`, when the federation folder is made"
    return "`genofed simulate --prevalence P`"


def config_value(results: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The first of `keys` set (not None) in the run's config: a setting may have several spellings."""
    config = mapping(results.get("config"))
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    return None


def cohort_size(results: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(people, cases) in the held-out test cohort, each None when not recorded."""
    metrics = mapping(results.get("test_metrics"))
    return number(metrics.get("n")), number(metrics.get("cases"))

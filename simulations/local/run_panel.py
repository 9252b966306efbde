"""The panel of a simulated run: the federation folder's own, or one built the way a real
federation must build it, from the hospitals' released variant summaries.

A real federation has no trusted party that sees every site's genotypes, so its panel comes from
what each hospital releases (`genofed hospital variants`, rounded counts by default) combined by
`genofed coordinator panel`. When the folder `genofed simulate --data` is given has no
`panel.tsv`, the simulation does exactly that, in process, from the hospitals whose data passes
its checks (a hospital refused for its data takes no part in the run, so it must not shape the
panel), and writes the panel into the run's output folder (never into the user's data folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from genofed.common.data.cohort import GenotypeMatrix
from genofed.common.data.layout import PANEL, SiteFolder, hospital_folders
from genofed.common.data.loading import load_site
from genofed.common.data.panel import MIN_COVERAGE, VariantPanel, align_to_panel
from genofed.common.data.panel_building import DEFAULT_MIN_SITES, build_panel
from genofed.common.data.readers._files import examples
from genofed.common.data.variant_names import read_variant_names
from genofed.common.data.variant_summary import VariantSummary, rounded_summary
from genofed.common.errors import DataError


def panel_for_run(
    data_dir: Path,
    out_dir: Path,
    *,
    label_column: str = "label",
    test_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The panel file a run over `data_dir` uses.

    Args:
        data_dir: the federation folder (one sub-folder per hospital).
        out_dir: the run's output folder: a built panel goes to `out_dir/panel.tsv`.
        label_column: the phenotype files' label column, for the data checks that decide which
            hospitals' summaries the panel is built from (`usable_summaries`).
        test_dir: the run's named test cohort (`hospital_folders`), never a hospital.
        progress: told, in one line, when a panel was built and from how many hospitals.

    Returns:
        `data_dir/panel.tsv` when it exists, else the panel built from the rounded variant
        summaries of the hospitals whose data passes its checks (the default rules of
        `genofed coordinator panel`).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    existing = data_dir / PANEL
    if existing.is_file():
        return existing
    sites = hospital_folders(data_dir, test_dir=test_dir)
    summaries, reasons = usable_summaries(sites, label_column)
    refused = list(reasons)
    min_sites = min(DEFAULT_MIN_SITES, len(summaries))
    panel, _report = build_panel(summaries, min_sites=min_sites)
    short = [s.site for s in summaries if _coverage(panel, s) < MIN_COVERAGE]
    array_note = ""
    if short and min_sites < len(summaries):
        # a hospital on another genotyping array would refuse the panel (its ClientApp needs 90 %)
        array_note = (
            f", since {examples(short)} would cover less than {MIN_COVERAGE:.0%} of the variants in "
            f">= {min_sites} (another genotyping array?)"
        )
        min_sites = len(summaries)
        panel, _report = build_panel(summaries, min_sites=min_sites)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = out_dir / PANEL
    panel.save(built)
    if progress is not None:
        why = "; ".join(refusal_words(name, error, label_column) for name, error in reasons.items())
        left_out = f"; not from {examples(refused)}, whose data is refused: it cannot take part ({why})"
        progress(
            f"no {PANEL} in {data_dir}: built one from {_from_whom(len(sites), refused)} "
            f"(rounded counts, present in >= {min_sites} sites{array_note}): {len(panel)} variants -> {built}"
            + (left_out if refused else "")
        )
    return built


def _coverage(panel: VariantPanel, summary: VariantSummary) -> float:
    """The share of the panel a site covers, as its ClientApp aligns its data (`align_to_panel` on
    its variant ids alone: no patient's genotypes are needed to count the matches)."""
    no_rows = np.zeros((0, len(summary.variant_ids)), dtype=np.int8)
    _, alignment = align_to_panel(no_rows, summary.variant_ids, panel, source=summary.site, min_coverage=0.0)
    return alignment.coverage


def usable_summaries(
    sites: list[SiteFolder], label_column: str
) -> tuple[list[VariantSummary], dict[str, DataError]]:
    """(the rounded variant summaries of the hospitals whose data passes `load_site`'s checks,
    {name: its refusal} of those whose data does not).

    A hospital refused for its data cannot take part in the run, so it must not shape the panel
    either: its variants and frequencies would decide what every other hospital trains on. The
    checks are those its ClientApp runs, bar the panel's coverage (there is no panel yet). When no
    hospital passes, the first refusal is raised: there is nothing to build a panel from.
    """
    summaries: list[VariantSummary] = []
    refused: dict[str, DataError] = {}
    first = None
    for site in sites:
        try:
            cohort = load_site(site.genotypes, site.phenotypes, label_column=label_column).cohort
        except DataError as exc:
            refused[site.name] = exc
            first = first or exc
            continue
        matrix = GenotypeMatrix(
            cohort.dosages, cohort.sample_ids, cohort.variant_ids, source=cohort.genotype_source
        )
        summary = rounded_summary(site.name, matrix)
        summary.names = read_variant_names(site.genotypes, summary.variant_ids)
        summaries.append(summary)
    if not summaries and first is not None:
        raise first
    return summaries, refused


def refusal_words(name: str, error: DataError, label_column: str) -> str:
    """Why hospital `name`'s data is refused, in one clause for the panel's progress line: its
    problem and what to do. A label column under another name gets the federation's remedy, not the
    single file's: `--label-column` names every hospital's column, so the walkthrough's hint "pass
    --label-column Заболевание" (one hospital's name for it) would have refused the other two."""
    hint = error.hint or ""
    if error.problem.startswith(f"no '{label_column}' column"):
        hint = (
            f"--label-column names every hospital's disease column: rename this hospital's to "
            f"'{label_column}', or give every file one name and pass that"
        )
    return f"{name}: {error.problem}" + (f"; what to do: {hint}" if hint else "")


def _from_whom(hospitals: int, refused: list[str]) -> str:
    """Whose summaries the panel was built from, as the progress line says it."""
    if not refused:
        return f"the {hospitals} hospitals' variant summaries"
    return f"the variant summaries of {hospitals - len(refused)} of the {hospitals} hospitals"

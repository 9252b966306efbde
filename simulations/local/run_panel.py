"""The panel of a simulated run: the federation folder's own, or one built the way a real
federation must build it, from the hospitals' released variant summaries.

A real federation has no trusted party that sees every site's genotypes, so its panel comes from
what each hospital releases (`genofed hospital variants`, rounded counts by default) combined by
`genofed coordinator panel`. When the folder `genofed simulate --data` is given has no
`panel.tsv`, the simulation does exactly that, in process, and writes the panel into the run's
output folder (never into the user's data folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genofed.common.data.layout import PANEL, hospital_folders
from genofed.common.data.panel_building import DEFAULT_MIN_SITES, build_panel
from genofed.common.data.variant_summary import summarize_genotypes


def panel_for_run(
    data_dir: Path,
    out_dir: Path,
    *,
    label_column: str = "label",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The panel file a run over `data_dir` uses.

    Args:
        data_dir: the federation folder (one sub-folder per hospital).
        out_dir: the run's output folder: a built panel goes to `out_dir/panel.tsv`.
        label_column: the phenotype files' label column (unused by the panel itself; kept so
            that hospital discovery can depend on it).
        progress: told, in one line, when a panel was built and from what.

    Returns:
        `data_dir/panel.tsv` when it exists, else the panel built from the hospitals' rounded
        variant summaries (the default rules of `genofed coordinator panel`).
    """
    del label_column  # see Args
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    existing = data_dir / PANEL
    if existing.is_file():
        return existing
    sites = hospital_folders(data_dir)
    summaries = [summarize_genotypes(site.name, site.genotypes) for site in sites]
    min_sites = min(DEFAULT_MIN_SITES, len(summaries))
    panel, _report = build_panel(summaries, min_sites=min_sites)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = out_dir / PANEL
    panel.save(built)
    if progress is not None:
        progress(
            f"no {PANEL} in {data_dir}: built one from the {len(sites)} hospitals' variant summaries "
            f"(rounded counts, present in >= {min_sites} sites): {len(panel)} variants -> {built}"
        )
    return built

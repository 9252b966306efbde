"""The `genofed hospital check` command line of a simulated federation's first hospital, which
several tests run again and again with other options."""

from __future__ import annotations

from pathlib import Path

from genofed.common.data.layout import hospital_folders


def check_args(site: Path, cohorts: Path, *options: str) -> list[str]:
    """`hospital check SITE` on the first hospital of `cohorts` against its panel, then `options`."""
    data = hospital_folders(cohorts)[0]
    return [
        "hospital",
        "check",
        str(site),
        "--genotypes",
        str(data.genotypes),
        "--phenotypes",
        str(data.phenotypes),
        "--panel",
        str(cohorts / "panel.tsv"),
        *options,
    ]

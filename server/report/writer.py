"""Assembling the report: the sections in reading order, and writing RUN/report.md with its plots.

Every file is written to a temporary name and renamed (`genofed.common.util.atomic`), plots first
and report.md last, so a report.md that exists is complete and the images it links to exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic
from genofed.server.report.facts import config_section, run_facts_section
from genofed.server.report.metrics import final_model_section
from genofed.server.report.plots import (
    AUC_PLOT,
    PRIVACY_PLOT,
    learning_curve_section,
    plot_auc_per_round,
    plot_privacy_per_round,
)
from genofed.server.report.privacy import privacy_section
from genofed.server.report.sites import hospitals_section
from genofed.server.report.summary import headline
from genofed.server.report.synthetic import synthetic_section

REPORT_NAME = "report.md"


def write_report(run_dir: Path, results: dict) -> Path:
    """Write RUN/report.md and its plots from a run's results dict; return the report's path.

    Plots are written before the Markdown so that the report never links to an image that a crash
    prevented from being written; plots that cannot be drawn (no rounds, DP off) are left out and
    the report says why. `run_dir` is created if needed; `results` is not modified.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        AUC_PLOT: plot_auc_per_round(run_dir / AUC_PLOT, results),
        PRIVACY_PLOT: plot_privacy_per_round(run_dir / PRIVACY_PLOT, results),
    }
    report = run_dir / REPORT_NAME
    write_text_atomic(report, render_markdown(results, plots))
    return report


def render_markdown(results: Mapping[str, Any], plots: Mapping[str, bool]) -> str:
    """The whole report as Markdown; `plots` says which image files exist (name -> written).

    Separate from `write_report` so the text can be tested and previewed without touching disk.
    The order serves the readers in turn: the clinician's headline first, then the hospitals and
    privacy, and every setting last.
    """
    sections = [
        "# Federated training report",
        headline(results),
        learning_curve_section(plots.get(AUC_PLOT, False)),
        hospitals_section(results),
        synthetic_section(results),
        privacy_section(results, plots.get(PRIVACY_PLOT, False)),
        final_model_section(results),
        run_facts_section(results),
        config_section(results),
    ]
    return "\n\n".join(s.strip("\n") for s in sections if s) + "\n"

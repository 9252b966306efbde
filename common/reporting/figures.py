"""Figures for the run report and the experiments' reports: matplotlib without pyplot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genofed.common.util.atomic import atomic_path


def new_figure() -> Any:
    """A figure on the Agg canvas, without pyplot: no global state, no display, safe in threads.

    matplotlib is imported here so that importing a report module (the coordinator service) stays light.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")

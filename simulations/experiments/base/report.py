"""The report writer every experiment uses, and the number formats its tables share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import write_text_atomic

#: The report's file name inside OUT.
REPORT = "report.md"

Results = dict[str, Any]
Render = Callable[[Results, bool], str]
Plot = Callable[[Path, Results], bool]


def write_report(
    out_dir: Path, results: Results, render: Render, plot: Plot | None = None, plot_name: str = ""
) -> Path:
    """Write OUT/report.md: the plot first, then the Markdown that links it, so that a crash
    never leaves a dangling link.

    Args:
        out_dir: the experiment's folder.
        results: what the experiment measured (its JSON).
        render: results and whether the plot was drawn -> the Markdown.
        plot: draws the plot into its path, False if there is nothing to draw; None: no plot.
        plot_name: the plot's file name inside `out_dir`.
    """
    out_dir = Path(out_dir)
    plotted = plot(out_dir / plot_name, results) if plot is not None else False
    path = out_dir / REPORT
    write_text_atomic(path, render(results, plotted))
    return path


def privacy_label(value: Any) -> str:
    """A stored privacy level ("inf" or a number) as a reader says it."""
    return "no DP" if value == "inf" else f"epsilon {float(value):g}"


def plus_minus(mean: float | None, sd: float | None, *, signed: bool = False) -> str:
    """ "0.712 +- 0.031" (or "+0.012 +- ..." when `signed`), "-" when not measured."""
    if mean is None:
        return "-"
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    return text + (f" +- {sd:.3f}" if sd is not None else "")


def number(value: float | None) -> str:
    """Three decimals, "-" when not measured."""
    return "-" if value is None else f"{value:.3f}"


def signed(value: float | None) -> str:
    """Three decimals with a sign (a gain), "-" when not measured."""
    return "-" if value is None else f"{value:+.3f}"

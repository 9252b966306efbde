"""Figures for the run report and the experiments' reports: matplotlib without pyplot."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from genofed.common.util.atomic import atomic_path

CONFIG_ENV = "MPLCONFIGDIR"


def new_figure() -> Any:
    """A figure on the Agg canvas, without pyplot: no global state, no display, safe in threads.

    matplotlib is imported here so that importing a report module (the coordinator service) stays light.
    """
    _writable_matplotlib_config()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")


def _writable_matplotlib_config() -> None:
    """Give matplotlib a private temporary config folder (removed at exit) when its default one
    (`$XDG_CONFIG_HOME/matplotlib`, else `~/.config/matplotlib`) cannot be written and
    `MPLCONFIGDIR` is not set. Why: a service account or a clinician's read-only home got two lines
    from matplotlib on every report ("mkdir -p failed ... it is highly recommended to set the
    MPLCONFIGDIR environment variable") for what it then does itself; nothing of it is theirs to fix."""
    if os.environ.get(CONFIG_ENV):
        return
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    folder = Path(base) / "matplotlib"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return
    except OSError:
        pass
    private = tempfile.mkdtemp(prefix="genofed-matplotlib-")
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    os.environ[CONFIG_ENV] = private

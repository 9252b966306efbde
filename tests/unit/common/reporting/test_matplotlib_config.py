"""A report drawn where matplotlib's config folder cannot be written says nothing of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRAW = """
from pathlib import Path
import sys
from genofed.common.reporting.figures import new_figure, save_figure
figure = new_figure()
figure.add_subplot().plot([0, 1], [0, 1])
save_figure(figure, Path(sys.argv[1]))
"""


def test_a_home_that_cannot_be_written_draws_without_matplotlibs_warning(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("a file: no folder can be made under it, even by root")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME")}
    drawn = subprocess.run(
        [sys.executable, "-c", DRAW, str(tmp_path / "figure.png")],
        capture_output=True,
        text=True,
        env=dict(env, HOME=str(home), TMPDIR=str(tmp_path)),
    )
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "figure.png").stat().st_size > 0
    assert "MPLCONFIGDIR" not in drawn.stderr and "mkdir" not in drawn.stderr
    assert not list(tmp_path.glob("genofed-matplotlib-*"))  # the private folder is gone at exit

"""A run folder that already holds a run: refused unless the user says resume or replace.

`genofed simulate --out RUN` writes results, the report, the final model, checkpoints and the
simulated hospitals' privacy ledgers into RUN. Running again into the same folder silently used
to overwrite the outputs and, worse, carry the previous run's ledgers over, so that the new
run's privacy plot sat flat at the budget with no word why. Now:

- RUN missing or empty, or holding only RUN/cohorts of this run's preset and seed: a new run;
- `--resume`: continue from RUN/checkpoints, ledgers included (as before); refused when RUN holds
  no checkpoint (a typo of --out would otherwise start a new run where the user meant to continue)
  and when it holds a finished run (its results.json; the ServerApp refuses that too);
- `--force`: the previous run's outputs are deleted first, its privacy ledgers included, so the
  new run starts with fresh ledgers. Kept: the --data folder wherever it is (never deleted), and
  RUN/cohorts when this run simulates the same preset and seed into it (the same bytes again).
  A RUN that also holds anything a run does not write (a clinician's notes, a folder of the
  user's) is refused and nothing is deleted: an audit lost such files to --force;
- otherwise: a ConfigError that names what RUN holds and the two flags.

Only a folder that looks like a genofed run (`RUN_MARKERS`) is ever emptied, so a mistyped
`--out ~ --force` refuses instead of deleting a home folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from genofed.common.errors import ConfigError

#: What a `genofed simulate` run writes into RUN (any one of them marks a run folder).
RUN_MARKERS = (
    "results.json",
    "federation-results.json",  # a simulation stopped after its federation, before its results.json
    "report.md",
    "checkpoints",
    "privacy-ledgers",
    "cohorts",
    "model.pt",
)
#: Everything else a run writes into RUN (the report's pages and plots, the test predictions, a
#: panel built from the hospitals' summaries): with RUN_MARKERS, all that `--force` deletes.
#: Names kept here, not imported, for the reason below.
RUN_OUTPUTS = (
    *RUN_MARKERS,
    "report.html",
    "test_predictions.csv",
    "reference_predictions.csv",
    "panel.tsv",
    "auc_per_round.png",
    "privacy_per_round.png",
    "calibration.png",
)
#: The names `genofed report` keeps an older genofed's report under (`writer.keep_unsigned`): not a
#: run's outputs (they may hold someone's notes), so --force refuses a folder holding one.
EARLIER_REPORTS = ("report.md.earlier", "report.html.earlier")
#: A finished run's results (`genofed.server.results.RESULTS`, not imported: it loads torch).
RESULTS = "results.json"
#: A run's checkpoints folder (`genofed.server.checkpoint.CHECKPOINTS`, not imported: it loads torch).
CHECKPOINTS = "checkpoints"
#: Where `genofed simulate` without --data simulates its hospitals, inside RUN.
COHORTS = "cohorts"


@dataclass(frozen=True)
class Cohorts:
    """The cohorts a run without --data simulates into RUN/cohorts: which preset, which seed."""

    preset: str
    seed: int


def prepare_run_folder(
    out: Path, *, data: Path, force: bool, resume: bool, simulated: Cohorts | None = None
) -> list[str]:
    """Make RUN ready for a new run, or refuse; return the names of what was deleted.

    Args:
        out: the run folder (`--out`).
        data: the federation folder the run reads (`--data`, or RUN/cohorts); never deleted.
        force: replace a previous run's outputs (`--force`).
        resume: continue the previous run (`--resume`): RUN is left as it is.
        simulated: the cohorts this run simulates into RUN/cohorts (None with --data); kept
            under --force when RUN/cohorts holds the same preset and seed.
    """
    if force and resume:
        raise ConfigError(
            "--force and --resume contradict each other: --resume continues the run in --out, "
            "--force replaces it; pass one"
        )
    if out.resolve() == data.resolve():
        raise ConfigError(f"--out {out} is the --data folder: choose another --out")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder: choose another --out")
    if resume and not any((out / CHECKPOINTS).glob("round-*.pt")):
        where = "does not exist" if not out.exists() else f"holds no checkpoint ({CHECKPOINTS}/round-*.pt)"
        raise ConfigError(
            f"--resume: {out} {where}, so there is no run to continue: drop --resume to start one"
        )
    if resume and (out / RESULTS).exists():
        raise ConfigError(
            f"--resume: {out} holds a finished run ({RESULTS}), so there is nothing to continue: --force "
            "replaces it, or choose another --out"
        )
    held = sorted(entry.name for entry in out.iterdir()) if out.is_dir() else []
    if not held or resume or (held == [COHORTS] and simulated and _holds_cohorts(out / COHORTS, simulated)):
        return []  # nothing of a run yet (or the very cohorts this run would simulate)
    if not any(name in RUN_MARKERS for name in held):  # before --force's advice, which would fail
        raise ConfigError(
            f"--out {out} holds files that are not a genofed run ({_listed(held)})"
            + ("; --force only replaces a previous run" if force else "")
            + ": choose another --out (a new or empty folder)"
        )
    if not force:
        raise ConfigError(
            f"--out {out} already holds a run ({_listed(held)}): pass --resume to continue it from its "
            "checkpoints, --force to replace it (its outputs and privacy ledgers are deleted, so the "
            "new run starts with fresh ledgers), or choose another --out"
        )
    # the user's --data is kept wherever it is; RUN/cohorts (no --data) only when it is this run's
    keep = {_child_holding(out, data)} if simulated is None and _inside(out, data) else set()
    if simulated is not None and _holds_cohorts(out / COHORTS, simulated):
        keep.add(COHORTS)
    deleted = [name for name in held if name not in keep]
    foreign = [name for name in deleted if not _run_output(name)]
    if foreign:
        kept = [name for name in foreign if name.startswith(EARLIER_REPORTS)]
        why = f" ({_listed(kept)}: an older report `genofed report` kept, perhaps with notes)" if kept else ""
        raise ConfigError(
            f"--out {out} holds a previous run and also {_listed(foreign)}, which no run writes{why}: "
            "--force deletes only a run's outputs, so nothing was deleted; move those elsewhere first, or "
            "choose another --out"
        )
    for name in deleted:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return deleted


def _run_output(name: str) -> bool:
    """Whether a run writes an entry of this name into RUN: one of RUN_OUTPUTS, or the hidden
    temporary file or folder an interrupted atomic write leaves (`.report.md.XXXX.tmp`)."""
    return name in RUN_OUTPUTS or (
        name.startswith(".") and any(name.startswith(f".{output}.") for output in RUN_OUTPUTS)
    )


def _holds_cohorts(folder: Path, simulated: Cohorts) -> bool:
    """Whether `folder` holds genofed's cohorts of that preset and seed (their truth.json says)."""
    try:
        made = json.loads((folder / "truth.json").read_text())
    except (OSError, ValueError):
        return False
    return (made.get("preset"), made.get("seed")) == (simulated.preset, simulated.seed)


def _inside(out: Path, data: Path) -> bool:
    """Whether `data` is `out` or lies somewhere under it."""
    return data.resolve().is_relative_to(out.resolve())


def _child_holding(out: Path, data: Path) -> str:
    """The name of `out`'s entry that is or holds `data` ("" when `data` is `out`)."""
    parts = data.resolve().relative_to(out.resolve()).parts
    return parts[0] if parts else ""


def _listed(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")

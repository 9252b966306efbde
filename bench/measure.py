"""Helpers shared by the bench scripts: run a snippet in a fresh Python process and return its
JSON result plus its peak memory (`run_child`); variants placed as on an array
(`array_positions`); refuse a --data folder that holds no federation
(`require_federation`); the run settings a bench reads a federation's sites with, whose
out-dir is a temporary folder (`bench_settings`); the options every validation study takes
(`add_study_options`; the whole command line of a study on a federation: `parse_study`) and the
table it prints (`paired_table`).

Peak memory is the child's VmHWM (high-water RSS): unlike getrusage's ru_maxrss it is reset at
exec, so the benchmark process's own memory never leaks into the figure.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

_PRELUDE = r"""
import json, sys, time

def _peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def report(**fields):
    print(json.dumps({**fields, "peak_rss_mb": _peak_rss_mb()}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run `code` (which must call `report(...)` once) with `args` in sys.argv[1:]. A child that
    fails ends the bench with the last lines of its stderr: CalledProcessError alone said nothing
    of why (an ML engineer's walkthrough)."""
    out = subprocess.run([sys.executable, "-c", _PRELUDE + code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-20:])
        raise SystemExit(f"a measured child process failed (exit {out.returncode}); its last lines:\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def array_positions(rng: np.random.Generator, n_variants: int) -> tuple[np.ndarray, np.ndarray]:
    """(chromosomes, positions) of `n_variants` spread over 22 chromosomes as on a genotyping array:
    chromosomes in order, distinct sorted positions within each."""
    chroms = np.sort(rng.integers(1, 23, n_variants))
    positions = np.zeros(n_variants, dtype=np.int64)
    for chrom in np.unique(chroms):
        where = chroms == chrom
        positions[where] = np.sort(rng.choice(np.arange(1, 240_000_000), int(where.sum()), replace=False))
    return chroms, positions


def require_federation(data: str) -> Path:
    """`data` as a Path, or exit with what to run when it holds no federation (no panel.tsv)."""
    if not (Path(data) / "panel.tsv").exists():
        raise SystemExit(f"{data} has no federation: run `genofed simulate-cohorts --out {data}` first")
    return Path(data)


def reference_panel(data: Path, panel):
    """The federation's PUBLIC reference panel (`data`/reference/genotypes.vcf.gz: people who are
    no hospital's patients) aligned to `panel`'s variants, or exit with what to run when the
    federation has none (one simulated before reference panels were, or not by genofed)."""
    from genofed.common.synthetic.reference_panel import load_reference_panel

    path = Path(data) / "reference" / "genotypes.vcf.gz"
    if not path.exists():
        raise SystemExit(f"{data} has no public reference panel: run `genofed simulate-cohorts --out {data}`")
    return load_reference_panel(path, list(panel.variant_ids))


_OUT_DIR: Path | None = None


def bench_out_dir() -> Path:
    """This process's temporary out-dir for benches' run settings (made once, removed at exit)."""
    global _OUT_DIR
    if _OUT_DIR is None:
        _OUT_DIR = Path(tempfile.mkdtemp(prefix="genofed-bench-"))
        atexit.register(shutil.rmtree, _OUT_DIR, ignore_errors=True)
    return _OUT_DIR


def bench_settings(**settings):
    """`RunSettings(**settings)` with out-dir a temporary folder (`bench_out_dir`) unless given.

    Why: a virtual hospital keeps its state (on real exports its secret, secret.key, which fixes
    its validation split and every noise draw) under the run's out-dir, and RunSettings' default,
    runs/latest, is relative to where the bench was started: run from bench/ on real exports, the
    sites' secrets landed in bench/runs/latest, inside the working tree."""
    from genofed.server.settings import RunSettings

    return RunSettings(**{"out_dir": str(bench_out_dir() / "run"), **settings})


def study_sites(data: str, seed: int) -> tuple[list, np.ndarray, np.ndarray]:
    """The hospitals of federation folder `data`, split by `seed` as `genofed simulate` splits them,
    and their pooled VALIDATION patients (float64 features, labels): what every validation study
    scores on (never a test cohort)."""
    from genofed.simulations.local.simulate import simulated_sites

    sites = list(simulated_sites(bench_settings(data_dir=data, seed=seed)).values())
    x_eval = np.concatenate([d.val_x for d in sites]).astype(np.float64)
    return sites, x_eval, np.concatenate([d.val_y for d in sites])


def scored_cohorts(data: str, seed: int, panel, with_test: bool) -> tuple[list, dict[str, tuple]]:
    """The hospitals of `data` split by `seed` and the cohorts a study scores: "validation" (their
    pooled validation patients, which decide) and with `with_test` also "test" (the
    coordinator's test cohort, a check only), each as (features, labels)."""
    from genofed.server.federation import load_test_cohort
    from genofed.simulations.local.simulate import simulated_sites

    settings = bench_settings(data_dir=data, seed=seed)
    sites = list(simulated_sites(settings).values())
    scored = {
        "validation": (np.concatenate([d.val_x for d in sites]), np.concatenate([d.val_y for d in sites]))
    }
    if with_test:
        test = load_test_cohort(settings, panel)
        scored["test"] = (test.features, test.labels)
    return sites, scored


def rule_scale_and_lr(panel, epsilon: float, selected: tuple[int, ...] = ()) -> tuple[np.ndarray, float]:
    """The product's logistic column scale (float64) and lr at per-site `epsilon` on `panel`, reading
    `selected` (empty = all): what the studies train with as "the rule". Both depend on epsilon
    (the column exponent is 0 from scratch under DP on the whole panel, as every study here
    trains, 2 elsewhere: server/training_rule.py)."""
    from genofed.server.training_rule import column_scale, training_rule

    scale = column_scale(panel, selected, epsilon=epsilon).astype(np.float64)
    return scale, training_rule("logistic", panel, selected, epsilon).lr


def parse_study(description: str, epsilons: list[float]) -> argparse.Namespace:
    """The command line of a validation study on a whole federation: --data (default demo/cohorts;
    a folder without a federation exits with what to run) and the study options
    (`add_study_options`, `epsilons` their default)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts")
    add_study_options(parser, epsilons)
    args = parser.parse_args()
    require_federation(args.data)
    return args


def add_study_options(parser: argparse.ArgumentParser, epsilons: list[float]) -> None:
    """--epsilons (default `epsilons`), --seeds (42 43 44: the seeds that set the hospitals'
    splits) and --draws (2 noise draws per seed) of a study on validation patients."""
    parser.add_argument("--epsilons", nargs="+", type=float, default=epsilons)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--draws", type=int, default=2, help="noise draws per seed")


def paired_table(
    aucs: dict[tuple[Hashable, float], list[float]],
    rows: Sequence[Hashable],
    base: Hashable,
    epsilons: Sequence[float],
    title: str,
    width: int,
) -> list[str]:
    """A study's table: one line per row (labels right-aligned to `width`), one column per
    epsilon, each cell the mean AUC over seeds x draws and, in brackets, the mean paired
    difference to row `base` (`aucs[(row, epsilon)]` lists in the same seed and draw order)."""
    lines = [f"{title:>{width}} " + " ".join(f"{'eps ' + format(e, 'g'):>16}" for e in epsilons)]
    for row in rows:
        cells = []
        for epsilon in epsilons:
            values, reference = aucs[(row, epsilon)], aucs[(base, epsilon)]
            paired = statistics.mean(v - b for v, b in zip(values, reference, strict=True))
            cells.append(f"{statistics.mean(values):.3f} ({paired:+.3f})")
        lines.append(f"{row:>{width}} " + " ".join(f"{cell:>16}" for cell in cells))
    return lines


def paired_errors(
    aucs: dict[tuple[Hashable, float], list[float]],
    rows: Sequence[Hashable],
    base: Hashable,
    epsilons: Sequence[float],
    width: int,
) -> list[str]:
    """Under a `paired_table`: one line per row, each cell the standard error of its mean
    difference to row `base` over the pairs (nan with one pair)."""
    lines = []
    for row in rows:
        cells = []
        for epsilon in epsilons:
            pairs = [v - b for v, b in zip(aucs[(row, epsilon)], aucs[(base, epsilon)], strict=True)]
            error = statistics.stdev(pairs) / math.sqrt(len(pairs)) if len(pairs) > 1 else float("nan")
            cells.append(f"{error:16.3f}")
        lines.append(f"{row:>{width}} " + " ".join(cells))
    return lines

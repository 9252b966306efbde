"""Benchmark: how the simulation grows with the number of hospitals and of panel variants.

For each case (hospitals x variants) it writes a synthetic federation (random genotypes as PLINK 1
files, random labels, a panel.tsv; no test cohort, so no reference models: this measures the
federation's machinery, not its utility), runs `genofed simulate` on it in a fresh process, and
prints one row: wall seconds, the driver's peak memory (VmHWM), the Ray worker processes' peak
memory (sum of each worker's VmHWM), the peak of all processes together (driver + Ray, summed
RSS sampled every 0.2 s), and the bytes one hospital sends per round. Then how each figure grows
between consecutive sizes: measured ratio next to the ratio of the sizes (hospitals x variants).

    .venv/bin/python bench/scale.py [--hospitals 8 32 100] [--variants 20000 100000] [--rounds 3]
                                    [--epsilon 8] [--patients 150] [--quick] [--keep DIR]

--quick: 4 and 8 hospitals x 2,000 variants, 2 rounds (a minute). Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from measure import run_child

#: The child: samples /proc in a thread while `simulate` runs, then reports the figures.
CHILD = r"""
import os, threading
from pathlib import Path

def _status(pid):
    fields = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            key, _, value = line.partition(":")
            fields[key] = value.split()
    except OSError:
        return None
    return fields

def _descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _status(entry)
            if fields and "PPid" in fields:
                children.setdefault(int(fields["PPid"][0]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found

def _cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""

peaks, names, total = {}, {}, [0.0]
stop = threading.Event()

def _sample():
    me = os.getpid()
    while not stop.is_set():
        rss = 0.0
        for pid in [me] + _descendants(me):
            fields = _status(pid)
            if not fields or "VmHWM" not in fields:
                continue
            peaks[pid] = max(peaks.get(pid, 0.0), int(fields["VmHWM"][0]) / 2**20)
            rss += int(fields["VmRSS"][0]) / 2**20
            if pid not in names:
                names[pid] = _cmdline(pid)
        total[0] = max(total[0], rss)
        stop.wait(0.2)

thread = threading.Thread(target=_sample, daemon=True)
thread.start()
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import simulate
r = simulate(RunSettings(data_dir=sys.argv[1], out_dir=sys.argv[2], epsilon=float(sys.argv[3]),
                         rounds=int(sys.argv[4]), quiet=True), references=False)
stop.set()
thread.join()
me = os.getpid()
workers = [p for p in peaks if p != me and ("ray::" in names[p] or "default_worker" in names[p])]
others = [p for p in peaks if p != me and p not in workers]
report(wall=r["wall_seconds"], per_round=r["seconds_per_round"], bytes=r["bytes_sent_per_client_per_round"],
       workers_gib=sum(peaks[p] for p in workers), n_workers=len(workers),
       ray_other_gib=sum(peaks[p] for p in others), total_gib=total[0],
       trained=min((len(x.get("participants") or []) for x in r["rounds"][1:]), default=0))
"""


@dataclass(frozen=True)
class Case:
    """One measured size and its figures (memory in GiB, bytes per hospital per round)."""

    hospitals: int
    variants: int
    wall: float
    per_round: float
    driver_gib: float
    workers_gib: float
    n_workers: int
    ray_other_gib: float
    total_gib: float
    bytes: float
    trained: int  # the fewest hospitals that trained in any round


def write_federation(
    root: Path, hospitals: int, variants: int, patients: int, seed: int = 0, distinct: int = 4
) -> Path:
    """A federation folder of `hospitals` hospitals, `variants` panel variants on 22 chromosomes.

    `distinct` hospitals get their own random cohort (a spread of sizes around `patients`,
    random dosages as PLINK 1 files, quick to write and read, ~30 % cases); the others are hard
    links to them, under their own folder names: every hospital is still read, checked and
    trained on by its own virtual SuperNode, and writing 100 x 100,000 variants stays quick."""
    import pandas as pd

    from genofed.common.data.panel import VariantPanel
    from genofed.common.data.writers import write_phenotypes, write_plink

    rng = np.random.default_rng(seed)
    chrom = np.arange(variants) % 22 + 1
    pos = 1_000 + 100 * (np.arange(variants) // 22)
    order = np.lexsort((pos, chrom))
    ids = [f"{chrom[i]}:{pos[i]}:A:G" for i in order]
    freq = rng.uniform(0.01, 0.5, variants)
    root.mkdir(parents=True, exist_ok=True)
    VariantPanel(ids, freq).save(root / "panel.tsv")
    for h in range(hospitals):
        folder = root / f"hospital{h:03d}"
        folder.mkdir(exist_ok=True)
        if h >= distinct:
            for source in (root / f"hospital{h % distinct:03d}").iterdir():
                os.link(source, folder / source.name)
            continue
        n = max(20, int(patients * rng.uniform(0.5, 1.5)))  # load_site refuses fewer than 20
        samples = [f"P{h:03d}{i:05d}" for i in range(n)]
        write_plink(
            folder / "genotypes", rng.binomial(2, freq, size=(n, variants)).astype(np.int8), samples, ids
        )
        covariates = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.integers(20, 80, n)})
        write_phenotypes(folder / "phenotypes.csv", samples, (rng.random(n) < 0.3).astype(int), covariates)
    return root


def measure(hospitals: int, variants: int, *, rounds: int, epsilon: float, patients: int, keep: str) -> Case:
    """Write the federation for one case and run the simulation on it in a fresh process."""
    with contextlib.ExitStack() as stack:
        if keep:  # kept: DIR/<hospitals>x<variants>/{federation,run}, refused if it exists
            tmp = Path(keep) / f"{hospitals}x{variants}"
            if tmp.exists():
                raise SystemExit(f"{tmp} exists: --keep never overwrites a kept case; use another DIR")
            tmp.mkdir(parents=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data = write_federation(tmp / "federation", hospitals, variants, patients)
        r = run_child(CHILD, str(data), str(tmp / "run"), str(epsilon), str(rounds))
    return Case(
        hospitals,
        variants,
        r["wall"],
        r["per_round"],
        r["peak_rss_mb"] / 1024,
        r["workers_gib"],
        r["n_workers"],
        r["ray_other_gib"],
        r["total_gib"],
        r["bytes"],
        r["trained"],
    )


def growth(small: Case, large: Case) -> str:
    """How each figure grew from `small` to `large`, next to how the size grew."""
    size = (large.hospitals * large.variants) / (small.hospitals * small.variants)

    def ratio(name: str) -> str:
        before, after = getattr(small, name), getattr(large, name)
        return f"{after / before:.2f}x" if before else "-"

    return (
        f"{small.hospitals}x{small.variants} -> {large.hospitals}x{large.variants}: "
        f"hospitals {large.hospitals / small.hospitals:.2f}x, "
        f"variants {large.variants / small.variants:.2f}x "
        f"(hospital-variants {size:.2f}x); wall {ratio('wall')}, s/round {ratio('per_round')}, "
        f"driver {ratio('driver_gib')}, workers {ratio('workers_gib')}, all {ratio('total_gib')}, "
        f"bytes/round {ratio('bytes')}"
    )


HEADER = (
    f"{'hosp':>4} {'variants':>8} {'wall s':>7} {'s/round':>7} {'driver GiB':>10} {'workers GiB':>11} "
    f"{'(n)':>3} {'ray other':>9} {'all GiB':>7} {'MiB/hosp/round':>14} {'trained':>9}"
)


def row(c: Case) -> str:
    return (
        f"{c.hospitals:>4} {c.variants:>8} {c.wall:>7.1f} {c.per_round:>7.2f} {c.driver_gib:>10.2f} "
        f"{c.workers_gib:>11.2f} {c.n_workers:>3} {c.ray_other_gib:>9.2f} {c.total_gib:>7.2f} "
        f"{c.bytes / 2**20:>14.2f} {f'{c.trained}/{c.hospitals}':>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hospitals", type=int, nargs="+", default=[8, 32, 100])
    parser.add_argument("--variants", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=8.0)
    parser.add_argument("--patients", type=int, default=150, help="mean patients per hospital (default 150)")
    parser.add_argument("--quick", action="store_true", help="4 and 8 hospitals x 2,000 variants, 2 rounds")
    parser.add_argument(
        "--keep",
        default="",
        metavar="DIR",
        help="write each case's federation and run under DIR/<hospitals>x<variants> and keep them",
    )
    args = parser.parse_args()
    if args.quick:
        args.hospitals, args.variants, args.rounds = [4, 8], [2_000], 2
    print(HEADER, flush=True)
    cases = []
    for variants in args.variants:
        for hospitals in args.hospitals:
            case = measure(
                hospitals,
                variants,
                rounds=args.rounds,
                epsilon=args.epsilon,
                patients=args.patients,
                keep=args.keep,
            )
            cases.append(case)
            print(row(case), flush=True)
    print("growth:")
    for small, large in zip(cases, cases[1:], strict=False):
        print("  " + growth(small, large))
    print("workers GiB: sum of each Ray worker's peak RSS; all GiB: peak of the summed RSS of the driver and")
    print("every Ray process (shared pages counted once per process, so an upper bound)")


if __name__ == "__main__":
    main()

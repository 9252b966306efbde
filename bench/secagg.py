"""Benchmark: what secure aggregation (Flower's SecAgg+) costs per round against plain FedAvg.

For 3 and 5 hospitals (the small preset's three clinics; for five, two of them copied under new
names: the cost depends on the number of hospitals and the model, not on the patients), one
plain and one SecAgg+ run from the same settings and plan id, each in its own process, measured
in this one invocation. Prints seconds per round (training + the protocol's four stages + central
evaluation), bytes each hospital uploads per round (plain: the model arrays; SecAgg+: everything
it sends in the four stages: public keys, encrypted shares, the masked vector, its key shares),
and SecAgg+'s quantization error: the largest |secagg - plain| weight of the round-1 models
(identical DP noise in both: the seeds derive from the same round inputs), next to the largest
|weight| to compare with the clipping range (8.0).

    .venv/bin/python bench/secagg.py [--rounds 5] [--sizes 3 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from measure import run_child

CHILD = r"""
import torch
from pathlib import Path
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import simulate
from genofed.common.util.torch_threads import single_torch_thread
out = sys.argv[2]
with single_torch_thread():
    r = simulate(RunSettings(data_dir=sys.argv[1], out_dir=out, rounds=int(sys.argv[3]),
                             secagg=sys.argv[4] == "1", local_epochs=1, batch_size=16, seed=5, quiet=True,
                             plan_id="bench-secagg"), references=False)
model = torch.load(Path(out) / "checkpoints" / "round-0001.pt", weights_only=False)["state_dict"]
steady = [x["seconds"] for x in r["rounds"][2:]]  # round 1 also pays each actor's first torch/opacus import
report(per_round=sum(steady) / len(steady) if steady else r["seconds_per_round"],
       bytes=r["bytes_sent_per_client_per_round"], wall=r["wall_seconds"],
       epsilon=max(r["epsilon"].values()), participants=[len(x["participants"]) for x in r["rounds"][1:]],
       params=r["model"]["parameters"], max_weight=max(float(t.abs().max()) for t in model.values()))
"""


def federation(root: Path, hospitals: int) -> Path:
    from genofed.simulations.cohorts.build import simulate_cohorts

    base = root / "small"
    if not base.exists():
        simulate_cohorts(base, preset="small", seed=5)
    if hospitals == 3:
        return base
    out = root / f"small-{hospitals}"
    shutil.copytree(base, out)
    originals = ["rostov", "astrakhan", "elista"]
    for i in range(hospitals - 3):
        shutil.copytree(out / originals[i % 3], out / f"{originals[i % 3]}-copy{i + 1}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5], help="numbers of hospitals (3-6)")
    args = parser.parse_args()
    print(
        f"{'hospitals':>9} {'mode':>7} {'s/round':>7} {'KiB up/round':>12} {'wall s':>6} {'eps max':>7} "
        f"{'params':>6} {'max|w|':>7} {'max|secagg-plain|':>17}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in args.sizes:
            data = federation(root, n)
            results = {}
            for mode, flag in (("plain", "0"), ("secagg", "1")):
                results[mode] = run_child(
                    CHILD, str(data), str(root / f"run-{n}-{mode}"), str(args.rounds), flag
                )
            plain_model = _round1(root / f"run-{n}-plain")
            secure_model = _round1(root / f"run-{n}-secagg")
            error = max(float((secure_model[k] - plain_model[k]).abs().max()) for k in plain_model)
            for mode, r in results.items():
                err = f"{error:.2e}" if mode == "secagg" else "-"
                print(
                    f"{n:>9} {mode:>7} {r['per_round']:>7.2f} {r['bytes'] / 1024:>12.1f} {r['wall']:>6.1f} "
                    f"{r['epsilon']:>7.2f} {r['params']:>6} {r['max_weight']:>7.3f} {err:>17}"
                )
    print(
        "s/round: mean over rounds 2..N of the time from one round's checkpoint to the next (train, SecAgg+ "
        "stages,"
    )
    print(
        "central and federated evaluation); round 1 is left out: it also pays each Ray actor's first "
        "torch/opacus"
    )
    print("import. wall s includes Ray start-up. KiB up/round: plain = model arrays only (metrics excluded)")


def _round1(run: Path) -> dict:
    import torch

    return torch.load(run / "checkpoints" / "round-0001.pt", weights_only=False)["state_dict"]


if __name__ == "__main__":
    main()

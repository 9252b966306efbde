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

That error compares like with like only if round 1 aggregated the same hospitals in both runs: a
SecAgg+ round goes on without a minority that drops out (threshold 2 of 3), and a plain round
without a hospital that fails. So each run waits for all its hospitals (`min_nodes` = all of them),
the bench prints who took part in every round of every run, and when round 1 of either run lacked
a hospital it says so and runs both again (up to --tries pairs); if the last pair still differs,
its error is marked (*): it is then not a quantization error.

    .venv/bin/python bench/secagg.py [--rounds 5] [--sizes 3 5] [--tries 3]
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
                             plan_id="bench-secagg", min_nodes=int(sys.argv[5])), references=False)
model = torch.load(Path(out) / "checkpoints" / "round-0001.pt", weights_only=False)["state_dict"]
steady = [x["seconds"] for x in r["rounds"][2:]]  # round 1 also pays each actor's first torch/opacus import
report(per_round=sum(steady) / len(steady) if steady else r["seconds_per_round"],
       bytes=r["bytes_sent_per_client_per_round"], wall=r["wall_seconds"],
       epsilon=max(r["epsilon"].values()), participants=[x["participants"] for x in r["rounds"][1:]],
       refused=[x["refused"] for x in r["rounds"][1:]],
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
    parser.add_argument(
        "--tries",
        type=int,
        default=3,
        help="plain + SecAgg+ pairs to run until both had every hospital in round 1",
    )
    args = parser.parse_args()
    print(
        f"{'hospitals':>9} {'mode':>7} {'s/round':>7} {'KiB up/round':>12} {'wall s':>6} {'eps max':>7} "
        f"{'params':>6} {'max|w|':>7} {'max|secagg-plain|':>17}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rounds = str(args.rounds)
        for n in args.sizes:
            data = federation(root, n)
            for attempt in range(1, max(1, args.tries) + 1):
                results = {
                    mode: run_child(
                        CHILD, str(data), str(root / f"run-{n}-{mode}-{attempt}"), rounds, flag, str(n)
                    )
                    for mode, flag in (("plain", "0"), ("secagg", "1"))
                }
                if all(len(r["participants"][0]) == n for r in results.values()) or attempt >= args.tries:
                    break
                for mode, r in results.items():
                    print(f"{'':>9} {mode:>7} {participation(r, n)}")
                print(f"{'':>9} round 1 lacked a hospital: both again (pair {attempt + 1} of {args.tries})")
            plain_model = _round1(root / f"run-{n}-plain-{attempt}")
            secure_model = _round1(root / f"run-{n}-secagg-{attempt}")
            error = max(float((secure_model[k] - plain_model[k]).abs().max()) for k in plain_model)
            # the comparison holds only if round 1 aggregated the same hospitals in both runs
            same = results["plain"]["participants"][0] == results["secagg"]["participants"][0]
            for mode, r in results.items():
                err = (f"{error:.2e}" if same else f"{error:.2e} (*)") if mode == "secagg" else "-"
                print(
                    f"{n:>9} {mode:>7} {r['per_round']:>7.2f} {r['bytes'] / 1024:>12.1f} {r['wall']:>6.1f} "
                    f"{r['epsilon']:>7.2f} {r['params']:>6} {r['max_weight']:>7.3f} {err:>17}"
                )
            for mode, r in results.items():
                print(f"{'':>9} {mode:>7} {participation(r, n)}")
            if not same:
                print(f"{'':>9} (*) round 1 aggregated different hospitals: not a quantization error")
    print(
        "s/round: mean over rounds 2..N of the time from one round's checkpoint to the next (train, SecAgg+ "
        "stages,"
    )
    print(
        "central and federated evaluation); round 1 is left out: it also pays each Ray actor's first "
        "torch/opacus"
    )
    print("import. wall s includes Ray start-up. KiB up/round: plain = model arrays only (metrics excluded)")


def participation(r: dict, hospitals: int) -> str:
    """Who took part in each round: `participants per round (of 3): 3 3 3` when all did, else each
    round's count with the missing (and refusing) hospitals named."""
    rounds = []
    for names, refused in zip(r["participants"], r["refused"], strict=True):
        text = str(len(names))
        if len(names) < hospitals:
            text += "[" + ",".join(names) + (f"; refused {','.join(refused)}" if refused else "") + "]"
        rounds.append(text)
    return f"participants per round (of {hospitals}): " + " ".join(rounds)


def _round1(run: Path) -> dict:
    import torch

    return torch.load(run / "checkpoints" / "round-0001.pt", weights_only=False)["state_dict"]


if __name__ == "__main__":
    main()

"""Benchmark: the default simulated federation at several privacy budgets.

Prints, per epsilon (per hospital, delta 1e-5): federated test AUC next to pooled (no privacy),
the median local-only hospital and the Bayes ceiling; wall time, seconds per round, bytes a
hospital sends per round, and the driver's peak memory. Targets of the simulated federation:
whole default run < 5 min; no-DP federated within 0.02 of pooled; epsilon 8 within 0.05 of
pooled; above the median local-only site. DP step vs plain step: bench/dp_step.py.

With --pretrained MODEL (a `genofed pretrain` model on the same panel) the federation starts from
it and fine-tunes in --finetune mode (transfer-learning target: near source at epsilon 3 within
0.05 of pooled); the local-only references then start from it too, pooled stays from scratch.
--model network trains the network (`genofed simulate --model network`) instead of the logistic
default.

    .venv/bin/python bench/federation.py [--data DIR] [--epsilons 1 3 8 inf] [--rounds 10]
                                         [--model network] [--pretrained MODEL --finetune frozen]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from measure import require_federation, run_child

from genofed.server.settings import MODELS

CHILD = r"""
from genofed.server.settings import RunSettings
from genofed.simulations.local.simulate import simulate
r = simulate(RunSettings(data_dir=sys.argv[1], out_dir=sys.argv[2], epsilon=float(sys.argv[3]),
                         rounds=int(sys.argv[4]), quiet=True, pretrained=sys.argv[5], finetune=sys.argv[6],
                         model=sys.argv[7]))
report(test_auc=r["test_auc"], pooled=r["pooled_auc"], local=r["local_only_auc"], bayes=r["bayes_auc"],
       wall=r["wall_seconds"], per_round=r["seconds_per_round"], bytes=r["bytes_sent_per_client_per_round"],
       epsilon=max((v for v in r["epsilon"].values() if v is not None), default=None))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="demo/cohorts", help="federation folder (default: demo/cohorts)")
    parser.add_argument("--epsilons", nargs="+", default=["1", "3", "8", "inf"])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pretrained", default="", metavar="MODEL", help="start from this pretrained model")
    parser.add_argument("--finetune", default="full", choices=("full", "partial", "frozen"))
    parser.add_argument(
        "--model",
        default="auto",
        choices=MODELS,
        help="the model trained, as `genofed simulate --model` (default: auto = the pretrained model's "
        "architecture, else logistic, the default)",
    )
    args = parser.parse_args()
    require_federation(args.data)
    print(
        f"{'epsilon':>7} {'federated':>9} {'pooled':>6} {'local med':>9} {'Bayes':>5} {'spent':>5} "
        f"{'wall s':>6} {'s/round':>7} {'KiB/round':>9} {'peak MiB':>8}"
    )
    for eps in args.epsilons:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_child(
                CHILD,
                args.data,
                f"{tmp}/run",
                eps,
                str(args.rounds),
                args.pretrained,
                args.finetune,
                args.model,
            )
        local = statistics.median(v for v in r["local"].values() if v is not None)
        spent = "-" if r["epsilon"] is None else f"{r['epsilon']:.2f}"
        print(
            f"{eps:>7} {r['test_auc']:>9.3f} {r['pooled']:>6.3f} {local:>9.3f} {r['bayes']:>5.3f} {spent:>5} "
            f"{r['wall']:>6.0f} {r['per_round']:>7.1f} {r['bytes'] / 1024:>9.0f} {r['peak_rss_mb']:>8.0f}"
        )
    print("peak MiB: the driver process only (ServerApp, references); the Ray actors that run the")
    print("hospitals' ClientApps are separate processes and are not included")


if __name__ == "__main__":
    main()

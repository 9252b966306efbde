"""How much does DP-SGD cost per step for the shared model? Target: DP step <= 2x plain step.

Both models are measured: the network and the logistic model (which also must cost no more per
round than the network: both take the same rounds, epochs and batch size by their rules, so a
round's cost ratio is the DP step's, printed at the end).

Each case runs in a fresh process (bench.measure.run_child) so its peak memory (VmHWM) is its
own. The per-example gradients of the locally-connected first layer are V x hidden_per_block
floats, so Opacus' overhead stays small; a dense Linear(V, 256) first layer is measured for
comparison (FIELD-NOTES: ~60x at V=10,000).

Usage: python bench/dp_step.py [--variants 20000 100000] [--batch 64] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_child  # noqa: E402

_CASE = r"""
import time, warnings, torch
from torch import nn
warnings.simplefilter("ignore")
from genofed.common.model.network import ModelConfig, build_model
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset

kind, private = sys.argv[1], sys.argv[2] == "dp"
v, batch, steps = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
if kind == "genotype":
    model = build_model(ModelConfig(n_variants=v), seed=0)
elif kind == "logistic":
    model = build_model(ModelConfig(n_variants=v, architecture="logistic"), seed=0)
else:
    model = nn.Sequential(
        nn.Linear(v + 2, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1), nn.Flatten(0)
    )
x, y = torch.randn(batch, v + 2), torch.randint(0, 2, (batch,)).float()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
if private:
    loader = DataLoader(TensorDataset(x, y), batch_size=batch)
    model, optimizer, _ = PrivacyEngine(accountant="rdp").make_private(
        module=model, optimizer=optimizer, data_loader=loader,
        noise_multiplier=1.0, max_grad_norm=1.0, poisson_sampling=False)
loss_fn = nn.BCEWithLogitsLoss()
def step():
    optimizer.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    optimizer.step()
for _ in range(3):
    step()
times = []
for _ in range(steps):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
times.sort()
report(ms=1000 * times[len(times) // 2], params=sum(p.numel() for p in model.parameters()))
"""


def measure(kind: str, mode: str, variants: int, batch: int, steps: int) -> dict:
    return run_child(_CASE, kind, mode, str(variants), str(batch), str(steps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--dense-max", type=int, default=20_000, help="skip the dense MLP above this many variants"
    )
    args = parser.parse_args(argv)
    ok = True
    dp_ms: dict[tuple[str, int], float] = {}
    print(f"{'model':<28}{'V':>8}{'plain ms':>10}{'DP ms':>10}{'DP/plain':>10}{'plain MB':>10}{'DP MB':>10}")
    for v in args.variants:
        kinds = ["genotype", "logistic"] + (["dense MLP V->256->64->1"] if v <= args.dense_max else [])
        for kind in kinds:
            code = kind if kind in ("genotype", "logistic") else "dense"
            plain, dp = (measure(code, mode, v, args.batch, args.steps) for mode in ("plain", "dp"))
            dp_ms[(code, v)] = dp["ms"]
            ratio = dp["ms"] / plain["ms"]
            name = {"genotype": "GenotypeRiskNet (defaults)", "logistic": "LogisticRiskModel"}.get(code, kind)
            print(
                f"{name:<28}{v:>8}{plain['ms']:>10.2f}{dp['ms']:>10.2f}{ratio:>10.2f}{plain['peak_rss_mb']:>10.0f}{dp['peak_rss_mb']:>10.0f}"
            )
            if code == "genotype" and v == 20_000:
                ok = ratio <= 2.0
                print(
                    f"target: DP/plain <= 2.0 at V=20,000, batch {args.batch} -> {'OK' if ok else 'MISSED'} "
                    f"({ratio:.2f}); parameters {plain['params']}"
                )
    for v in args.variants:
        ratio = dp_ms[("logistic", v)] / dp_ms[("genotype", v)]
        print(
            f"logistic / network DP step at V={v}: {ratio:.2f} (target: a logistic round costs no more "
            f"than a network round -> {'OK' if ratio <= 1.0 else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

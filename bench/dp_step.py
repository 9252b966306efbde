"""How much does DP-SGD cost per step for the shared models? Target: DP step <= 2x plain step.

Both models are measured: the network and the logistic model (which also must cost no more per
round than the network: both take the same rounds, epochs and batch size by their rules, so a
round's cost ratio is the DP step's, printed at the end).

Four ways to take a step:

- plain: no privacy;
- DP: what the trainer runs (client/trainer.py): Opacus' ghost-clipping optimizer fed by
  client/ghost_clipping.py's one backward pass (closed-form per-example norms and clipped sum),
  its noise drawn from the secret stream (common/privacy/secret_noise.py) as the trainer draws it;
- two-pass: Opacus' own ghost clipping with the same closed-form norms, then a second backward
  pass of the clip-weighted loss (the trainer's before); for comparison;
- hooks: Opacus' per-example-gradient path, the trainer's before that (materialises a
  batch x parameters gradient, its norms, the clipped sum); for comparison.

The four are timed in one process, taking turns step by step, so that a load that comes and
goes on a shared machine slows all three alike and the ratios hold; a step is timed as CPU time
with one torch thread, as a hospital's client trains (client/app.py,
common/util/torch_threads.py), with the trainer's default optimizer (SGD, momentum 0.9). Peak
memory (VmHWM) is measured for each way alone, in a fresh process (bench.measure.run_child). A
Linear(V, 256) first layer is measured for comparison (FIELD-NOTES: ~60x at V=10,000 with hooks).

Every process fixes glibc's malloc thresholds as the trainer does (common/util/allocator.py), and
counts minor page faults per step. At 20,000 variants the plain and DP steps are also split into
their phases (zero_grad + forward + loss, backward, optimizer step: where the DP step's extra
goes), and each model is measured once more in processes left with glibc's defaults ("glibc
default" rows), to show what the setting changes.

Usage: python bench/dp_step.py [--variants 20000 100000] [--batch 64] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_child  # noqa: E402

_CASE = r"""
import contextlib, resource, time, warnings, torch
from torch import nn
warnings.simplefilter("ignore")
from genofed.common.util.allocator import keep_freed_memory
from genofed.common.model.network import ModelConfig, build_model
from genofed.client.ghost_clipping import GRAD_SAMPLE_MODE, clipped_loss
from genofed.common.privacy.opacus_noise import use_secret_noise
from genofed.common.privacy.secret_noise import SecretNoise
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset

kind, modes = sys.argv[1], sys.argv[2].split(",")
v, batch, steps = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tuned = sys.argv[6] == "tuned" and keep_freed_memory()  # as the trainer does (client/trainer.py)
torch.set_num_threads(1)
torch.manual_seed(0)
x, y = torch.randn(batch, v + 2), torch.randint(0, 2, (batch,)).float()

def make_step(mode):
    if kind == "genotype":
        model = build_model(ModelConfig(n_variants=v), seed=0)
    elif kind == "logistic":
        model = build_model(ModelConfig(n_variants=v, architecture="logistic"), seed=0)
    else:
        model = nn.Sequential(
            nn.Linear(v + 2, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1), nn.Flatten(0)
        )
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    if mode != "plain":
        private = PrivacyEngine(accountant="rdp").make_private(
            module=model, optimizer=optimizer, data_loader=DataLoader(TensorDataset(x, y), batch_size=batch),
            criterion=loss_fn, noise_multiplier=1.0, max_grad_norm=1.0, poisson_sampling=False,
            grad_sample_mode="hooks" if mode == "hooks" else GRAD_SAMPLE_MODE)
        model, optimizer = private[:2]
        if mode == "dp":  # as client/trainer.py trains
            loss_fn = open_losses.enter_context(clipped_loss(model, private[2], 1.0))
            use_secret_noise(optimizer, SecretNoise(0, "noise"))
        elif mode == "two-pass":
            loss_fn = private[2]
    def step():
        # CPU seconds of the step's phases: zero_grad + forward + loss, backward, optimizer step
        t0 = time.process_time()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        t1 = time.process_time()
        loss.backward()
        t2 = time.process_time()
        optimizer.step()
        t3 = time.process_time()
        return t1 - t0, t2 - t1, t3 - t2
    return step, params

open_losses = contextlib.ExitStack()
cases = {mode: make_step(mode) for mode in modes}
for _ in range(3):
    for step, _ in cases.values():
        step()
times = {mode: [] for mode in modes}
phases = {mode: [] for mode in modes}
faults = dict.fromkeys(modes, 0)
for _ in range(steps):
    for mode, (step, _) in cases.items():
        f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.process_time(); parts = step(); times[mode].append(time.process_time() - t)
        phases[mode].append(parts)
        faults[mode] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f
median = lambda values: 1000 * sorted(values)[len(values) // 2]
report(
    ms={mode: median(t) for mode, t in times.items()},
    phase_ms={mode: [median(column) for column in zip(*rows)] for mode, rows in phases.items()},
    faults={mode: faults[mode] / steps for mode in modes},
    params=next(iter(cases.values()))[1],
    tuned=tuned,
)
"""

_NAMES = {"genotype": "GenotypeRiskNet (defaults)", "logistic": "LogisticRiskModel"}


_MODES = ("plain", "dp", "two-pass", "hooks")


def measure(kind: str, variants: int, batch: int, steps: int, allocator: str = "tuned") -> dict:
    """Median step CPU ms and minor page faults per step of every mode, taking turns in one
    process; each mode's peak MB from a fresh process of its own (2 steps). `allocator`: "tuned"
    (glibc's thresholds fixed as the trainer fixes them) or "default" (glibc's own)."""
    args = (str(variants), str(batch))
    timed = run_child(_CASE, kind, ",".join(_MODES), *args, str(steps), allocator)
    peaks = {m: run_child(_CASE, kind, m, *args, "2", allocator)["peak_rss_mb"] for m in _MODES}
    if allocator == "tuned" and not timed["tuned"]:
        print("note: the allocator setting is not in effect (no glibc mallopt, or GENOFED_MALLOC_TUNING=off)")
    return {
        "ms": timed["ms"],
        "phase_ms": timed["phase_ms"],
        "faults": timed["faults"],
        "params": timed["params"],
        "mb": peaks,
    }


def _row(name: str, v: int, case: dict) -> str:
    plain, dp, two_pass, hooks = (case["ms"][m] for m in _MODES)
    mb = "".join(f"{case['mb'][m]:>{w}.0f}" for m, w in zip(_MODES, (10, 8, 13, 10), strict=True))
    return (
        f"{name:<42}{v:>8}{plain:>10.2f}{dp:>10.2f}{dp / plain:>10.2f}{two_pass:>13.2f}"
        f"{two_pass / plain:>15.2f}{hooks:>10.2f}{hooks / plain:>12.2f}{mb}"
        f"{case['faults']['plain']:>14.0f}{case['faults']['dp']:>11.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--dense-max", type=int, default=20_000, help="skip the dense MLP above this many variants"
    )
    args = parser.parse_args(argv)
    dp_ms: dict[tuple[str, int], float] = {}
    verdicts: list[str] = []
    phase_lines: list[str] = []
    print(
        f"{'model':<42}{'V':>8}{'plain ms':>10}{'DP ms':>10}{'DP/plain':>10}{'two-pass ms':>13}"
        f"{'two-pass/plain':>15}{'hooks ms':>10}{'hooks/plain':>12}{'plain MB':>10}{'DP MB':>8}"
        f"{'two-pass MB':>13}{'hooks MB':>10}"
        f"{'plain faults':>14}{'DP faults':>11}"
    )
    for v in args.variants:
        kinds = ["genotype", "logistic"] + (["dense MLP V->256->64->1"] if v <= args.dense_max else [])
        for kind in kinds:
            code = kind if kind in _NAMES else "dense"
            case = measure(code, v, args.batch, args.steps)
            dp_ms[(code, v)] = case["ms"]["dp"]
            print(_row(_NAMES.get(code, kind), v, case))
            if code in _NAMES and v == 20_000:
                ratio = case["ms"]["dp"] / case["ms"]["plain"]
                phase_lines += [
                    f"{_NAMES[code]:<28}{mode:>7}" + "".join(f"{ms:>10.2f}" for ms in case["phase_ms"][mode])
                    for mode in ("plain", "dp")
                ]
                verdicts.append(
                    f"target: {_NAMES[code]} DP/plain <= 2.0 at V=20,000, batch {args.batch} -> "
                    f"{'OK' if ratio <= 2.0 else 'MISSED'} ({ratio:.2f}); parameters {case['params']}"
                )
                # the same without the trainer's allocator tuning (common/util/allocator.py)
                print(
                    _row(
                        f"{_NAMES[code]}, glibc default",
                        v,
                        measure(code, v, args.batch, args.steps, "default"),
                    )
                )
    print("(faults: minor page faults per step; 'glibc default' rows: without common/util/allocator.py)")
    print("\nmedian ms per phase at V=20,000")
    print(f"{'model':<28}{'step':>7}{'forward':>10}{'backward':>10}{'optimizer':>10}")
    print("\n".join(phase_lines) + "\n")
    print("\n".join(verdicts))
    for v in args.variants:
        ratio = dp_ms[("logistic", v)] / dp_ms[("genotype", v)]
        print(
            f"logistic / network DP step at V={v}: {ratio:.2f} (target: a logistic round costs no more "
            f"than a network round -> {'OK' if ratio <= 1.0 else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

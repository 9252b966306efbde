"""Benchmark: peak memory of `genofed predict`, its encoding as it was against as it is.

An array-scale walkthrough (250 people, a 636,471-variant panel) found why `genofed predict` needed
gigabytes: the encoding (`common/data/features._encode_dosages`) turned 256 rows at a time into
8-byte lookup indices, 1.3 GB per temporary at that panel's width, and `predict_file` held a
(people x panel) bool matrix of who is called while scoring. Each way runs `genofed predict` in a
fresh process (peak RSS is its own) on the same synthetic PLINK file and logistic model file; the
old way puts back the 256-row encoding, encodes everyone before scoring (`predict_file` now
encodes and scores 1,024 people at a time: it matters above that many) and holds the bool matrix
as `predict_file` did. The two risks.csv must be the same bytes, and their provenance files the
same but for the time written. Its figures: docs/benchmarks.md.

    .venv/bin/python bench/predict_memory.py [--people 250] [--variants 300000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from measure import array_positions, run_child

from genofed.common.data.features import FeatureSpec
from genofed.common.data.panel import VariantPanel
from genofed.common.data.writers import write_phenotypes, write_plink
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import ModelFile, Task, features_dict, save_model_file
from genofed.common.scoring.operating import operating_point, risk_distribution

CHILD = r"""
import numpy as np

from genofed.common.data import features
from genofed.common.data.cohort import MISSING
from genofed.common.scoring import predict  # imported before the clock starts, both ways

way, argv = sys.argv[1], sys.argv[2:]
if way == "old":  # the encoding and the call matrix as they were

    def encode_256_rows(dosages, freq, out, chunk_rows=256):
        mean = 2.0 * freq
        table = np.stack([np.zeros_like(freq), -mean, 1.0 - mean, 2.0 - mean]).astype(np.float32)
        flat = table.ravel()
        offsets = np.arange(dosages.shape[1], dtype=np.intp)
        for start in range(0, dosages.shape[0], chunk_rows):
            block = dosages[start : start + chunk_rows]
            if block.size and (block.min() < MISSING or block.max() > 2):
                raise ValueError("dosages must be MISSING, 0, 1 or 2")
            index = (block.astype(np.intp) - MISSING) * len(freq) + offsets
            np.take(flat, index, out=out[start : start + chunk_rows], mode="clip")

    held = []  # predict_file kept `called = cohort.dosages != MISSING` until it returned

    def risks_of_everyone_at_once(model, cohort):  # encoded before any was scored
        held.append(cohort.dosages != MISSING)
        return predict.predict_proba(model.build(), features.encode(model.feature_spec(), cohort))

    features._encode_dosages = encode_256_rows
    predict._risks = risks_of_everyone_at_once
from genofed.cli.main import main

started = time.perf_counter()
code = main(argv)
report(code=code, seconds=time.perf_counter() - started)  # with this process's own peak (VmHWM)
"""

#: A pooled validation histogram (controls, cases by risk decile), as the model-file tests use.
HISTOGRAM = np.array([[0, 2, 6, 10, 12, 3, 2, 0, 0, 0], [0, 0, 1, 2, 3, 10, 8, 5, 1, 0]], dtype=np.float64)


def write_inputs(folder: Path, n_people: int, n_variants: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """A logistic model file on a panel of `n_variants` (22 chromosomes in order, sorted positions),
    and `n_people` people in PLINK 1 with 1 % missing calls and their phenotypes (label, sex, age)."""
    rng = np.random.default_rng(seed)
    chroms, positions = array_positions(rng, n_variants)
    ids = [f"{c}:{p}:A:G" for c, p in zip(chroms, positions, strict=True)]
    freq = rng.beta(0.5, 2.0, n_variants).clip(0.01, 0.99).round(4)
    panel = VariantPanel(ids, freq)

    config = ModelConfig(n_variants=n_variants, architecture="logistic")
    model = build_model(config, seed=0)
    with torch.no_grad():
        model.linear.weight[0] = torch.as_tensor(rng.normal(0.0, 0.01, n_variants + 2), dtype=torch.float32)
        model.scale.copy_(torch.as_tensor(rng.uniform(0.5, 2.0, n_variants + 2), dtype=torch.float32))
    operating = {
        "features": features_dict(FeatureSpec(alt_freq=freq)),
        "threshold": operating_point(HISTOGRAM, round_=3),
        "risk_distribution": risk_distribution(HISTOGRAM, round_=3),
    }
    model_path = folder / "model.pt"
    save_model_file(
        model_path,
        ModelFile(model.state_dict(), config, panel, Task("binary", "label"), {"source": "bench"}, operating),
    )

    dosages = rng.binomial(2, freq, size=(n_people, n_variants)).astype(np.int8)
    dosages[rng.random(dosages.shape) < 0.01] = -1
    samples = [f"P{i:04d}" for i in range(n_people)]
    write_plink(folder / "people", dosages, samples, ids)
    sex, age = rng.choice(["F", "M"], n_people), rng.integers(25, 80, n_people)
    covariates = pd.DataFrame({"sex": sex, "age": age})
    write_phenotypes(folder / "phenotypes.csv", samples, rng.integers(0, 2, n_people), covariates)
    return model_path, folder / "people.bed", folder / "phenotypes.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=250)
    parser.add_argument("--variants", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model, genotypes, phenotypes = write_inputs(folder, args.people, args.variants)
        figures, written = {}, {}
        for way in ("old", "new"):
            out = folder / way / "risks.csv"
            command = ["predict", "--model", str(model), "--genotypes", str(genotypes)]
            command += ["--phenotypes", str(phenotypes), "--label-column", "label", "--out", str(out)]
            figures[way] = run_child(CHILD, way, *command)
            if figures[way]["code"] != 0:
                raise SystemExit(f"genofed predict ({way}) exited {figures[way]['code']}")
            provenance = json.loads(out.with_name("risks.csv.json").read_text(encoding="utf-8"))
            provenance.pop("written")
            written[way] = (out.read_bytes(), provenance)
    print(f"genofed predict: {args.people} people x {args.variants:,} panel variants (PLINK 1, logistic)")
    for way, name in (("old", "as it was"), ("new", "as it is")):
        seconds, peak = figures[way]["seconds"], figures[way]["peak_rss_mb"] / 1024
        print(f"{name:17s} {seconds:6.1f} s   peak {peak:.2f} GiB")
    same_csv = written["old"][0] == written["new"][0]
    same_record = written["old"][1] == written["new"][1]
    ratio = figures["new"]["peak_rss_mb"] / figures["old"]["peak_rss_mb"]
    print(
        f"new / old peak: {ratio:.2f}x; risks.csv the same bytes: {same_csv}; provenance the same but for "
        f"the time written: {same_record}"
    )


if __name__ == "__main__":
    main()

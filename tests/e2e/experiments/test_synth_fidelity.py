"""`genofed experiment synthetic-fidelity`: our generators and the README's reference rows on real
1000 Genomes data. The loader of the 162-SNP VCF it reads and its argument errors are in
tests/unit/simulations/experiments/test_synth_fidelity_inputs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genofed.simulations.experiments.synthetic_fidelity.run import (
    REFERENCES,
    FidelityConfig,
    run_fidelity_experiment,
)


@pytest.fixture(scope="module")
def small_results(tmp_path_factory) -> dict:
    from genofed.simulations.cohorts.real import SharedDataMissing, shared_data_dir

    try:
        shared_data_dir()
    except SharedDataMissing as missing:
        pytest.skip(str(missing))
    out = tmp_path_factory.mktemp("fidelity")
    return run_fidelity_experiment(FidelityConfig.small(str(out)))


def _entry(results: dict, dataset: str, row: str) -> dict:
    return next(e for e in results["table"] if e["dataset"] == dataset and e["row"] == row)


def test_small_experiment_writes_the_table_with_every_row(small_results):
    out = Path(small_results["report"]).parent
    report = (out / "report.md").read_text()
    saved = json.loads((out / "synth_fidelity.json").read_text())
    assert {(e["dataset"], e["row"]) for e in saved["table"]} == {
        (d, r) for d in ("805", "region") for r in (*REFERENCES, "vae")
    }
    assert (out / "pieces" / "805-vae-epsinf-s1.json").is_file()  # reused on rerun
    for title in (
        "held-out real haplotypes (ideal)",
        "independent sites (naive)",
        "per-population independent sites",
        "copy of the training data (memorised)",
        "our VAE (phased), no DP",
        "our VAE (dosages), no DP",
    ):
        assert title in report
    assert "README's published figures" in report


def test_reference_rows_judge_as_they_must(small_results):
    memorised = _entry(small_results, "805", "memorised")
    assert not memorised["targets"]["privacy_loss"] and not memorised["targets"]["exact_copies"]
    assert memorised["aats_train"] == 0.0 and memorised["exact_copies"] == 1000
    held = _entry(small_results, "805", "heldout")
    assert held["passed"], held["targets"]
    # what the README publishes for held-out real data, with its strict tie convention
    assert held["aats_train_strict"] == pytest.approx(0.472, abs=0.03)
    assert held["ld_correlation"] == pytest.approx(0.978, abs=0.01)
    for dataset in ("805", "region"):
        naive = _entry(small_results, dataset, "naive")
        assert not naive["targets"]["ld"] and naive["ld_correlation"] < 0.1

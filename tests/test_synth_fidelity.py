"""`genofed experiment synthetic-fidelity`: our generators and the README's reference rows on real
1000 Genomes data, and the loader of the 162-SNP VCF it reads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from genofed.cli.main import main
from genofed.common.errors import GenofedError
from genofed.simulations.cohorts.real import load_chr1_region
from genofed.simulations.experiments.synthetic_fidelity.run import (
    REFERENCES,
    FidelityConfig,
    run_fidelity_experiment,
)

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n"
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


def test_chr1_region_loader_reads_the_shared_file(thousand_genomes):
    region = load_chr1_region(thousand_genomes)
    assert region.dosages.shape == (2504, 162) and region.dosages.dtype == np.int8
    assert set(np.unique(region.dosages)) <= {0, 1, 2}
    assert len(region.variant_ids) == 162 and region.variant_ids[0] == "1:7565678:C:A"
    # as shipped the file is unphased and spans chromosomes 1-22 (not the region its name says)
    assert not region.phased and not region.contiguous
    with pytest.raises(GenofedError, match="unphased"):
        load_chr1_region(thousand_genomes, require_phased=True)


def _write_region(folder: Path, calls: list[list[str]]) -> Path:
    samples = [f"S{i}" for i in range(len(calls[0]))]
    lines = [VCF_HEADER.format(samples="\t".join(samples))]
    for v, row in enumerate(calls):
        lines.append(f"1\t{1000 + v}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(row) + "\n")
    path = folder / "chr1_region_162snp.vcf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(lines))
    return folder


def test_chr1_region_loader_phased_haplotypes_and_refusals(tmp_path):
    region = load_chr1_region(
        _write_region(tmp_path, [["0|1", "1|1", "0|0"], ["1|0", "0|1", "0|0"]]), require_phased=True
    )
    assert region.phased and region.contiguous
    assert region.haplotypes.shape == (3, 2, 2)
    assert region.haplotypes[0].tolist() == [[0, 1], [1, 0]]  # person S0: 0|1 then 1|0
    assert region.dosages.tolist() == [[1, 1], [2, 1], [0, 0]]
    with pytest.raises(GenofedError, match="missing"):
        load_chr1_region(_write_region(tmp_path, [["0|1", "./.", "0|0"]]))
    with pytest.raises(GenofedError, match="unphased, the rest phased"):
        load_chr1_region(_write_region(tmp_path, [["0|1", "0/1", "0|0"]]))
    with pytest.raises(GenofedError, match="does not exist"):
        load_chr1_region(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--seeds", "1,x", "--seeds takes comma-separated numbers"),
        ("--generators", "vae,rbm", "--generators takes a comma-separated list"),
        ("--epsilons", "inf,0", "epsilons must be > 0"),
    ],
)
def test_cli_bad_argument_is_a_one_line_error(tmp_path, capsys, option, value, message):
    assert main(["experiment", "synthetic-fidelity", "--out", str(tmp_path / "out"), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()

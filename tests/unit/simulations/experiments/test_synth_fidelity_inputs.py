"""What `genofed experiment synthetic-fidelity` reads and refuses, without running it: the loader
of the 162-SNP 1000 Genomes VCF, and one-line errors for bad arguments. The experiment itself runs
in tests/e2e/experiments/test_synth_fidelity.py."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from genofed.cli.main import main
from genofed.common.errors import GenofedError
from genofed.simulations.cohorts.real import load_chr1_region

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n"
)


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

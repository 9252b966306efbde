"""Shared fixtures: tiny hand-written files and the real 1000 Genomes data in ../shared."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from genofed.simulations.cohorts.real import SharedDataMissing, shared_data_dir

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n"
)


@pytest.fixture
def thousand_genomes() -> Path:
    """The shared 1000 Genomes folder; skipped without it, except in CI, where it must exist."""
    try:
        return shared_data_dir()
    except SharedDataMissing as missing:
        if os.environ.get("GENOFED_REQUIRE_ORACLES") == "1":
            pytest.fail(f"{missing} (required: GENOFED_REQUIRE_ORACLES=1)")
        pytest.skip(str(missing))


@pytest.fixture
def chr1_vcf(thousand_genomes: Path) -> Path:
    return thousand_genomes / "chr1_region_162snp.vcf.gz"


def require_tool(name: str) -> str:
    """The tool's path; skip without it, unless GENOFED_REQUIRE_ORACLES=1 (CI), where it must exist."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("GENOFED_REQUIRE_ORACLES") == "1":
        pytest.fail(f"{name} is required (GENOFED_REQUIRE_ORACLES=1) but not on PATH")
    pytest.skip(f"{name} not on PATH")


@pytest.fixture
def write_vcf(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny VCF from data lines (tab-separated, samples S1..Sn unless given)."""

    def write(rows: list[str], samples: list[str] | None = None, name: str = "g.vcf") -> Path:
        samples = samples or [f"S{i}" for i in range(1, len(rows[0].split("\t")) - 8)]
        path = tmp_path / name
        path.write_text(VCF_HEADER.format(samples="\t".join(samples)) + "".join(r + "\n" for r in rows))
        return path

    return write

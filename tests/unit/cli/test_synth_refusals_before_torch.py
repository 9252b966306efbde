"""`genofed synth` refuses what its arguments alone show to be wrong (a bad `--epsilon`, a missing
file) before torch and the generators load: the refusal took 6-9 s, the time of those imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.site_files import write_small_site

#: Runs `genofed synth ARGS...` in a fresh interpreter; prints whether torch was imported.
PROBE = (
    "import sys\n"
    "from genofed.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded', code)\n"
)


@pytest.mark.parametrize(
    ("extra", "missing", "message"),
    [
        (["--epsilon", "-1"], "", "--epsilon must be > 0, got -1"),
        (["--temperature", "0"], "", "--temperature must be > 0"),
        ([], "genotypes", "VCF file not found"),
        ([], "phenotypes", "phenotype file not found"),
    ],
)
def test_a_refusal_from_the_arguments_comes_before_torch(tmp_path: Path, extra, missing, message):
    genotypes, phenotypes = write_small_site(tmp_path / "site")
    if missing == "genotypes":
        genotypes = tmp_path / "nowhere.vcf"
    if missing == "phenotypes":
        phenotypes = tmp_path / "nowhere.csv"
    argv = ["synth", "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    argv += ["--out", str(tmp_path / "out"), *extra]
    run = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert message in run.stderr and "Traceback" not in run.stderr
    assert run.stdout.split() == ["torch", "not", "loaded", "2"]
    assert not (tmp_path / "out").exists()

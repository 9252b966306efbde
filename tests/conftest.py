"""Fixtures for both trees: tiny hand-written files, the real 1000 Genomes data in ../shared, and
simulated cohorts made once per test session.

Simulating the small preset takes seconds, and many files need the same federation: the session
fixture `simulated_cohorts` makes each (seed, sources) once and hands the same folder to every
file that asks. The folder is read only by convention: a test that changes files in it (damages
a phenotype, removes a genotype file, keeps a ledger under it) works on a copy (shutil.copytree).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from genofed.simulations.cohorts.real import SharedDataMissing, shared_data_dir


@pytest.fixture(scope="session", autouse=True)
def ledger_index_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The machine-wide privacy-ledger index (`$GENOFED_HOME/ledgers.json`) and the list of a user's
    indexes (`$GENOFED_INDEX_REGISTRY`) in a folder of the test session's own: commands that bind a
    ledger to its data (`hospital check`, `synth --epsilon`) must never write into the home folder
    of whoever runs the tests, nor read what is there."""
    previous = {name: os.environ.get(name) for name in ("GENOFED_HOME", "GENOFED_INDEX_REGISTRY")}
    home = tmp_path_factory.mktemp("genofed-home")
    os.environ.update(GENOFED_HOME=str(home), GENOFED_INDEX_REGISTRY=str(home / "indexes.json"))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def ledger_index_of_the_test(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test its own ledger index: tests share the session's simulated cohorts, and one test's
    binding of those files to its state folder must not refuse the next test's (module and session
    fixtures keep `ledger_index_of_the_session`'s), and its own list of indexes: a test that sets
    another GENOFED_HOME sees this one's bindings, as a user would."""
    home = tmp_path_factory.mktemp("genofed-home")
    monkeypatch.setenv("GENOFED_HOME", str(home))
    monkeypatch.setenv("GENOFED_INDEX_REGISTRY", str(home / "indexes.json"))


@pytest.fixture(autouse=True)
def synthetic_noise_of_the_test() -> Iterator[None]:
    """`genofed synth`'s DP randomness in this process (its keyed split, the public fills, the
    generator's noise) from a seeded stream (`seeded_dp_noise`), so that a test's small cohort is
    split the same way in every run. With secret keys a 30-patient cohort left fewer than 2
    held-out patients, which synth refuses, in about 1 % of runs (40 patients: 0.15 %), and the
    suite runs dozens of them: CI failed by chance. Successive draws in one test still differ."""
    import numpy as np

    from genofed.common.synthetic.pipeline import seeded_dp_noise

    with seeded_dp_noise(np.random.default_rng(20261205)):
        yield


@pytest.fixture
def flower_task_identity() -> None:
    """The run, task and node ids Flower stamps on every Message, which its simulation engine and
    SuperNode set: a test that builds Messages outside them (`pytestmark =
    pytest.mark.usefixtures("flower_task_identity")`) sets them here."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 1, 1, 0


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


@pytest.fixture
def write_vcf(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny VCF from data lines (tab-separated, samples S1..Sn unless given)."""

    def write(rows: list[str], samples: list[str] | None = None, name: str = "g.vcf") -> Path:
        samples = samples or [f"S{i}" for i in range(1, len(rows[0].split("\t")) - 8)]
        path = tmp_path / name
        path.write_text(VCF_HEADER.format(samples="\t".join(samples)) + "".join(r + "\n" for r in rows))
        return path

    return write


@pytest.fixture(scope="session")
def simulated_cohorts(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`simulated_cohorts(seed, with_sources=False)`: the small preset's cohorts for that seed,
    simulated on the first call of the session and shared by every later one. Read only."""
    from genofed.simulations.cohorts.build import simulate_cohorts

    made: dict[tuple[int, bool], Path] = {}

    def cohorts(seed: int, with_sources: bool = False) -> Path:
        key = (seed, with_sources)
        if key not in made:
            name = f"small-seed{seed}{'-sources' if with_sources else ''}"
            folder = tmp_path_factory.mktemp(name) / "cohorts"
            simulate_cohorts(folder, preset="small", seed=seed, with_sources=with_sources)
            made[key] = folder
        return made[key]

    return cohorts

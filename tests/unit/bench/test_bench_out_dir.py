"""A bench reading a federation's sites keeps their state (on real exports each site's secret)
in a temporary folder, never under RunSettings' default out-dir `runs/latest`, which is relative
to where the bench was started: a bench run from bench/ on real exports wrote the sites' secrets
into bench/runs/latest, inside the working tree."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

from helpers import load_bench_script
from helpers.bench import BENCH
from helpers.mixed_federation import write_mixed_federation

measure = load_bench_script("measure")


def test_reading_a_real_federations_sites_writes_nothing_where_the_bench_started(tmp_path, monkeypatch):
    fed = tmp_path / "fed"
    write_mixed_federation(fed, bcf=False)  # no truth.json: real exports, each site a random secret
    started_in = tmp_path / "bench"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    from genofed.simulations.local.simulate import simulated_sites

    sites = simulated_sites(measure.bench_settings(data_dir=str(fed), label_column="disease"))
    assert len(sites) == 4
    assert list(started_in.rglob("*")) == []
    secrets = sorted(p.parent.name for p in measure.bench_out_dir().rglob("secret.key"))
    assert secrets == ["kazan", "omsk", "orel", "tomsk"]
    assert measure.bench_out_dir().is_relative_to(Path(tempfile.gettempdir()))


def test_no_bench_script_reads_sites_with_the_default_out_dir():
    """Every `RunSettings(data_dir=...)` of a bench script names its out-dir (`bench_settings`)."""
    found = []
    for script in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "RunSettings":
                given = {k.arg for k in node.keywords}
                if "data_dir" in given and "out_dir" not in given:
                    found.append(f"{script.name}:{node.lineno}")
    assert found == [], f"use measure.bench_settings: {found}"

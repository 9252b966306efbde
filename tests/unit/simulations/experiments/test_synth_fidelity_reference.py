"""The fidelity experiment's reference-based arm on a tiny config: the "805site" dataset (a site
part of 1000 Genomes whose people are not in the public panel), the generator's rows with and
without DP, the cached pieces, and the config's refusals. The full experiment runs in
tests/e2e/experiments/test_synth_fidelity.py."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from genofed.common.errors import ConfigError
from genofed.simulations.experiments.synthetic_fidelity.config import FidelityConfig
from genofed.simulations.experiments.synthetic_fidelity.datasets import load_datasets
from genofed.simulations.experiments.synthetic_fidelity.generators import generator_temperatures, runs_on
from genofed.simulations.experiments.synthetic_fidelity.pieces import piece_key
from genofed.simulations.experiments.synthetic_fidelity.run import run_fidelity_experiment


def _tiny(out, **changes) -> FidelityConfig:
    """One seed, 100 people per evaluation set, the reference generator only (temperatures and
    epochs set on purpose: the reference arm must ignore both)."""
    return FidelityConfig(
        out_dir=str(out),
        generators=("reference",),
        datasets=("805site",),
        seeds=(1,),
        epsilons=(math.inf, 3.0),
        n_haplotypes=200,
        epochs=2,
        temperatures=(1.0, 0.7),
        **changes,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    from genofed.simulations.cohorts.real import SharedDataMissing, shared_data_dir

    try:
        shared_data_dir()
    except SharedDataMissing as missing:
        pytest.skip(str(missing))
    return run_fidelity_experiment(_tiny(tmp_path_factory.mktemp("fidelity_reference")))


def test_site_part_is_never_in_the_public_panel(thousand_genomes, tmp_path):
    (ds,) = load_datasets(_tiny(tmp_path))
    assert ds.name == "805site" and ds.panel is not None
    site = np.r_[ds.train, ds.test]
    assert len(np.intersect1d(ds.train, ds.test)) == 0 and len(site) == 2004
    panel_people = set(ds.panel.sample_ids)
    assert len(panel_people) == 500 and len(site) + len(panel_people) == 2504
    # the sample names of the site's people are not in the panel
    from genofed.simulations.cohorts.real import load_1000g

    names = load_1000g().sample_names
    assert not panel_people & set(names[site].tolist())
    assert set(ds.panel.populations.tolist()) == {"AFR", "AMR", "EAS", "EUR", "SAS"}
    assert runs_on("reference", ds) and runs_on("vae", ds)
    assert generator_temperatures("reference", _tiny(tmp_path)) == (1.0,)


def test_reference_rows_with_and_without_dp(results):
    rows = {(e["row"], e["epsilon"]): e for e in results["table"] if e["dataset"] == "805site"}
    assert ("reference T=0.7", "inf") not in rows  # no temperature to lower
    assert {"heldout", "naive", "perpop", "memorised"} <= {r for r, _ in rows}
    exact, dp = rows[("reference", "inf")], rows[("reference", 3.0)]
    assert exact["noise_multiplier"] is None and exact["epsilon_spent"] is None
    assert dp["noise_multiplier"] > 0 and dp["epsilon_spent"] == pytest.approx(3.0, abs=0.05)
    for entry in (exact, dp):
        assert not entry["errors"], entry["errors"]
        assert entry["exact_copies"] == 0 and entry["exact_copies_genotypes"] == 0
        # the panel carries the LD (mostly structure on these SNPs); independent sites have none
        assert entry["af_correlation"] > 0.95 and entry["ld_correlation"] > 0.8
        assert entry["mia_auc"] < 0.6
    assert rows[("naive", "inf")]["ld_correlation"] < 0.1
    assert exact["af_correlation"] >= dp["af_correlation"] - 0.01
    facts = results["datasets"][0]
    assert facts["panel_people"] == 500 and facts["panel_labels"] == "superpopulation"


def test_pieces_are_reused_and_keyed_by_the_panel(results):
    out = results["report"].rsplit("/", 1)[0]
    said: list[str] = []
    again = run_fidelity_experiment(_tiny(out), said.append)
    assert any("reused 805site-reference-eps3-s1.json" in line for line in said)
    assert again["table"] == results["table"]
    (ds,) = load_datasets(_tiny(out))
    config = _tiny(out)
    other = replace(ds, panel_facts={**ds.panel_facts, "panel_labels": "population"})
    assert piece_key(ds, config, "reference", 1) != piece_key(other, config, "reference", 1)
    assert "epochs" not in piece_key(ds, config, "reference", 1)["settings"]


def test_config_refuses_bad_panel_settings(tmp_path):
    with pytest.raises(ConfigError, match="panel_labels"):
        _tiny(tmp_path, panel_labels="continent")
    with pytest.raises(ConfigError, match="reference_share"):
        _tiny(tmp_path, reference_share=1.0)

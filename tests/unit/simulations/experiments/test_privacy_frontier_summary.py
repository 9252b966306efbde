"""The privacy-frontier experiment's pure parts, without running a federation: the designs and
the settings they pass, the privacy levels a design has, the targets and run time computed from
rows, the plot's axis, and bad options refused before anything runs. The experiment itself runs
in tests/e2e/experiments/test_privacy_frontier.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from genofed.common.errors import ConfigError
from genofed.server.settings import DEFAULT_MODEL, RunSettings
from genofed.simulations.experiments.privacy_frontier import (
    DESIGNS,
    FederationSpec,
    FrontierConfig,
)
from genofed.simulations.experiments.privacy_frontier.report import x_positions
from genofed.simulations.experiments.privacy_frontier.run import (
    NothingTrained,
    _check_trained,
    design_settings,
    not_applicable,
)
from genofed.simulations.experiments.privacy_frontier.summary import targets, timing

PRIORS = {"source": "models/near.pt", "genes": "fed/known_genes.bed"}


def test_eight_designs_four_models_each_also_distributed():
    assert len(DESIGNS) == 8
    local = [d for d in DESIGNS.values() if d.robust]
    assert [d.name for d in local] == ["network", "logistic", "logistic-source", "logistic-genes"]
    for design in local:
        twin = DESIGNS[f"{design.name}-distributed"]
        assert (twin.model, twin.prior, twin.distributed) == (design.model, design.prior, True)
    assert DEFAULT_MODEL in DESIGNS


@pytest.mark.parametrize("name", list(DESIGNS))
def test_a_design_changes_only_what_it_names(name, tmp_path):
    design = DESIGNS[name]
    run = RunSettings()
    settings = design_settings(run, design, tmp_path / "fed", tmp_path / "run", 2, 3.0, PRIORS, 500)
    assert settings.model == design.model
    assert settings.prior == ("models/near.pt" if design.prior == "source" else "")
    assert settings.gene_prior == ("fed/known_genes.bed" if design.prior == "genes" else "")
    assert (settings.secagg, settings.privacy) == (
        (True, "distributed") if design.distributed else (False, "local")
    )
    assert (settings.seed, settings.epsilon) == (2, 3.0)
    assert settings.prior_variants == (500 if design.prior == "source" else 0)  # a source prior's only
    changed = {k for k, v in settings.to_config().items() if run.to_config()[k] != v}
    allowed = {"data-dir", "out-dir", "seed", "epsilon", "quiet", "model", "prior", "prior-variants"}
    allowed |= {"gene-prior", "secagg", "privacy"}
    assert changed <= allowed


def test_distributed_designs_have_no_run_without_dp():
    assert "no noise to split" in not_applicable(DESIGNS["logistic-distributed"], math.inf)
    assert not_applicable(DESIGNS["logistic-distributed"], 3.0) == ""
    assert not_applicable(DESIGNS["logistic"], math.inf) == ""


def test_a_run_nobody_trained_in_is_refused_not_counted():
    refused = {"1": {"a": "no budget; refused", "b": "no budget; refused"}}
    with pytest.raises(NothingTrained, match="no budget"):
        _check_trained({"config": {"rounds": 1}, "sites": {"a": {}, "b": {}}, "refusals": refused})
    _check_trained({"config": {"rounds": 2}, "sites": {"a": {}, "b": {}}, "refusals": refused})


def _run(design, epsilon, seed, auc, per_round=1.0):
    return {
        "federation": "f",
        "design": design,
        "epsilon": epsilon,
        "seed": seed,
        "test_auc": auc,
        "wall_seconds": 60.0,
        "seconds_per_round": per_round,
    }


def _ref(reference, auc, seed=1, epsilon="inf", site=None):
    return {
        "federation": "f",
        "reference": reference,
        "seed": seed,
        "epsilon": epsilon,
        "site": site,
        "test_auc": auc,
    }


def test_targets_are_measured_against_the_references_of_the_same_run():
    runs = [
        _run("logistic", 3.0, 1, 0.80, per_round=2.0),
        _run("logistic", 8.0, 1, 0.84, per_round=2.0),
        _run("network", 3.0, 1, 0.60, per_round=4.0),
        _run("logistic-source", 3.0, 1, 0.79),
        _run("logistic-distributed", 3.0, 1, 0.83),
    ]
    references = [
        _ref("pooled", 0.86),
        _ref("dp-logistic", 0.75, epsilon=3.0),
        _ref("alone", 0.70, site="a"),
        _ref("alone", 0.82, site="b"),
    ]
    found = {(t["target"].split(":")[0], t["design"], t["epsilon"]): t for t in targets(runs, references)}
    above = found[("default design, robust, from scratch", "logistic", 3.0)]
    assert above["value"] == pytest.approx(0.05) and above["met"] is True
    gap8 = [t for k, t in found.items() if k[1] == "logistic" and k[2] == 8.0 and "gap" in t["target"]][0]
    assert gap8["value"] == pytest.approx(0.02) and gap8["met"] is True
    source3 = found[("source prior, robust", "logistic-source", 3.0)]
    assert source3["value"] == pytest.approx(0.07) and source3["met"] is True
    assert found[("source prior, robust", "logistic-source", 1.0)]["met"] is None  # not run
    distributed = found[("distributed (coordinator-facing)", "logistic-distributed", 3.0)]
    assert distributed["value"] == pytest.approx(0.03) and distributed["met"] is True
    hospitals = found[("every hospital gains", "logistic", 3.0)]
    assert hospitals["value"] == pytest.approx(-0.02) and hospitals["met"] is False
    assert (hospitals["worst_site"], hospitals["sites_below"]) == ("b", 1)
    cost = found[("seconds per round, logistic / network", "logistic", None)]
    assert cost["value"] == pytest.approx(0.5) and cost["met"] is True


def test_targets_without_runs_are_not_measured_rather_than_missed():
    rows = targets([], [_ref("pooled", 0.8)])
    assert rows and all(t["met"] is None and t["value"] is None for t in rows)


def test_the_full_grid_is_estimated_from_the_designs_measured():
    estimate = timing([_run("logistic", 3.0, 1, 0.8), _run("network", 3.0, 1, 0.6)])
    assert estimate["full_grid_runs"] == 192 - 4 * 2 * 3  # no distributed run without DP
    assert estimate["full_grid_seconds_estimate"] == pytest.approx(168 * 60.0)
    assert timing([])["full_grid_seconds_estimate"] is None


def test_no_dp_sits_at_the_right_edge_of_the_log_axis():
    where = x_positions([1.0, 3.0, 8.0, "inf"])
    assert where[1.0] == 1.0 and where[8.0] == 8.0 and where["inf"] == 24.0
    assert x_positions(["inf"])["inf"] == 30.0


def test_bad_grids_are_refused():
    with pytest.raises(ConfigError, match="designs"):
        FrontierConfig(out_dir="x", designs=("logistic", "perceptron"))
    with pytest.raises(ConfigError, match="share a name"):
        FrontierConfig(out_dir="x", federations=(FederationSpec("a", preset="small"),) * 2)
    with pytest.raises(ConfigError, match="not both"):
        FederationSpec("a", preset="small", data_dir="somewhere")


def test_a_cohorts_folder_is_named_after_its_parent(tmp_path):
    assert FederationSpec.from_folder(str(tmp_path / "heldout" / "cohorts")).name == "heldout"
    assert FederationSpec.from_folder(str(tmp_path / "mine")).name == "mine"


def test_bad_options_are_one_line_errors_before_anything_runs(tmp_path: Path, capsys):
    from genofed.cli.main import main

    out = tmp_path / "x"
    assert main(["experiment", "privacy-frontier", "--out", str(out), "--designs", "logistic,mlp"]) == 2
    assert "--designs takes" in capsys.readouterr().err
    assert main(["experiment", "privacy-frontier", "--out", str(out), "--federations", "other"]) == 2
    assert "--data DIR" in capsys.readouterr().err
    assert not out.exists()

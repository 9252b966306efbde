"""`genofed inspect-model`: what applies to the model's kind and architecture, and nothing that is
None: a logistic model's trainable parameters (not its scale buffer) and no network settings; a
federated model's privacy spent and threshold; an adapted model's keep-inside warning; a
pretrained network's shape and training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from helpers.model_files import N_VARIANTS, model_file, write_people

from genofed.cli.main import main
from genofed.common.model.network import ModelConfig, build_model
from genofed.common.scoring.model_file import Task, save_model_file

FEDERATED = {
    "source": "federated run runs/demo",
    "kind": "federated",
    "created": "2026-01-01T00:00:00+00:00",
    "rounds": 10,
    "samples": 1210,
    "sites": {"a": {"train": 8, "validation": 2}, "b": {"train": 8, "validation": 2}},
    "metrics": {"test": {"auc": 0.717, "n": 600, "brier": 0.22}, "site_evaluation": {"auc": 0.61}},
    "epsilon": {"a": 7.5, "b": 7.9},
    "settings": {"epsilon": 8.0, "delta": 1e-5, "seed": 42, "strategy": "fedavg"},
}


def _inspect(path, capsys, *extra: str) -> str:
    assert main(["inspect-model", str(path), *extra]) == 0
    return capsys.readouterr().out


def test_a_federated_logistic_model(tmp_path, capsys):
    path = tmp_path / "model.pt"
    save_model_file(path, replace(model_file(), provenance=FEDERATED))
    out = _inspect(path, capsys)
    assert "None" not in out
    assert f"model: logistic, {N_VARIANTS + 3} parameters ({N_VARIANTS} variant weights" in out
    assert "block_size" not in out and "hidden" not in out
    assert "10 rounds, 2 hospitals, 1,210 patients" in out
    assert "epsilon spent at most 7.90 of the budget 8 per hospital, delta 1e-05" in out
    assert "test AUC 0.717 on 600 people" in out and "operating threshold: 0.5" in out
    assert "percentiles: from a risk distribution" in out
    info = json.loads(_inspect(path, capsys, "--json"))
    assert info["parameters"] == N_VARIANTS + 3 and info["kind"] == "federated"
    assert "block_size" not in info["model_config"] and info["operating"]["threshold"]["threshold"] == 0.5


def test_the_run_folders_name_reads_as_a_name_whatever_it_is(tmp_path, capsys):
    """A walkthrough's run folder named `run` made "source: federated run run"; an older file's
    wording is said the new way, the file itself unchanged."""
    path = tmp_path / "model.pt"
    for written in ("federated run run", "federated run in folder 'run'"):
        save_model_file(path, replace(model_file(), provenance={**FEDERATED, "source": written}))
        assert "source: federated run in folder 'run' (10 rounds" in _inspect(path, capsys)


def test_an_adapted_model_says_to_keep_it_inside(tmp_path, capsys):
    shared = tmp_path / "shared.pt"
    save_model_file(shared, replace(model_file(), provenance=FEDERATED))
    genotypes, phenotypes = write_people(tmp_path / "people")
    adapted = tmp_path / "adapted.pt"
    args = ["adapt", "--model", str(shared), "--genotypes", str(genotypes), "--phenotypes", str(phenotypes)]
    assert main([*args, "--out", str(adapted)]) == 0
    capsys.readouterr()
    out = _inspect(adapted, capsys)
    assert "None" not in out
    assert "KEEP INSIDE THE HOSPITAL" in out and "never send it to a coordinator" in out
    assert "adapted from the shared model" in out and "calibrated out of fold" in out
    assert "validation: AUC on" in out and "epsilon" not in out
    # validated on the hospital's own validation patients; the shared model's file records nobody
    assert "validated on: the hospital's own validation patients:" in out
    assert "shared model it came from was validated on" not in out


def test_a_pretrained_network_and_nothing_it_lacks(tmp_path, capsys):
    config = ModelConfig(n_variants=N_VARIANTS)
    network = replace(
        model_file(operating=False),
        model_config=config,
        state_dict=build_model(config, seed=0).state_dict(),
        provenance={"source": "/data/source", "samples": 500, "settings": {"seed": 1}, "metrics": {}},
    )
    path = tmp_path / "near.pt"
    save_model_file(path, network)
    out = _inspect(path, capsys)
    assert "None" not in out and "model: network" in out and "block_size 20" in out
    assert "source: /data/source (500 people)" in out and "trained: seed 1" in out
    assert "operating threshold" not in out and "best epoch" not in out
    expected = sum(int(np.prod(p.shape)) for p in build_model(config, seed=0).parameters())
    assert f"{expected:,} parameters" in out


def test_an_empty_expect_hash_is_refused(tmp_path, capsys):
    path = tmp_path / "model.pt"
    save_model_file(path, model_file())
    assert main(["inspect-model", str(path), "--expect-hash", ""]) == 2
    assert "--expect-hash is empty" in capsys.readouterr().err


def test_who_the_model_was_validated_on_is_shown(tmp_path, capsys):
    from helpers.validated_on import adults

    path = tmp_path / "model.pt"
    save_model_file(path, replace(model_file(), provenance=FEDERATED, validated_on=adults()))
    out = _inspect(path, capsys)
    assert (
        "  validated on: the coordinator's test cohort: 40 people (20 with the disease), ages 18-79 "
        "(5th-95th percentile 21-76), 20 female, 20 male"
    ) in out
    # 40 people pass the check, which on so few cannot tell (validation.MIN_CALIBRATION_PEOPLE)
    assert "    calibration there: cannot tell on 40 people" in out and "Hosmer-Lemeshow test" in out
    info = json.loads(_inspect(path, capsys, "--json"))
    assert info["validated_on"]["age"]["min"] == 18.0
    # a binary model whose file does not record it says so, and --json gives null
    old = tmp_path / "old.pt"
    save_model_file(old, replace(model_file(), provenance=FEDERATED))
    out = _inspect(old, capsys)
    assert "validated on: not recorded: the model file does not say who the model was validated on" in out
    assert json.loads(_inspect(old, capsys, "--json"))["validated_on"] is None


def test_percentiles_predict_withholds_are_said_to_be_withheld(tmp_path, capsys):
    """A walkthrough: inspect-model described percentiles from 63 noisy validation patients that
    `predict` then did not show (their noise alone moved one by 12 points)."""
    model = model_file()
    noisy = {"noise_per_count": 7.0, "source": "pooled validation histogram, counts as released (noisy)"}
    distribution = {**model.operating["risk_distribution"], **noisy, "percentile_sd": 12.0}
    path = tmp_path / "model.pt"
    save_model_file(
        path,
        replace(
            model, provenance=FEDERATED, operating={**model.operating, "risk_distribution": distribution}
        ),
    )
    out = _inspect(path, capsys)
    # the noise and sampling 130 people (4.4 points) together: 12.8
    assert (
        "`genofed predict` does not show them: the noise moves one by up to 12.0 points and sampling so few "
        "people by up to 4.4: 12.8 together (one sd; shown up to 5)" in out
    )


def test_a_deployed_models_task_names_the_hospitals_own_columns(tmp_path, capsys):
    """A walkthrough's deployed model said "task: binary 'label'" where every hospital trained on a
    column named 'disease': the coordinator never sees a hospital's column, only its test cohort's."""
    path = tmp_path / "model.pt"
    deployed = {**FEDERATED, "settings": {**FEDERATED["settings"], "expected-nodes": 3}}
    save_model_file(path, replace(model_file(), provenance=deployed))
    own = "each hospital's own disease column (label-column in its node config, which it does not send)"
    assert f"task: binary, trained on {own}; 'label' in the coordinator's test cohort\n" in _inspect(
        path, capsys
    )
    untested = {**deployed, "metrics": {"test": None}}
    save_model_file(path, replace(model_file(), provenance=untested))
    out = _inspect(path, capsys)
    assert f"task: binary, trained on {own}\n" in out and "'label'" not in out
    # a simulation reads every hospital's files with its own --label-column: the name is the real one
    save_model_file(path, replace(model_file(), task=Task("binary", "disease"), provenance=FEDERATED))
    assert "task: binary 'disease'\n" in _inspect(path, capsys)


def test_a_dp_runs_validation_auc_is_not_said_exact_for_a_zero_noise_sd(tmp_path, capsys):
    """auc_noise_sd 0 is a run without DP's, or a DP release whose replies named no noise: the
    settings' finite epsilon tells them apart."""
    path = tmp_path / "model.pt"
    metrics = {**FEDERATED["metrics"], "site_evaluation": {"auc": 0.61, "auc_noise_sd": 0.0}}
    dp = {**FEDERATED, "metrics": metrics}
    save_model_file(path, replace(model_file(), provenance=dp))
    out = _inspect(path, capsys)
    assert "exact counts" not in out and "hospitals' noisy validation AUC 0.610" in out
    no_dp = {**dp, "settings": {**FEDERATED["settings"], "epsilon": "inf"}, "epsilon": {}}
    save_model_file(path, replace(model_file(), provenance=no_dp))
    assert "hospitals' validation AUC 0.610 (exact counts: a run without DP)" in _inspect(path, capsys)

"""Run settings: validated early with messages a user can act on; a typo never passes silently."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from genofed.server.settings import RunSettings, SettingsError


def test_from_flower_run_config_converts_kebab_case_and_types():
    settings = RunSettings.from_config(
        {"rounds": "4", "epsilon": "inf", "local-epochs": 3, "strategy": "fedprox", "resume": "true"}
    )
    assert settings.rounds == 4 and settings.local_epochs == 3 and settings.resume is True
    assert math.isinf(settings.epsilon) and not settings.private
    assert RunSettings.from_config(settings.to_config()) == settings  # round trip, inf included


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"round": 3}, "unknown run setting.*round"),
        ({"strategy": "fedsgd"}, "strategy must be one of fedavg, fedprox, fedadam"),
        ({"epsilon": 0}, "epsilon must be > 0"),
        ({"delta": 2}, "delta must be in"),
        ({"rounds": "ten"}, "rounds='ten' is not a valid int"),
        # every hospital would refuse each round (an ML engineer's walkthrough), or nothing could wait
        ({"strategy": "fedprox", "proximal-mu": -5.0}, "proximal-mu must be >= 0, got -5"),
        ({"strategy": "fedadam", "server-lr": -1.0}, "server-lr must be > 0, got -1"),
        ({"strategy": "fedadam", "server-lr": 0.0}, "server-lr must be > 0, got 0"),
        ({"expected-nodes": -2}, "expected-nodes must be >= 0, got -2"),
        ({"rounds": 200_000}, r"rounds must be in \[0, 100000\], got 200000"),
        # settings that would change nothing, or whose run could never train, are refused
        ({"prior-variants": 5}, "prior-variants .* needs prior"),
        ({"max-coalition-epsilon": 2.0}, "max-coalition-epsilon .* only under privacy=distributed"),
        (
            {"secagg": True, "privacy": "distributed", "epsilon": 3.0, "synthetic-ratio": 1.0},
            "privacy=distributed trains on real patients only",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(config, match):
    with pytest.raises(SettingsError, match=match):
        RunSettings.from_config(config)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"lr": 11}, "lr must be at most 10, got 11: every hospital refuses"),
        ({"clip": 2000}, "clip must be at most 1000"),
        ({"local-epochs": 1001}, "local-epochs must be at most 1000"),
        ({"momentum": 0.9995}, "momentum must be at most 0.999"),
        ({"proximal-mu": 1e4}, "proximal-mu must be at most 1000"),
    ],
)
def test_a_training_setting_every_hospital_would_refuse_is_refused_before_the_run(config, match):
    """A run with `--lr 11` used to start, every hospital refused every round (the sites' own
    TRAINING_LIMITS) and it ended with an untrained model; now the settings refuse it."""
    with pytest.raises(SettingsError, match=match):
        RunSettings.from_config(config)


def test_the_largest_training_settings_a_hospital_accepts_are_accepted():
    from genofed.client.training_request import requested_training

    settings = RunSettings(lr=10.0, clip=1e3, local_epochs=1000, momentum=0.999)
    config = {"lr": settings.lr, "clip": settings.clip, "local-epochs": settings.local_epochs}
    assert requested_training({**config, "momentum": settings.momentum}, {}).lr == 10.0


def test_experiment_id_ignores_where_outputs_go_but_not_what_is_computed():
    a = RunSettings(out_dir="runs/a", quiet=True)
    assert a.experiment_id() == RunSettings(out_dir="runs/b", resume=True).experiment_id()
    assert a.experiment_id() != RunSettings(out_dir="runs/a", epsilon=3.0).experiment_id()


def test_resume_refuses_changed_settings_but_not_a_new_output_folder(tmp_path):
    from genofed.common.errors import GenofedError
    from genofed.common.model.network import ModelConfig
    from genofed.server.checkpoint import Checkpoint
    from genofed.server.resume import check_resumable as _check_resumable

    config = ModelConfig(n_variants=100)
    before = RunSettings(out_dir="runs/a", lr=0.05)
    checkpoint = Checkpoint(2, {}, config.to_dict(), "plan", settings=before.to_config())
    _check_resumable(
        checkpoint, config, RunSettings(out_dir="runs/b", lr=0.05, resume=True, quiet=True), tmp_path
    )
    # the plan id follows from the settings, and a resumed run takes it from its checkpoint
    _check_resumable(checkpoint, config, RunSettings(out_dir="runs/a", lr=0.05, plan_id="other"), tmp_path)
    with pytest.raises(GenofedError, match=r"lr: 0.05 -> 0.1"):
        _check_resumable(checkpoint, config, RunSettings(out_dir="runs/a", lr=0.1, resume=True), tmp_path)
    with pytest.raises(GenofedError, match="another model/panel"):
        _check_resumable(checkpoint, ModelConfig(n_variants=99), before, tmp_path)


def test_pyproject_run_config_is_valid_and_lets_flwr_run_start_from_a_pretrained_model():
    """`flwr run --run-config` may only override keys pyproject.toml declares (Flower checks)."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    config = pyproject["tool"]["flwr"]["app"]["config"]
    settings = RunSettings.from_config(config)
    assert {"pretrained", "pretrained-hash", "finetune"} <= set(config)
    assert settings.finetune == "full" and settings.pretrained == ""


def test_pyproject_declares_every_run_setting_at_its_default():
    """Flower refuses a `--run-config` key pyproject.toml does not declare ("Invalid run
    configuration.", naming no key): every setting is declared, and only where a `flwr run` reads
    its demo and writes its outputs differs from the settings' defaults."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    declared = RunSettings.from_config(pyproject["tool"]["flwr"]["app"]["config"]).to_config()
    defaults = RunSettings().to_config()
    assert set(pyproject["tool"]["flwr"]["app"]["config"]) == set(defaults)
    assert {k for k in defaults if declared[k] != defaults[k]} == {"data-dir", "out-dir"}


@pytest.mark.parametrize("value", ["on", "ture", "off", "", "2"])
def test_a_yes_no_setting_in_other_words_is_refused(value):
    """`secagg='on'` once ran without secure aggregation: every word but true/yes/1 read as false."""
    with pytest.raises(SettingsError, match=f"run setting secagg={value!r} is neither true nor false"):
        RunSettings.from_config({"secagg": value})


@pytest.mark.parametrize(("value", "expected"), [("TRUE", True), ("yes", True), ("0", False), (False, False)])
def test_a_yes_no_setting_reads_true_and_false(value, expected):
    assert RunSettings.from_config({"secagg": value, "strategy": "fedavg"}).secagg is expected


def test_a_bool_is_no_number():
    with pytest.raises(SettingsError, match="epsilon=True is not a valid float"):
        RunSettings.from_config({"epsilon": True})


@pytest.mark.parametrize("strategy", ["fedmedian", "fedtrimmedavg", "krum", "multikrum"])
def test_robust_aggregators_are_refused_with_secure_aggregation(strategy):
    """SecAgg+ shows the coordinator a masked sum; a median, trimmed mean or Krum needs each update."""
    with pytest.raises(
        SettingsError, match=f"secagg cannot run strategy {strategy}: .* needs each hospital's update"
    ):
        RunSettings(strategy=strategy, secagg=True)
    assert RunSettings(strategy=strategy).strategy == strategy


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"trim-beta": 0.5}, r"trim-beta must be in \[0, 0.5\)"),
        ({"trim-beta": -0.1}, r"trim-beta must be in \[0, 0.5\)"),
        ({"malicious-nodes": -1}, "malicious-nodes must be >= 0"),
    ],
)
def test_robust_aggregation_settings_are_checked(config, match):
    with pytest.raises(SettingsError, match=match):
        RunSettings.from_config(config)


def test_robust_aggregation_settings_change_the_experiment_id_only_where_used():
    """A plain run's id (and so its plan id and noise draws) does not depend on settings it does not use."""
    assert RunSettings(trim_beta=0.4, malicious_nodes=3).experiment_id() == RunSettings().experiment_id()
    trimmed = RunSettings(strategy="fedtrimmedavg")
    assert replace(trimmed, trim_beta=0.4).experiment_id() != trimmed.experiment_id()
    assert replace(trimmed, malicious_nodes=3).experiment_id() == trimmed.experiment_id()
    krum = RunSettings(strategy="krum")
    assert replace(krum, malicious_nodes=2).experiment_id() != krum.experiment_id()
    settings = RunSettings.from_config({"strategy": "multikrum", "malicious-nodes": "2", "trim-beta": "0.3"})
    assert settings.malicious_nodes == 2 and RunSettings.from_config(settings.to_config()) == settings


def test_genofed_simulate_takes_the_robust_strategies_and_their_settings():
    import argparse

    from genofed.cli.simulation import register_simulate

    parser = argparse.ArgumentParser()
    register_simulate(parser.add_subparsers())
    args = parser.parse_args(
        [
            "simulate",
            "--out",
            "runs/x",
            "--strategy",
            "fedtrimmedavg",
            "--trim-beta",
            "0.34",
            "--malicious-nodes",
            "2",
        ]
    )
    assert (args.strategy, args.trim_beta, args.malicious_nodes) == ("fedtrimmedavg", 0.34, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--out", "runs/x", "--strategy", "bulyan"])


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"seed": -5}, "seed must be >= 0"),
        ({"out-dir": ""}, "out-dir is empty"),
        ({"pretrained-hash": "abc123abc123"}, "pretrained-hash is the hash the pretrained model must have"),
    ],
)
def test_settings_that_would_be_ignored_or_misread_are_refused(config, match):
    with pytest.raises(SettingsError, match=match):
        RunSettings.from_config(config)

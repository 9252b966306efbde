"""Transfer learning: the pretrained-model file (round trip, content hash, refusal of damaged,
foreign or mismatched models), `genofed pretrain` (binary and multi-class), what each
fine-tuning mode trains (and hands to the DP optimizer), and the disease model a federation
starts from. No Flower federation runs here, except one refused `genofed simulate` call."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

import genofed.client.trainer as trainer_module
import genofed.simulations.local.simulate as simulate_module
from genofed.cli.main import main
from genofed.client.trainer import TrainSettings, train_model
from genofed.common.data.panel import VariantPanel
from genofed.common.errors import DataError, GenofedError
from genofed.common.model import network as model_module
from genofed.common.model.network import (
    FINETUNE_MODES,
    ModelConfig,
    build_model,
    set_trainable,
    trainable_names,
)
from genofed.common.scoring.model_file import (
    FORMAT,
    PretrainedModel,
    PretrainedModelError,
    Task,
    check_compatible,
    content_hash,
    describe,
    disease_start,
    load_pretrained,
    save_pretrained,
)
from genofed.server import settings as settings_module
from genofed.server.pretraining.settings import L2_GRID
from genofed.server.pretraining.train import PretrainSettings, pretrain
from genofed.server.settings import RunSettings, SettingsError
from genofed.server.start_model import start_model

NEAR_SETTINGS = PretrainSettings(epochs=3)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fed(simulated_cohorts) -> Path:
    """The session's small cohorts with their sources, seed 5 (read only: models go to tmp paths)."""
    return simulated_cohorts(5, with_sources=True)


@pytest.fixture(scope="module")
def panel(fed) -> VariantPanel:
    return VariantPanel.load(fed / "panel.tsv")


@pytest.fixture(scope="module")
def near(fed, tmp_path_factory) -> tuple[Path, PretrainedModel, str]:
    """(file, model, content hash) of a model pretrained for 3 epochs on sources/near."""
    path = tmp_path_factory.mktemp("models") / "near.pt"
    model, digest = pretrain(fed / "sources" / "near", fed / "panel.tsv", path, NEAR_SETTINGS)
    return path, model, digest


@pytest.fixture(scope="module")
def other_panel_model(panel, tmp_path_factory) -> Path:
    """An intact model file, but for a panel of the first 100 variants only."""
    sub = VariantPanel(panel.variant_ids[:100], panel.alt_freq[:100])
    config = ModelConfig(n_variants=100)
    path = tmp_path_factory.mktemp("models") / "other-panel.pt"
    save_pretrained(
        path, PretrainedModel(build_model(config, 0).state_dict(), config, sub, Task("binary", "label"))
    )
    return path


def _tamper(src: Path, dst: Path, change) -> Path:
    """Re-save the raw payload of `src` after `change(payload)`, keeping its recorded content hash."""
    payload = torch.load(src, map_location="cpu", weights_only=True)
    change(payload)
    torch.save(payload, dst)
    return dst


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- 1. round trip


def test_round_trip_keeps_weights_config_panel_task_and_provenance(near, fed, panel) -> None:
    path, model, digest = near
    loaded = load_pretrained(path)

    assert (
        set(loaded.state_dict)
        == set(model.state_dict)
        == set(build_model(model.model_config, 0).state_dict())
    )
    for name, tensor in model.state_dict.items():
        assert loaded.state_dict[name].dtype == tensor.dtype
        assert torch.equal(loaded.state_dict[name], tensor), name
    assert (
        loaded.model_config
        == model.model_config
        == ModelConfig(n_variants=len(panel), hidden=16, block_size=20)
    )
    assert loaded.panel.variant_ids == panel.variant_ids
    np.testing.assert_array_equal(loaded.panel.alt_freq, panel.alt_freq)
    assert loaded.task == model.task == Task("binary", "label", ())
    assert loaded.provenance == model.provenance
    assert digest == content_hash(loaded) == loaded.content_hash == content_hash(model)
    assert len(digest) == 64 and int(digest, 16) >= 0
    # the rebuilt network computes the same thing
    x = torch.randn(5, len(panel) + 2)
    torch.testing.assert_close(loaded.build().eval()(x), model.build().eval()(x), rtol=0, atol=0)


def test_provenance_records_source_files_seed_settings_and_metrics(near, fed) -> None:
    path, _, _ = near
    prov = load_pretrained(path).provenance
    source = fed / "sources" / "near"
    assert prov["source"] == str(source.resolve())
    assert prov["files"]["genotypes"]["path"] == str((source / "genotypes.bed").resolve())
    assert prov["files"]["genotypes"]["sha256"] == _sha256(source / "genotypes.bed")
    assert prov["files"]["phenotypes"]["sha256"] == _sha256(source / "phenotypes.csv")
    assert prov["panel"]["sha256"] == _sha256(fed / "panel.tsv") and prov["panel"]["variants"] == 480
    assert prov["settings"] == asdict(NEAR_SETTINGS) and prov["settings"]["seed"] == 42
    assert prov["samples"] == 1000 and prov["train_samples"] + prov["validation_samples"] == 1000
    assert prov["validation_samples"] == pytest.approx(100, abs=2)

    metrics = prov["metrics"]
    history = metrics["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    aucs = [h["auc"] for h in history]
    # the kept epoch is the first one with the best validation AUC, and its metrics are recorded
    assert metrics["best_epoch"] == 1 + int(np.argmax(aucs))
    assert metrics["validation"]["auc"] == aucs[metrics["best_epoch"] - 1]
    assert 0.0 <= metrics["validation"]["auc"] <= 1.0


# --------------------------------------------------------------------------- 2. hash verification


def test_resaving_an_unchanged_payload_still_loads(near, tmp_path) -> None:
    """Control for the tampering tests: load + re-save of the raw payload alone breaks nothing."""
    path, _, digest = near
    copy = _tamper(path, tmp_path / "copy.pt", lambda payload: None)
    assert load_pretrained(copy).content_hash == digest


def _flip_weight(payload: dict) -> None:
    weight = payload["state_dict"]["blocks.weight"]
    weight.view(-1)[7] = torch.nextafter(weight.view(-1)[7], torch.tensor(10.0))  # one value, by one ulp


def _edit_provenance(payload: dict) -> None:
    payload["provenance"]["samples"] = 999


def _edit_panel(payload: dict) -> None:
    payload["panel"]["alt_freq"][3] = round(payload["panel"]["alt_freq"][3] + 0.01, 6)


def _edit_task(payload: dict) -> None:
    payload["task"]["label"] = "other"


@pytest.mark.parametrize(
    "change",
    [_flip_weight, _edit_provenance, _edit_panel, _edit_task],
    ids=["weight", "provenance", "panel", "task"],
)
def test_a_modified_file_is_refused_by_its_content_hash(near, tmp_path, change) -> None:
    path, _, _ = near
    tampered = _tamper(path, tmp_path / "tampered.pt", change)
    with pytest.raises(PretrainedModelError, match="content hash mismatch") as refused:
        load_pretrained(tampered)
    assert str(tampered) in str(refused.value)


def test_a_truncated_or_empty_file_is_refused_with_a_clear_error(near, tmp_path) -> None:
    path, _, _ = near
    data = path.read_bytes()
    for name, content in (
        ("half.pt", data[: len(data) // 2]),
        ("tail-cut.pt", data[:-100]),
        ("empty.pt", b""),
    ):
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(PretrainedModelError, match="cannot read the pretrained model") as refused:
            load_pretrained(broken)
        assert str(broken) in str(refused.value)


def test_a_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(PretrainedModelError, match="not found.*genofed pretrain"):
        load_pretrained(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    "payload",
    [{"a": 1}, [1, 2, 3], {"format": "genofed-pretrained/0", "content_hash": ""}],
    ids=["dict", "list", "old-format"],
)
def test_a_file_that_is_not_a_genofed_model_is_refused(tmp_path, payload) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(payload, path)
    with pytest.raises(PretrainedModelError, match="not a genofed pretrained model"):
        load_pretrained(path)


def test_a_payload_missing_a_field_is_refused(near, tmp_path) -> None:
    path, _, _ = near
    broken = _tamper(path, tmp_path / "no-panel.pt", lambda payload: payload.pop("panel"))
    with pytest.raises(PretrainedModelError, match="cannot read"):
        load_pretrained(broken)


_UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    _UNPICKLED.append("ran")
    return "ran"


class _Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_loading_never_runs_code_from_the_file(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": FORMAT, "content_hash": "", "state_dict": {}, "provenance": {"x": _Payload()}}, path
    )
    with pytest.raises(PretrainedModelError, match="cannot read"):
        load_pretrained(path)
    assert _UNPICKLED == []


def test_expected_hash_pins_the_model(near) -> None:
    path, _, digest = near
    assert load_pretrained(path, expected_hash=digest).content_hash == digest
    assert load_pretrained(path, expected_hash=digest[:12]).content_hash == digest
    assert load_pretrained(path, expected_hash=f"  {digest[:16].upper()}\n").content_hash == digest
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    for bad in (wrong, wrong[:12], digest[:11], digest[:1]):
        with pytest.raises(PretrainedModelError, match="hash.*not the approved"):
            load_pretrained(path, expected_hash=bad)


# ---------------------------------------------------------------- 3. mismatched panel / architecture


def test_check_compatible_accepts_the_same_panel(near, panel) -> None:
    check_compatible(near[1], panel)
    check_compatible(near[1], VariantPanel(list(panel.variant_ids), panel.alt_freq + 4e-7))  # below rounding


def test_check_compatible_refuses_another_panel_length(near, panel) -> None:
    shorter = VariantPanel(panel.variant_ids[:-1], panel.alt_freq[:-1])
    with pytest.raises(PretrainedModelError, match="panel of 480 variants.*panel has 479"):
        check_compatible(near[1], shorter, source="near.pt")


def test_check_compatible_refuses_another_variant_order(near, panel) -> None:
    ids = list(panel.variant_ids)
    ids[3], ids[7] = ids[7], ids[3]
    freqs = panel.alt_freq.copy()
    freqs[[3, 7]] = freqs[[7, 3]]
    with pytest.raises(PretrainedModelError, match="another panel: variant 4 is") as refused:
        check_compatible(near[1], VariantPanel(ids, freqs), source="near.pt")
    assert panel.variant_ids[3] in str(refused.value) and panel.variant_ids[7] in str(refused.value)
    assert str(refused.value).startswith("near.pt ")


def test_check_compatible_refuses_other_allele_frequencies(near, panel) -> None:
    freqs = panel.alt_freq.copy()
    freqs[10] = min(1.0, freqs[10] + 0.01) if freqs[10] < 0.5 else freqs[10] - 0.01
    with pytest.raises(PretrainedModelError, match="other allele frequencies") as refused:
        check_compatible(near[1], VariantPanel(list(panel.variant_ids), freqs))
    assert panel.variant_ids[10] in str(refused.value)


def test_check_compatible_refuses_another_input_width(near, panel) -> None:
    config = replace(near[1].model_config, n_covariates=3)
    other = replace(near[1], model_config=config, state_dict=build_model(config, 0).state_dict())
    with pytest.raises(PretrainedModelError, match="3 covariates"):
        check_compatible(other, panel)


def test_starting_model_refuses_a_model_for_another_panel(fed, panel, other_panel_model) -> None:
    settings = RunSettings(data_dir=str(fed), pretrained=str(other_panel_model))
    with pytest.raises(PretrainedModelError, match="panel of 100 variants.*panel has 480") as refused:
        start_model(settings, panel)
    assert str(other_panel_model) in str(refused.value)


def test_starting_model_from_a_pretrained_binary_model(fed, panel, near) -> None:
    path, model, digest = near
    begin = start_model(RunSettings(data_dir=str(fed), pretrained=str(path)), panel)
    config, weights, description = begin.config, begin.weights, begin.pretrained
    assert config == model.model_config
    assert begin.settings.model == "network" and begin.settings.lr == 0.05  # auto: the file's, its rule
    assert all(torch.equal(weights[k], model.state_dict[k]) for k in model.state_dict)
    assert description["content_hash"] == digest and description["task"]["kind"] == "binary"
    assert description["source"] == str((fed / "sources" / "near").resolve())
    with pytest.raises(PretrainedModelError, match="not the approved"):
        start_model(RunSettings(data_dir=str(fed), pretrained=str(path), pretrained_hash="0" * 64), panel)
    # without a pretrained model: a fresh one, seeded
    fresh_start = start_model(RunSettings(data_dir=str(fed), seed=3, model="network"), panel)
    fresh_config, fresh, none = fresh_start.config, fresh_start.weights, fresh_start.pretrained
    assert none is None and fresh_config == ModelConfig(n_variants=480)
    assert all(torch.equal(fresh[k], v) for k, v in build_model(fresh_config, 3).state_dict().items())


def test_starting_model_refuses_weights_that_do_not_fit_the_config(fed, panel, near, tmp_path) -> None:
    _, model, _ = near
    other_weights = build_model(replace(model.model_config, hidden=8), 0).state_dict()
    path = tmp_path / "mismatched.pt"
    save_pretrained(path, replace(model, state_dict=other_weights))  # intact file, consistent hash
    with pytest.raises(PretrainedModelError):
        start_model(RunSettings(data_dir=str(fed), pretrained=str(path)), panel)


def _flower_must_not_start(*args, **kwargs):
    raise AssertionError("genofed simulate started Flower's simulation engine before refusing the model")


def test_simulate_cli_refuses_a_damaged_model_before_flower(fed, near, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_must_not_start)
    tampered = _tamper(near[0], tmp_path / "tampered.pt", _flip_weight)
    code = main(
        [
            "simulate",
            "--data",
            str(fed),
            "--out",
            str(tmp_path / "run"),
            "--pretrained",
            str(tampered),
            "--rounds",
            "1",
            "--no-references",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "content hash mismatch" in err
    assert not (tmp_path / "run" / "results.json").exists()


def test_simulate_cli_refuses_finetune_without_pretrained(fed, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_must_not_start)
    code = main(
        [
            "simulate",
            "--data",
            str(fed),
            "--out",
            str(tmp_path / "run"),
            "--finetune",
            "partial",
            "--rounds",
            "1",
            "--no-references",
            "--quiet",
        ]
    )
    assert code == 2
    assert "finetune=partial" in capsys.readouterr().err


def test_simulate_cli_refuses_another_panels_model_before_flower(
    fed, other_panel_model, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(simulate_module, "_run_flower", _flower_must_not_start)
    code = main(
        [
            "simulate",
            "--data",
            str(fed),
            "--out",
            str(tmp_path / "run"),
            "--pretrained",
            str(other_panel_model),
            "--rounds",
            "1",
            "--no-references",
            "--quiet",
        ]
    )
    assert code == 2
    assert "panel of 100 variants" in capsys.readouterr().err


def test_simulate_cli_refuses_another_panels_model(fed, other_panel_model, tmp_path, capsys) -> None:
    """The real path, Flower included (the check now runs before Ray starts): exit 2, a
    one-line error naming the problem, and no results or final model written."""
    out = tmp_path / "run"
    code = main(
        [
            "simulate",
            "--data",
            str(fed),
            "--out",
            str(out),
            "--pretrained",
            str(other_panel_model),
            "--rounds",
            "1",
            "--no-references",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "panel of 100 variants" in err and "480" in err
    assert "Traceback" not in err
    assert not (out / "results.json").exists()


# --------------------------------------------------------------------------- 4. run settings


def test_finetune_modes_agree_between_settings_and_model() -> None:
    assert settings_module.FINETUNE_MODES == model_module.FINETUNE_MODES == ("full", "partial", "frozen")


def test_run_settings_validate_finetune() -> None:
    assert RunSettings().finetune == "full" and RunSettings().pretrained == ""
    with pytest.raises(SettingsError, match="finetune must be one of full, partial, frozen"):
        RunSettings(finetune="head", pretrained="m.pt")
    for mode in ("partial", "frozen"):
        with pytest.raises(SettingsError, match=f"finetune={mode}.*pretrained"):
            RunSettings(finetune=mode)
        with pytest.raises(SettingsError, match="pretrained"):
            RunSettings.from_config({"finetune": mode})
        assert RunSettings(finetune=mode, pretrained="m.pt").finetune == mode
        from_config = RunSettings.from_config(
            {"finetune": mode, "pretrained": "m.pt", "pretrained-hash": "ab" * 6}
        )
        assert (from_config.finetune, from_config.pretrained, from_config.pretrained_hash) == (
            mode,
            "m.pt",
            "ab" * 6,
        )
    assert RunSettings(pretrained="m.pt").finetune == "full"
    # the experiment id covers the starting model and the mode
    base = RunSettings(pretrained="m.pt", pretrained_hash="a" * 64)
    assert base.experiment_id() != replace(base, pretrained_hash="b" * 64).experiment_id()
    assert base.experiment_id() != replace(base, finetune="frozen").experiment_id()


# --------------------------------------------------------------------------- 5. fine-tuning modes

SMALL = ModelConfig(n_variants=60)  # 3 blocks of 20, hidden 16


def test_set_trainable_counts_and_flags() -> None:
    counts = {}
    for mode in FINETUNE_MODES:
        model = build_model(SMALL, 0)
        counts[mode] = set_trainable(model, mode)
        names = trainable_names(model, mode)
        assert [n for n, p in model.named_parameters() if p.requires_grad] == names
        assert counts[mode] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in build_model(SMALL, 0).parameters())
    assert counts["full"] == total > counts["partial"] > counts["frozen"]
    assert counts["frozen"] == SMALL.hidden + 1
    assert counts["partial"] == (SMALL.n_blocks + SMALL.n_covariates + 1) * SMALL.hidden + SMALL.hidden + 1
    assert trainable_names(build_model(SMALL, 0), "frozen") == ["head.2.weight", "head.2.bias"]
    assert trainable_names(build_model(SMALL, 0), "partial") == [
        "head.0.weight",
        "head.0.bias",
        "head.2.weight",
        "head.2.bias",
    ]
    # a later, wider mode unfreezes again
    model = build_model(SMALL, 0)
    set_trainable(model, "frozen")
    assert set_trainable(model, "full") == total and all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="unknown fine-tuning mode"):
        trainable_names(model, "head")


def _random_data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, SMALL.n_variants + SMALL.n_covariates)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] + rng.normal(size=n) > 0).astype(np.int8)


@pytest.mark.parametrize("mode", FINETUNE_MODES)
def test_dp_fine_tuning_trains_only_its_parameters(mode, monkeypatch) -> None:
    from opacus.optimizers import (
        DPOptimizer,  # after genofed's quiet Opacus import (see common/model/network.py)
    )

    captured = {}

    class RecordingEngine(trainer_module.PrivacyEngine):
        def make_private(self, **kwargs):
            private = super().make_private(**kwargs)
            captured["optimizer"] = private[1]
            return private

    monkeypatch.setattr(trainer_module, "PrivacyEngine", RecordingEngine)
    model = build_model(SMALL, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    set_trainable(model, mode)
    trained = set(trainable_names(model, mode))
    x, y = _random_data()
    result = train_model(model, x, y, TrainSettings(epochs=1, batch_size=16), noise_multiplier=1.0, seed=3)
    assert result.history  # it was a DP run

    changed = {k for k in before if not torch.equal(before[k], result.state_dict[k])}
    assert changed == trained
    assert all(
        torch.equal(before[k], model.state_dict()[k]) for k in before if k not in trained
    )  # in place too

    optimizer = captured["optimizer"]
    assert isinstance(optimizer, DPOptimizer)
    params = dict(model.named_parameters())
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(params[name]) for name in trained}
    for name, param in params.items():  # frozen ones got neither a gradient nor per-example gradients
        if name not in trained:
            assert param.grad is None and getattr(param, "grad_sample", None) is None, name


@pytest.mark.parametrize("mode", FINETUNE_MODES)
def test_nonprivate_fine_tuning_trains_only_its_parameters(mode, monkeypatch) -> None:
    captured = []
    make_optimizer = trainer_module._optimizer
    monkeypatch.setattr(
        trainer_module, "_optimizer", lambda *a, **k: captured.append(make_optimizer(*a, **k)) or captured[-1]
    )
    model = build_model(SMALL, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    set_trainable(model, mode)
    trained = set(trainable_names(model, mode))
    x, y = _random_data()
    result = train_model(
        model, x, y, TrainSettings(epochs=2, batch_size=16, weight_decay=0.1), noise_multiplier=None, seed=3
    )
    changed = {k for k in before if not torch.equal(before[k], result.state_dict[k])}
    assert changed == trained
    params = dict(model.named_parameters())
    assert {id(p) for group in captured[0].param_groups for p in group["params"]} == {
        id(params[n]) for n in trained
    }


def test_training_a_model_with_nothing_trainable_is_an_error() -> None:
    model = build_model(SMALL, 0)
    for param in model.parameters():
        param.requires_grad_(False)
    x, y = _random_data()
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_model(model, x, y, TrainSettings(), noise_multiplier=1.0, seed=0)


def test_fedprox_with_a_frozen_encoder_leaves_it_unchanged() -> None:
    model = build_model(SMALL, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    anchor = {k: v + 1.0 for k, v in before.items()}  # a pull towards another point, for every parameter
    set_trainable(model, "partial")
    x, y = _random_data()
    result = train_model(
        model,
        x,
        y,
        TrainSettings(epochs=1, batch_size=16, proximal_mu=1.0),
        noise_multiplier=1.0,
        seed=1,
        anchor=anchor,
    )
    assert torch.equal(result.state_dict["blocks.weight"], before["blocks.weight"])
    assert torch.equal(result.state_dict["blocks.bias"], before["blocks.bias"])
    assert not torch.equal(result.state_dict["head.0.weight"], before["head.0.weight"])


# --------------------------------------------------------------------------- 6. disease start


def _fake_panel(n: int) -> VariantPanel:
    return VariantPanel([f"1:{1000 + 10 * i}:A:G" for i in range(n)], np.linspace(0.05, 0.5, n))


def _multiclass(config: ModelConfig) -> PretrainedModel:
    return PretrainedModel(
        build_model(config, 7).state_dict(),
        config,
        _fake_panel(config.n_variants),
        Task("multiclass", "superpopulation", ("AFR", "EAS", "EUR")),
        {"source": "hand-made"},
    )


def test_disease_start_uses_a_binary_model_as_it_is(near) -> None:
    _, model, _ = near
    config, weights = disease_start(model, seed=1)
    assert config == model.model_config
    assert set(weights) == set(model.state_dict)
    assert all(torch.equal(weights[k], model.state_dict[k]) for k in weights)
    weights["head.2.bias"].add_(1.0)  # a copy: the model itself is not changed
    assert not torch.equal(weights["head.2.bias"], model.state_dict["head.2.bias"])


def test_disease_start_replaces_a_multiclass_output_layer() -> None:
    source = _multiclass(ModelConfig(n_variants=60, n_outputs=3))
    config, weights = disease_start(source, seed=1)
    assert config == replace(source.model_config, n_outputs=1)
    for name in ("blocks.weight", "blocks.bias", "head.0.weight", "head.0.bias"):
        assert torch.equal(weights[name], source.state_dict[name]), name
    assert weights["head.2.weight"].shape == (1, config.hidden) and weights["head.2.bias"].shape == (1,)
    again, other_seed = disease_start(source, seed=1)[1], disease_start(source, seed=2)[1]
    assert torch.equal(again["head.2.weight"], weights["head.2.weight"])
    assert not torch.equal(other_seed["head.2.weight"], weights["head.2.weight"])
    assert torch.equal(weights["head.2.weight"], build_model(config, 1).state_dict()["head.2.weight"])
    net = build_model(config, 0)
    net.load_state_dict(weights)  # strict: exactly the disease network's parameters
    assert net(torch.randn(4, 62)).shape == (4,)
    assert source.state_dict["head.2.weight"].shape == (3, config.hidden)  # the source is left alone


def test_disease_start_of_a_multiclass_model_with_a_linear_path() -> None:
    source = _multiclass(ModelConfig(n_variants=60, n_outputs=3, linear_path=True))
    config, weights = disease_start(source, seed=1)
    assert weights["linear.weight"].shape == (1, 62)
    build_model(config, 0).load_state_dict(weights)


def test_a_multiclass_model_round_trips(tmp_path) -> None:
    source = _multiclass(ModelConfig(n_variants=60, n_outputs=3))
    digest = save_pretrained(tmp_path / "anc.pt", source)
    loaded = load_pretrained(tmp_path / "anc.pt", expected_hash=digest[:12])
    assert loaded.task == Task("multiclass", "superpopulation", ("AFR", "EAS", "EUR"))
    assert loaded.model_config.n_outputs == 3 and loaded.build()(torch.randn(2, 62)).shape == (2, 3)


# --------------------------------------------------------------------------- 7. multi-class pretraining


CLASS_NAMES = ("EUR", "AFR", "EAS")  # file order differs from the sorted output order


def _class_source(fed: Path, folder: Path, missing_row: int | None = None) -> tuple[Path, list[str]]:
    """A small multi-class source: elista's PLINK genotypes and a `group` column."""
    folder.mkdir(parents=True, exist_ok=True)
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(fed / "elista" / f"genotypes{ext}", folder / f"genotypes{ext}")
    samples = [line.split()[1] for line in (folder / "genotypes.fam").read_text().splitlines()]
    groups = [CLASS_NAMES[i % 3] for i in range(len(samples))]
    if missing_row is not None:
        groups[missing_row] = ""
    (folder / "phenotypes.csv").write_text(
        "sample_id,group,label\n"
        + "".join(f"{s},{g},{i % 2}\n" for i, (s, g) in enumerate(zip(samples, groups, strict=False)))
    )
    return folder, samples


def test_pretrain_multiclass(fed, panel, tmp_path) -> None:
    source, samples = _class_source(fed, tmp_path / "anc")
    out = tmp_path / "anc.pt"
    model, digest = pretrain(
        source, fed / "panel.tsv", out, PretrainSettings(task="multiclass", label="group", epochs=2)
    )
    assert model.task == Task("multiclass", "group", ("AFR", "EAS", "EUR"))
    assert model.model_config.n_outputs == 3 and model.model_config.n_variants == len(panel)
    assert model.state_dict["head.2.weight"].shape == (3, 16)
    assert model.provenance["samples"] == len(samples) == 60
    assert model.provenance["targets"] == "AFR 20, EAS 20, EUR 20"
    assert set(model.provenance["metrics"]["validation"]) == {"accuracy"}
    assert model.provenance["settings"]["task"] == "multiclass"
    loaded = load_pretrained(out, expected_hash=digest)
    assert loaded.task.classes == ("AFR", "EAS", "EUR")
    check_compatible(loaded, panel)
    config, weights = disease_start(loaded, seed=5)
    assert config.n_outputs == 1
    build_model(config, 0).load_state_dict(weights)


def test_pretrain_multiclass_refuses_a_sample_without_a_class(fed, tmp_path) -> None:
    source, samples = _class_source(fed, tmp_path / "anc", missing_row=4)
    out = tmp_path / "anc.pt"
    with pytest.raises(DataError, match="no class in column group") as refused:
        pretrain(source, fed / "panel.tsv", out, PretrainSettings(task="multiclass", label="group", epochs=1))
    assert refused.value.file == str(source / "phenotypes.csv")
    assert refused.value.location == f"line 6, sample {samples[4]}"  # header + 4 rows before it
    assert not out.exists()


def test_pretrain_refuses_a_single_class_and_bad_settings(fed, tmp_path) -> None:
    source, samples = _class_source(fed, tmp_path / "one")
    (source / "phenotypes.csv").write_text("sample_id,group\n" + "".join(f"{s},EUR\n" for s in samples))
    with pytest.raises(DataError, match="single class"):
        pretrain(
            source,
            fed / "panel.tsv",
            tmp_path / "one.pt",
            PretrainSettings(task="multiclass", label="group", epochs=1),
        )
    with pytest.raises(DataError, match="source cohort folder not found"):
        pretrain(tmp_path / "nowhere", fed / "panel.tsv", tmp_path / "x.pt", PretrainSettings(epochs=1))
    with pytest.raises(DataError, match="a file, not the source cohort's folder"):
        pretrain(fed / "panel.tsv", fed / "panel.tsv", tmp_path / "x.pt", PretrainSettings(epochs=1))
    with pytest.raises(GenofedError, match="task must be one of binary, multiclass"):
        PretrainSettings(task="regression")
    with pytest.raises(GenofedError, match="validation-fraction"):
        PretrainSettings(validation_fraction=0.5)


# --------------------------------------------------------------------------- 8. the CLI


def test_cli_pretrain_writes_prints_the_hash_and_will_not_overwrite(fed, tmp_path, capsys) -> None:
    out = tmp_path / "near.pt"
    args = [
        "pretrain",
        "--source",
        str(fed / "sources" / "near"),
        "--panel",
        str(fed / "panel.tsv"),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    printed = capsys.readouterr()
    first = load_pretrained(out)
    assert f"content hash: {first.content_hash}" in printed.out
    assert printed.err == ""  # --quiet
    assert first.provenance["settings"]["epochs"] == 2
    first_bytes = out.read_bytes()

    assert main(args) == 2
    refused = capsys.readouterr()
    assert "error:" in refused.err and "exists" in refused.err and "--force" in refused.err
    assert out.read_bytes() == first_bytes and load_pretrained(out).content_hash == first.content_hash

    # --force replaces it; the same seed trains the same weights (the provenance's time stamp differs)
    assert main([*args, "--force"]) == 0
    second = load_pretrained(out)
    assert f"content hash: {second.content_hash}" in capsys.readouterr().out
    assert all(torch.equal(second.state_dict[k], first.state_dict[k]) for k in first.state_dict)


def test_cli_pretrain_reports_a_bad_source_without_a_traceback(fed, tmp_path, capsys) -> None:
    out = tmp_path / "m.pt"
    code = main(
        [
            "pretrain",
            "--source",
            str(tmp_path / "nowhere"),
            "--panel",
            str(fed / "panel.tsv"),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2 and "error:" in err and "source cohort folder not found" in err and "Traceback" not in err
    )
    assert not out.exists()


# --------------------------------------------------------------------------- inspect-model


def test_inspect_model_verifies_and_describes(near, fed, other_panel_model, capsys) -> None:
    path, model, digest = near
    assert main(["inspect-model", str(path), "--panel", str(fed / "panel.tsv"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["content_hash"] == digest and info["task"]["kind"] == "binary"
    assert info["provenance"]["samples"] == model.provenance["samples"]
    assert main(["inspect-model", str(other_panel_model), "--panel", str(fed / "panel.tsv")]) == 2
    assert "panel of 100 variants" in capsys.readouterr().err
    assert main(["inspect-model", str(path), "--expect-hash", "0" * 16]) == 2


# --------------------------------------------------------------------------- 9. a logistic source model


@pytest.fixture(scope="module")
def near_logistic(fed, tmp_path_factory) -> tuple[Path, PretrainedModel, str]:
    """(file, model, content hash) of a logistic model solved on sources/near."""
    path = tmp_path_factory.mktemp("models") / "near-logistic.pt"
    model, digest = pretrain(
        fed / "sources" / "near", fed / "panel.tsv", path, PretrainSettings(model="logistic")
    )
    return path, model, digest


def test_pretrain_logistic_writes_the_same_kind_of_file(near_logistic, fed, panel) -> None:
    path, model, digest = near_logistic
    loaded = load_pretrained(path, expected_hash=digest)
    assert loaded.model_config == ModelConfig(n_variants=len(panel), architecture="logistic")
    assert set(loaded.state_dict) == {"linear.weight", "linear.bias", "scale"}
    assert torch.equal(loaded.state_dict["scale"], torch.ones(len(panel) + 2))  # a source: no column scale
    assert loaded.state_dict["linear.weight"].shape == (1, len(panel) + 2)
    assert all(torch.equal(loaded.state_dict[k], model.state_dict[k]) for k in model.state_dict)
    check_compatible(loaded, panel)
    prov = loaded.provenance
    assert prov["settings"]["model"] == "logistic" and prov["samples"] == 1000
    assert prov["files"]["genotypes"]["sha256"] == _sha256(fed / "sources" / "near" / "genotypes.bed")
    description = describe(loaded)
    assert description["architecture"] == "logistic" and description["content_hash"] == digest


def test_pretrain_logistic_keeps_the_best_l2_strength_on_validation(near_logistic) -> None:
    _, model, _ = near_logistic
    metrics = model.provenance["metrics"]
    history = metrics["history"]
    strengths = [h["l2"] for h in history]
    assert strengths == list(L2_GRID[: len(history)]) and len(history) >= 2
    assert all(h["iterations"] >= 1 for h in history)
    aucs = [h["auc"] for h in history]
    assert metrics["best_epoch"] == 1 + int(np.argmax(aucs))
    assert metrics["best_l2"] == strengths[metrics["best_epoch"] - 1]
    assert metrics["validation"]["auc"] == max(aucs) > 0.6  # the source trait is learnable
    # weaker penalties fit the training rows better: the path is solved, not sampled
    losses = [h["train_loss"] for h in history]
    assert all(a >= b for a, b in zip(losses, losses[1:], strict=False))


def test_pretrain_logistic_with_a_fixed_l2_solves_once_and_is_deterministic(fed, tmp_path) -> None:
    settings = PretrainSettings(model="logistic", l2=0.01, max_iter=30)
    first, _ = pretrain(fed / "sources" / "near", fed / "panel.tsv", tmp_path / "a.pt", settings)
    second, _ = pretrain(fed / "sources" / "near", fed / "panel.tsv", tmp_path / "b.pt", settings)
    assert [h["l2"] for h in first.provenance["metrics"]["history"]] == [0.01]
    assert first.provenance["metrics"]["history"][0]["iterations"] <= 30
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)


def test_disease_start_uses_a_binary_logistic_model_as_it_is(near_logistic) -> None:
    _, model, _ = near_logistic
    config, weights = disease_start(model, seed=3)
    assert config == model.model_config and config.architecture == "logistic"
    assert all(torch.equal(weights[k], model.state_dict[k]) for k in model.state_dict)


def test_pretrain_logistic_multiclass_and_its_zero_disease_start(fed, panel, tmp_path) -> None:
    source, _ = _class_source(fed, tmp_path / "anc")
    settings = PretrainSettings(task="multiclass", label="group", model="logistic", max_iter=20)
    model, digest = pretrain(source, fed / "panel.tsv", tmp_path / "anc.pt", settings)
    assert model.model_config.architecture == "logistic" and model.model_config.n_outputs == 3
    assert model.state_dict["linear.weight"].shape == (3, len(panel) + 2)
    assert set(model.provenance["metrics"]["validation"]) == {"accuracy"}
    config, weights = disease_start(load_pretrained(tmp_path / "anc.pt", expected_hash=digest), seed=5)
    assert config == ModelConfig(n_variants=len(panel), architecture="logistic")
    assert weights["linear.weight"].shape == (1, len(panel) + 2)
    # a fresh linear model: zeros (and no column scale)
    assert all(float(weights[k].abs().sum()) == 0.0 for k in ("linear.weight", "linear.bias"))
    build_model(config, 0).load_state_dict(weights)


def test_pretrain_settings_refuse_an_unknown_model_or_a_negative_l2() -> None:
    with pytest.raises(GenofedError, match="model must be one of network, logistic"):
        PretrainSettings(model="forest")
    with pytest.raises(GenofedError, match="l2 must be >= 0"):
        PretrainSettings(model="logistic", l2=-1.0)
    assert PretrainSettings().model == "network"  # the transfer experiment's model is unchanged
    assert PretrainSettings(l2=0.5).l2_path == (0.5,) and PretrainSettings().l2_path == L2_GRID


def test_cli_pretrain_logistic(fed, tmp_path, capsys) -> None:
    out = tmp_path / "near-logistic.pt"
    args = ["pretrain", "--model", "logistic", "--l2", "0.01", "--max-iter", "25", "--quiet"]
    paths = ["--source", str(fed / "sources" / "near"), "--panel", str(fed / "panel.tsv"), "--out", str(out)]
    assert main([*args, *paths]) == 0
    printed = capsys.readouterr().out
    model = load_pretrained(out)
    assert model.model_config.architecture == "logistic"
    assert model.provenance["settings"]["l2"] == 0.01 and model.provenance["settings"]["max_iter"] == 25
    assert "best L2 strength 0.01" in printed and f"content hash: {model.content_hash}" in printed
    assert "--prior" in printed


def test_pretrain_refuses_a_folder_as_out_before_training(fed, tmp_path, monkeypatch, capsys) -> None:
    """`--out` a folder, even with --force, is refused in one line before any training (it used to
    train, then fail at the final rename)."""
    from genofed.server.pretraining import train as train_module

    def must_not_train(*_args, **_kwargs):
        raise AssertionError("pretrain trained before refusing --out")

    monkeypatch.setattr(train_module, "pretrain", must_not_train)
    folder = tmp_path / "models"
    folder.mkdir()
    source = fed / "sources" / "near"
    code = main(
        [
            "pretrain",
            "--source",
            str(source),
            "--panel",
            str(fed / "panel.tsv"),
            "--out",
            str(folder),
            "--force",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "is a folder" in err and "Traceback" not in err

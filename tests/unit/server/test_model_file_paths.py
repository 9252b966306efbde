"""The model file is what a run shares with hospitals and clinicians, so its provenance names the
coordinator's files and folders by their last name only (`genofed.server.results.shared_settings`):
where the exports lie or whose home folder the run was in is no part of how the model was trained.
results.json, which stays with the run, keeps the paths."""

from __future__ import annotations

import json
from dataclasses import fields
from types import SimpleNamespace

from helpers.model_files import model_file

from genofed.common.scoring.model_file import load_model_file, save_model_file
from genofed.server.results import PATH_SETTINGS, final_model_file, shared_settings
from genofed.server.round_log import RoundLog
from genofed.server.settings import RunSettings

PRIVATE = "/home/ivanov/patients-rostov-2026"


def _settings() -> RunSettings:
    return RunSettings(
        data_dir=f"{PRIVATE}/exports",
        out_dir=f"{PRIVATE}/runs/first",
        panel=f"{PRIVATE}/exports/panel.tsv",
        test_dir=f"{PRIVATE}/test",
        ledger_dir=f"{PRIVATE}/ledgers",
        pretrained=f"{PRIVATE}/near.pt",
        gene_prior=f"{PRIVATE}/genes.bed",
    )


def test_every_path_setting_is_named_by_its_last_name_only():
    settings = _settings()
    shared = shared_settings(settings)
    assert (
        shared["out-dir"] == "first"
        and shared["panel"] == "panel.tsv"
        and shared["gene-prior"] == "genes.bed"
    )
    assert PRIVATE not in json.dumps(shared)
    # everything else as results.json's config has it, and no path setting of RunSettings is missed
    full = settings.to_config()
    assert {k: v for k, v in shared.items() if k not in PATH_SETTINGS} == {
        k: v for k, v in full.items() if k not in PATH_SETTINGS
    }
    text_settings = {f.name.replace("_", "-") for f in fields(RunSettings) if f.type in ("str", str)}
    path_like = {name for name in text_settings if name.endswith("-dir") or name in {"panel", "prior"}}
    assert path_like <= PATH_SETTINGS <= set(full)


def _federation(model) -> SimpleNamespace:
    """What `final_model_file` reads of a finished federation, for `model`, without a test cohort."""
    return SimpleNamespace(
        test=None,
        model_config=model.model_config,
        state_dict=model.state_dict,
        settings=_settings(),
        log=RoundLog({}),
        plan_id="plan",
        rounds=[{"round": 1}],
        sites={"a": {"train": 40, "validation": 10}},
        test_metrics=None,
        pretrained=None,
        panel=model.panel,
        ended_early=None,
    )


def test_the_written_model_file_holds_no_coordinator_path(tmp_path):
    model = model_file()
    fed = _federation(model)
    written = final_model_file(fed, fed.panel, {"operating_point": {}, "epsilon": {}})
    save_model_file(tmp_path / "model.pt", written)
    loaded = load_model_file(tmp_path / "model.pt")
    assert loaded.provenance["source"] == "federated run in folder 'first'"
    assert loaded.provenance["settings"]["data-dir"] == "exports"
    assert PRIVATE not in json.dumps([loaded.provenance, loaded.operating, loaded.validated_on], default=str)


def test_the_model_file_records_the_prevalence_its_report_gives_ppv_at(tmp_path):
    """`genofed predict` carries the threshold's test-cohort figures to it (the run's --prevalence
    setting, else a simulated disease's from the federation folder's truth.json; none when neither)."""
    model = model_file()
    data = tmp_path / "federation"
    data.mkdir()

    def written(results):
        fed = _federation(model)
        save_model_file(tmp_path / "model.pt", final_model_file(fed, fed.panel, results))
        return load_model_file(tmp_path / "model.pt").provenance["prevalence"]

    base = {"operating_point": {}, "epsilon": {}}
    assert written({**base, "config": {"data-dir": str(data)}}) is None
    (data / "truth.json").write_text(json.dumps({"prevalence_target": 0.015}))
    assert written({**base, "config": {"data-dir": str(data)}}) == {
        "value": 0.015,
        "source": "the simulated disease's population prevalence (truth.json)",
    }
    assert written({**base, "config": {"data-dir": str(data), "prevalence": 0.002}}) == {
        "value": 0.002,
        "source": "the run's --prevalence setting",
    }
